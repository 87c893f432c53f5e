import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { ProblemException } from '@elo/platform';
import { FailuresQuery, ListMessagesQuery, MessageIdParam, StatsQuery } from './dto/message-query.dto';
import { FailuresView, MessageDetailView, MessagePageView, StatsView } from './dto/message-view.dto';
import { MessageQueryService } from './message-query.service';


/** Operators' reads: one message with its timeline, lists, counts for charts, the failures board. */
@ApiTags('messages')
@ApiBearerAuth()
@Controller()
export class MessagesController {
  constructor(private readonly queries: MessageQueryService) {}

  @Get('messages/:id')
  @RequirePermission('dashboard:read')
  @ApiOperation({ summary: 'A message: current status, failure details and the full timeline (provider time order)' })
  @ApiOkResponse({ type: MessageDetailView })
  async get(@CurrentPrincipal() p: Principal, @Param() params: MessageIdParam): Promise<MessageDetailView> {
    const found = await this.queries.get(tenantIdOf(p), params.id);
    if (!found) throw new ProblemException(404, `no message ${params.id}`);
    return found;
  }

  @Get('messages')
  @RequirePermission('dashboard:read')
  @ApiOperation({ summary: 'Messages, newest first, filtered by status, channel, conversation and time range' })
  @ApiOkResponse({ type: MessagePageView })
  list(@CurrentPrincipal() p: Principal, @Query() q: ListMessagesQuery): Promise<MessagePageView> {
    return this.queries.list(tenantIdOf(p), q);
  }

  @Get('stats')
  @RequirePermission('dashboard:read')
  @ApiOperation({ summary: 'Counts per status and channel, and status moves per time bucket' })
  @ApiOkResponse({ type: StatsView })
  stats(@CurrentPrincipal() p: Principal, @Query() q: StatsQuery): Promise<StatsView> {
    return this.queries.stats(tenantIdOf(p), q);
  }

  @Get('failures')
  @RequirePermission('dashboard:read')
  @ApiOperation({ summary: 'Failures grouped by classified reason (and integration failures), with the latest examples' })
  @ApiOkResponse({ type: FailuresView })
  failures(@CurrentPrincipal() p: Principal, @Query() q: FailuresQuery): Promise<FailuresView> {
    return this.queries.failures(tenantIdOf(p), q);
  }
}
