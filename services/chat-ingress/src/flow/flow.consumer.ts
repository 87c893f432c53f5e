import { Injectable } from '@nestjs/common';
import type { ChatMessageReceived, CloudEvent, IntegrationDeliveryOutcome, ViabilityChecked } from '@elo/contracts';
import { EventHandler, type HandlerContext } from '@elo/messaging';
import { runWithCorrelationId } from '@elo/observability';
import { FlowEngine } from './flow-engine.service';

/**
 * The bot answers from the bus: chat-ingress consumes its own chat.message.received, so the webhook
 * path stays one short transaction and the bot runs with the inbox's exactly-once effects.
 */
@Injectable()
export class FlowConsumer {
  constructor(private readonly engine: FlowEngine) {}

  /**
   * Batch handler: every received message on the service's queue arrives here, and most belong to
   * tenants without a flow or to conversations with humans — one savepoint for the whole batch keeps
   * that cheap. Messages are handled in provider-time order; if the batch throws, the host retries the
   * events one by one. Ordered: a conversation's messages reach the bot in the order they were received,
   * with several replicas running too (one replica at a time consumes them, see EventHandlerOptions.ordered).
   */
  @EventHandler('chat.message.received', { batch: true, ordered: true })
  async onReceived(events: CloudEvent<ChatMessageReceived>[], ctx: HandlerContext): Promise<void> {
    const sorted = [...events].sort((a, b) => a.data.providerTimestamp.localeCompare(b.data.providerTimestamp));
    for (const event of sorted) {
      if (event.data.message.kind === 'unsupported' && event.data.message.providerType === 'invalid') continue;
      if (event.data.message.edited) continue; // an edit of an earlier message answers nothing (the step already took the original)
      // Messenger's standby channel: another app (a person in the Page Inbox) owns the thread; the bot would talk over them.
      if (event.data.message.standby) continue;
      // A reaction (a 👍 on the bot's message) is no answer: "didn't understand" and the question again would be.
      if (event.data.message.kind === 'unsupported' && event.data.message.providerType === 'reaction') continue;
      // A call may hold several webhooks' messages: each is answered in its own request's correlation id, so the
      // engine's logs and the events it publishes carry that one on.
      const answer = () => this.engine.onMessage(ctx.manager, event.tenantid, event.data, (...s) => ctx.publish(...s));
      await (event.correlationid ? runWithCorrelationId(event.correlationid, answer) : answer());
    }
  }

  @EventHandler('integration.delivery.succeeded')
  async onIntegrationSucceeded(event: CloudEvent<IntegrationDeliveryOutcome>, ctx: HandlerContext): Promise<void> {
    await this.engine.onIntegrationOutcome(ctx.manager, event.tenantid, { ...event.data, outcome: 'succeeded' }, (...s) => ctx.publish(...s));
  }

  @EventHandler('integration.delivery.failed')
  async onIntegrationFailed(event: CloudEvent<IntegrationDeliveryOutcome>, ctx: HandlerContext): Promise<void> {
    await this.engine.onIntegrationOutcome(ctx.manager, event.tenantid, { ...event.data, outcome: 'failed' }, (...s) => ctx.publish(...s));
  }

  @EventHandler('viability.checked')
  async onViability(event: CloudEvent<ViabilityChecked>, ctx: HandlerContext): Promise<void> {
    await this.engine.onViability(ctx.manager, event.tenantid, event.data, (...s) => ctx.publish(...s));
  }
}
