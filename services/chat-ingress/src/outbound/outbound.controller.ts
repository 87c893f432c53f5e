import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal as AuthPrincipal } from '@elo/auth';
import { Outbox, type PublishSpecLike } from '@elo/messaging';
import { ProblemException } from '@elo/platform';
import { DataSource } from 'typeorm';
import { SendMessageDto } from './dto/send-message.dto';
import { OutboundRefused, OutboundService } from './outbound.service';

type Principal = AuthPrincipal;

@ApiTags('messages')
@Controller('messages')
export class OutboundController {
  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
    private readonly outbound: OutboundService,
  ) {}

  @Post()
  @HttpCode(202)
  @RequirePermission('messages:send')
  @ApiOperation({ summary: 'Queue a text, template, media or location message to a conversation or a contact; 202 with its id. Outcome: chat.message.sent or chat.message.status failed.' })
  async send(@CurrentPrincipal() p: Principal, @Body() dto: SendMessageDto): Promise<{ messageId: string; status: string; channelId: string; conversationId?: string }> {
    const tenantId = tenantIdOf(p);
    try {
      const r = await this.ds.transaction(async (m) => {
        const q = await this.outbound.enqueue(m, tenantId, { ...dto }, true, { refuseClosedBusinessChat: true });
        await this.outbox.publish(m, ...(q.events as Parameters<Outbox['publish']>[1][]));
        return q;
      });
      this.outbound.nudge();
      return { messageId: r.messageId, status: r.duplicate ? 'duplicate' : 'queued', channelId: r.channelId, ...(r.conversationId ? { conversationId: r.conversationId } : {}) };
    } catch (err) {
      if (err instanceof OutboundRefused) throw new ProblemException(err.httpStatus, err.message, { reason: err.reason });
      throw err;
    }
  }
}

export type { PublishSpecLike };
