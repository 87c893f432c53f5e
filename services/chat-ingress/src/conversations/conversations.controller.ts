import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put, Query, UsePipes, ParseUUIDPipe } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal as AuthPrincipal } from '@elo/auth';
import { Outbox, type PublishSpecLike } from '@elo/messaging';
import { ProblemException, StorableInput } from '@elo/platform';
import { DataSource, type EntityManager } from 'typeorm';
import { AssignDto, CloseDto, ContactAttributesDto, ListConversationsQuery, QueueAgentDto, TransferDto } from './dto/conversation.dto';
import { OutboundRefused } from '../outbound/outbound.service';
import { ConversationsService } from './conversations.service';

type Principal = AuthPrincipal;
const S = '"chat_ingress"';

@ApiTags('conversations')
@Controller()
// Queue names, agent ids and names, reasons, contact names and attributes with U+0000 or a lone surrogate are kept (and
// looked up) with U+FFFD in their place, as channel settings keep a queue name (PostgreSQL refuses them: a 500).
@UsePipes(StorableInput)
export class ConversationsController {
  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
    private readonly conversations: ConversationsService,
  ) {}

  /**
   * The move and its notices in one transaction. A notice the channel refuses (disabled since) undoes the
   * move and is answered as POST /messages answers it (409 channel_disabled …), not as a 500.
   */
  private async tx<T>(fn: (m: EntityManager, publish: (...s: PublishSpecLike[]) => Promise<void>) => Promise<T>): Promise<T> {
    try {
      return await this.ds.transaction(async (m) => {
        const publish = async (...specs: PublishSpecLike[]) => {
          if (specs.length) await this.outbox.publish(m, ...(specs as Parameters<Outbox['publish']>[1][]));
        };
        return fn(m, publish);
      });
    } catch (err) {
      if (err instanceof OutboundRefused) throw new ProblemException(err.httpStatus, err.message, { reason: err.reason });
      throw err;
    }
  }

  @Get('conversations')
  @RequirePermission('messages:send')
  list(@CurrentPrincipal() p: Principal, @Query() q: ListConversationsQuery) {
    return this.conversations.list(this.ds.manager, tenantIdOf(p), q);
  }

  @Get('conversations/:id')
  @RequirePermission('messages:send')
  get(@CurrentPrincipal() p: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.conversations.view(this.ds.manager, tenantIdOf(p), id);
  }

  @Post('conversations/:id/transfer')
  @HttpCode(200)
  @RequirePermission('messages:send')
  @ApiOperation({ summary: 'Move the conversation to a queue (human attendance or another department); notices as the channel is configured.' })
  async transfer(@CurrentPrincipal() p: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() dto: TransferDto) {
    const tenantId = tenantIdOf(p);
    await this.tx(async (m, publish) => this.conversations.transfer(m, await this.conversations.lock(m, tenantId, id), dto, publish));
    return this.conversations.view(this.ds.manager, tenantId, id);
  }

  @Post('conversations/:id/assign')
  @HttpCode(200)
  @RequirePermission('messages:send')
  @ApiOperation({ summary: 'An agent picks the conversation up; sends the pickup notice as configured.' })
  async assign(@CurrentPrincipal() p: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() dto: AssignDto) {
    const tenantId = tenantIdOf(p);
    await this.tx(async (m, publish) => this.conversations.assign(m, await this.conversations.lock(m, tenantId, id), dto.agentId, dto.agentName, publish));
    return this.conversations.view(this.ds.manager, tenantId, id);
  }

  @Post('conversations/:id/close')
  @HttpCode(200)
  @RequirePermission('messages:send')
  @ApiOperation({ summary: 'Close the conversation; sends the channel\'s closing message.' })
  async close(@CurrentPrincipal() p: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() dto: CloseDto) {
    const tenantId = tenantIdOf(p);
    await this.tx(async (m, publish) => this.conversations.close(m, await this.conversations.lock(m, tenantId, id), dto.reason ?? 'agent', publish));
    return this.conversations.view(this.ds.manager, tenantId, id);
  }

  @Patch('contacts/:id')
  @RequirePermission('messages:send')
  @ApiOperation({ summary: 'Set contact attributes (name, email, cpf, cnpj, address, custom); they travel in later events.' })
  setAttributes(@CurrentPrincipal() p: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() dto: ContactAttributesDto) {
    return this.tx((m) => this.conversations.setAttributes(m, tenantIdOf(p), id, dto.name, dto.attributes));
  }

  @Get('queues/:queue/agents')
  @RequirePermission('messages:send')
  async agents(@CurrentPrincipal() p: Principal, @Param('queue') queue: string) {
    const rows = await this.ds.query(`SELECT agent_id, agent_name FROM ${S}.queue_agents WHERE tenant_id = $1 AND queue = $2 ORDER BY agent_id`, [tenantIdOf(p), queue]);
    return rows.map((r: { agent_id: string; agent_name: string | null }) => ({ agentId: r.agent_id, agentName: r.agent_name ?? undefined }));
  }

  @Put('queues/:queue/agents')
  @RequirePermission('channels:manage')
  @ApiOperation({ summary: 'Assign an agent to a queue.' })
  async addAgent(@CurrentPrincipal() p: Principal, @Param('queue') queue: string, @Body() dto: QueueAgentDto) {
    await this.ds.query(
      `INSERT INTO ${S}.queue_agents (tenant_id, queue, agent_id, agent_name) VALUES ($1,$2,$3,$4)
       ON CONFLICT (tenant_id, queue, agent_id) DO UPDATE SET agent_name = EXCLUDED.agent_name`, [tenantIdOf(p), queue, dto.agentId, dto.agentName ?? null]);
    return this.agents(p, queue);
  }

  @Delete('queues/:queue/agents/:agentId')
  @RequirePermission('channels:manage')
  async removeAgent(@CurrentPrincipal() p: Principal, @Param('queue') queue: string, @Param('agentId') agentId: string) {
    await this.ds.query(`DELETE FROM ${S}.queue_agents WHERE tenant_id = $1 AND queue = $2 AND agent_id = $3`, [tenantIdOf(p), queue, agentId]);
    return this.agents(p, queue);
  }
}
