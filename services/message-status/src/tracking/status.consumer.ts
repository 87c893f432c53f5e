import { Injectable } from '@nestjs/common';
import type {
  ChatMessageSendRequested, ChatMessageSent, ChatMessageStatus, CloudEvent, IntegrationDeliveryFailed, IntegrationDeliverySucceeded,
} from '@elo/contracts';
import { EventHandler, type HandlerContext, type PublishSpecLike } from '@elo/messaging';
import { storableString } from '@elo/persistence';
import { TrackingService, type ProviderStatusInput, type StatusChange, type StatusInput } from './tracking.service';

/**
 * Bus handlers. All of them take whole batches: a batch of status events costs a handful of SQL
 * statements whatever its size.
 */
@Injectable()
export class StatusConsumer {
  constructor(private readonly tracking: TrackingService) {}

  /**
   * The three message event types in one call per batch: the tracking service then locks every message
   * the batch touches in one ordered statement (separate handlers would lock one after the other, and
   * two batches in flight could take the same rows in opposite orders).
   * Idempotent, so no inbox row: every effect is keyed by the facts themselves. A message is created
   * only if absent (and `queued` announced only then), a timeline entry is unique by message, status and
   * provider timestamp, and the status only moves forward (failed is sticky) from the locked row, so an
   * event handled again, at any time and in any order, moves nothing and publishes nothing. A status
   * waiting for its message may wait twice; both copies are one timeline entry once linked.
   */
  @EventHandler(['chat.message.send.requested', 'chat.message.sent', 'chat.message.status'], { batch: true, idempotent: true })
  async onMessageEvents(events: CloudEvent[], ctx: HandlerContext): Promise<void> {
    const byId: StatusInput[] = [];
    const byProviderId: ProviderStatusInput[] = [];
    for (const e of events) {
      if (e.type === 'chat.message.send.requested') byId.push(fromSendRequested(e as CloudEvent<ChatMessageSendRequested>));
      else if (e.type === 'chat.message.sent') byId.push(fromSent(e as CloudEvent<ChatMessageSent>));
      else {
        const { status, messageId } = fromStatus(e as CloudEvent<ChatMessageStatus>);
        if (messageId) byId.push({ ...status, messageId });
        else if (status.providerMessageId) byProviderId.push(status as ProviderStatusInput);
        // Neither id: nothing to attach it to (the contract allows it; chat-ingress never sends it).
      }
    }
    await this.finish(ctx, events, await this.tracking.applyBatch(ctx.manager, byId, byProviderId));
  }

  @EventHandler('integration.delivery.failed', { batch: true })
  async onIntegrationFailed(events: CloudEvent<IntegrationDeliveryFailed>[], ctx: HandlerContext): Promise<void> {
    const changes = await this.tracking.recordIntegrationFailures(
      ctx.manager,
      events.map((e) => ({
        tenantId: e.tenantid,
        deliveryId: e.data.deliveryId,
        integrationId: e.data.integrationId,
        integrationName: storableString(e.data.integrationName),
        eventType: storableString(e.data.eventType),
        conversationId: e.data.conversationId ?? null,
        httpStatus: e.data.httpStatus ?? null,
        errorClass: text(e.data.errorClass),
        error: text(e.data.error),
        attempts: e.data.attempts,
        at: new Date(e.time ?? Date.now()),
      })),
    );
    this.tracking.notify(ctx.manager, changes);
  }

  /**
   * A resend that succeeded resolves the delivery's failure (the dispatcher keeps the delivery's id across resends), and
   * one with failed attempts before it is kept for a failure handled after it. Idempotent: a success resolves a failure
   * once, one no later than it changes nothing, and the kept success is the delivery's latest.
   */
  @EventHandler('integration.delivery.succeeded', { batch: true, idempotent: true })
  async onIntegrationSucceeded(events: CloudEvent<IntegrationDeliverySucceeded>[], ctx: HandlerContext): Promise<void> {
    const changes = await this.tracking.resolveIntegrationFailures(
      ctx.manager,
      events.map((e) => ({ tenantId: e.tenantid, deliveryId: e.data.deliveryId, at: new Date(e.time ?? Date.now()), attempts: e.data.attempts })),
    );
    this.tracking.notify(ctx.manager, changes);
  }

  /**
   * The changes are already announced to live streams (by the statement that made them); publishes them, each in the
   * correlation id of the event behind it (a batch mixes requests' events).
   */
  private async finish(ctx: HandlerContext, events: CloudEvent[], changes: StatusChange[]): Promise<void> {
    if (changes.length === 0) return;
    const correlation = new Map<string, string>();
    for (const e of events) if (e.correlationid) correlation.set(e.id, e.correlationid);
    await ctx.publish(...toEvents(changes, correlation));
  }
}

/**
 * Free text from outside (a provider's ids and error texts, an endpoint's error) as PostgreSQL text can hold
 * it: U+0000 and lone surrogates as U+FFFD. Either one failed the batch's write, and after the retries the
 * event was parked: the status, or the failure, lost.
 */
const text = (s: string | null | undefined): string | null => (s === undefined || s === null ? null : storableString(s));

function fromSendRequested(e: CloudEvent<ChatMessageSendRequested>): StatusInput {
  return {
    tenantId: e.tenantid,
    messageId: e.data.messageId,
    channelId: e.data.channelId ?? null,
    conversationId: e.data.conversationId ?? null,
    status: 'queued',
    at: new Date(e.time ?? Date.now()),
    source: 'send.requested',
    eventId: e.id,
  };
}

function fromSent(e: CloudEvent<ChatMessageSent>): StatusInput {
  return {
    tenantId: e.tenantid,
    messageId: e.data.messageId,
    channelId: e.data.channelId,
    provider: e.data.provider,
    conversationId: e.data.conversationId ?? null,
    providerMessageId: storableString(e.data.providerMessageId),
    status: 'sent',
    at: new Date(e.data.sentAt),
    source: 'sent',
    eventId: e.id,
  };
}

/** A provider status, and Elo's message id when it carries one. */
function fromStatus(e: CloudEvent<ChatMessageStatus>): { status: Omit<StatusInput, 'messageId'>; messageId?: string } {
  const d = e.data;
  return {
    messageId: d.messageId,
    status: {
      tenantId: e.tenantid,
      channelId: d.channelId,
      provider: d.provider,
      providerMessageId: text(d.providerMessageId),
      status: d.status,
      at: new Date(d.providerTimestamp),
      source: 'status',
      errorCode: text(d.error?.code),
      errorTitle: text(d.error?.title),
      errorDetails: text(d.error?.details),
      reason: text(d.reason),
      eventId: e.id,
    },
  };
}

/**
 * `message.status.changed` for every move, plus `message.failed` for failures; each in the correlation id of the first
 * event behind it that `correlation` (event id → correlation id) knows, or the caller's.
 */
export function toEvents(changes: StatusChange[], correlation?: ReadonlyMap<string, string>): PublishSpecLike[] {
  const specs: PublishSpecLike[] = [];
  for (const c of changes) {
    const correlationId = correlation && c.causes?.map((id) => correlation.get(id)).find((x) => x !== undefined);
    // Built field by field (absent optional fields left out), in the order the payloads list them.
    const data: Record<string, unknown> = { messageId: c.messageId };
    if (c.channelId) data.channelId = c.channelId;
    if (c.provider) data.provider = c.provider;
    if (c.conversationId) data.conversationId = c.conversationId;
    const failed: Record<string, unknown> | undefined = c.status === 'failed' ? { ...data } : undefined;
    if (c.previousStatus) data.previousStatus = c.previousStatus;
    data.status = c.status;
    data.at = c.at;
    specs.push({ type: 'message.status.changed', tenantId: c.tenantId, subject: c.messageId, data, correlationId });
    if (failed) {
      failed.reason = c.reason ?? 'unknown';
      failed.retryable = c.retryable ?? false;
      if (c.errorCode) {
        const error: Record<string, string> = { code: c.errorCode };
        if (c.errorTitle) error.title = c.errorTitle;
        if (c.errorDetails) error.details = c.errorDetails;
        failed.error = error;
      }
      failed.at = c.at;
      specs.push({ type: 'message.failed', tenantId: c.tenantId, subject: c.messageId, data: failed, correlationId });
    }
  }
  return specs;
}
