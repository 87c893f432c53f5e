import { Injectable } from '@nestjs/common';
import type { ChatMessageSendRequested, CloudEvent } from '@elo/contracts';
import { EventHandler, type HandlerContext } from '@elo/messaging';
import { OutboundRefused, OutboundService } from './outbound.service';

@Injectable()
export class OutboundConsumer {
  constructor(private readonly outbound: OutboundService) {}

  /** Another service asks for a send: queue it (a repeat of a known messageId changes nothing). */
  @EventHandler('chat.message.send.requested')
  async onSendRequested(event: CloudEvent<ChatMessageSendRequested>, ctx: HandlerContext): Promise<void> {
    const spec = { ...event.data };
    try {
      await this.outbound.enqueue(ctx.manager, event.tenantid, spec, false);
      this.outbound.nudge();
    } catch (err) {
      if (!(err instanceof OutboundRefused)) throw err;
      await ctx.publish(...(await this.outbound.recordRefusal(ctx.manager, event.tenantid, spec, err)));
    }
  }
}
