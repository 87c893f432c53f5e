import { Injectable } from '@nestjs/common';
import type { CloudEvent, ConversationTransferRequested } from '@elo/contracts';
import { EventHandler, type HandlerContext } from '@elo/messaging';
import { createLogger } from '@elo/observability';
import { OutboundRefused } from '../outbound/outbound.service';
import { ConversationsService } from './conversations.service';

@Injectable()
export class ConversationsConsumer {
  private readonly logger = createLogger('chat-ingress').child({ component: 'conversations' });

  constructor(private readonly conversations: ConversationsService) {}

  /**
   * Another service moves a conversation (to `toQueue`, or the channel's human queue when absent); unknown or
   * closed conversations are logged and skipped.
   */
  @EventHandler('chat.conversation.transfer.requested')
  async onTransferRequested(event: CloudEvent<ConversationTransferRequested>, ctx: HandlerContext): Promise<void> {
    // The move and its notices, or nothing (as the API does): a notice the channel refuses undoes the move.
    await ctx.manager.query('SAVEPOINT transfer_requested');
    try {
      const c = await this.conversations.lock(ctx.manager, event.tenantid, event.data.conversationId);
      if (c.status !== 'open') {
        this.logger.warn({ conversationId: c.id }, 'transfer requested for a closed conversation; skipped');
        return;
      }
      await this.conversations.transfer(ctx.manager, c, { queue: event.data.toQueue, agentId: event.data.agentId, reason: 'requested' }, (...s) => ctx.publish(...s));
    } catch (err) {
      if (err instanceof OutboundRefused) {
        // The channel was disabled: retrying cannot help until it is enabled, and then the request may be stale.
        await ctx.manager.query('ROLLBACK TO SAVEPOINT transfer_requested');
        this.logger.warn({ conversationId: event.data.conversationId, reason: err.reason }, 'transfer requested on a channel that refuses its notices; skipped');
        return;
      }
      const status = (err as { getStatus?: () => number }).getStatus?.();
      if (status === 404) {
        this.logger.warn({ conversationId: event.data.conversationId }, 'transfer requested for an unknown conversation; skipped');
        return;
      }
      if (status === 422) {
        // No queue named and none configured, or an agent the queue does not list: retrying cannot help.
        this.logger.warn({ conversationId: event.data.conversationId, err: (err as Error).message }, 'transfer requested that cannot be made; skipped');
        return;
      }
      throw err;
    }
  }
}
