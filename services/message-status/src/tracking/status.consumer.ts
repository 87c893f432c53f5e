import { Injectable } from '@nestjs/common';
import type {
  ChatMessageSendRequested, ChatMessageSent, ChatMessageStatus, CloudEvent, IntegrationDeliveryFailed,
} from '@elo/contracts';
import { EventHandler, type HandlerContext, type PublishSpecLike } from '@elo/messaging';
import { TrackingService, type ProviderStatusInput, type StatusChange, type StatusInput } from './tracking.service';

/**
 * Bus handlers. All of them take whole batches: a batch of 500 status events costs a handful of SQL
 * statements, which is what lets one replica apply well over 10,000 statuses a second.
 */
@Injectable()
export class StatusConsumer {
  constructor(private readonly tracking: TrackingService) {}

  @EventHandler('chat.message.send.requested', { batch: true })
  async onSendRequested(events: CloudEvent<ChatMessageSendRequested>[], ctx: HandlerContext): Promise<void> {
    const inputs: StatusInput[] = events.map((e) => ({
      tenantId: e.tenantid,
      messageId: e.data.messageId,
      channelId: e.data.channelId ?? null,
      conversationId: e.data.conversationId ?? null,
      status: 'queued',
      at: new Date(e.time ?? Date.now()),
      source: 'send.requested',
      eventId: e.id,
    }));
    await this.finish(ctx, await this.tracking.apply(ctx.manager, inputs));
  }

  @EventHandler('chat.message.sent', { batch: true })
  async onSent(events: CloudEvent<ChatMessageSent>[], ctx: HandlerContext): Promise<void> {
    const inputs: StatusInput[] = events.map((e) => ({
      tenantId: e.tenantid,
      messageId: e.data.messageId,
      channelId: e.data.channelId,
      provider: e.data.provider,
      conversationId: e.data.conversationId ?? null,
      providerMessageId: e.data.providerMessageId,
      status: 'sent',
      at: new Date(e.data.sentAt),
      source: 'sent',
      eventId: e.id,
    }));
    // Statuses that arrived before this message was known join it now, in the same statements.
    const early = await this.tracking.takePending(
      ctx.manager,
      inputs.map((i) => ({ tenantId: i.tenantId, messageId: i.messageId, channelId: i.channelId!, providerMessageId: i.providerMessageId! })),
    );
    await this.finish(ctx, await this.tracking.apply(ctx.manager, [...inputs, ...early]));
  }

  @EventHandler('chat.message.status', { batch: true })
  async onStatus(events: CloudEvent<ChatMessageStatus>[], ctx: HandlerContext): Promise<void> {
    const byId: StatusInput[] = [];
    const byProviderId: ProviderStatusInput[] = [];
    for (const e of events) {
      const d = e.data;
      const base = {
        tenantId: e.tenantid,
        channelId: d.channelId,
        provider: d.provider,
        status: d.status,
        at: new Date(d.providerTimestamp),
        source: 'status' as const,
        errorCode: d.error?.code ?? null,
        errorTitle: d.error?.title ?? null,
        errorDetails: d.error?.details ?? null,
        reason: d.reason ?? null,
        eventId: e.id,
      };
      if (d.messageId) byId.push({ ...base, messageId: d.messageId, providerMessageId: d.providerMessageId ?? null });
      else if (d.providerMessageId) byProviderId.push({ ...base, providerMessageId: d.providerMessageId });
      // Neither id: nothing to attach it to (the contract allows it; chat-ingress never sends it).
    }
    const changes = [
      ...(await this.tracking.apply(ctx.manager, byId)),
      ...(await this.tracking.applyByProviderId(ctx.manager, byProviderId)),
    ];
    await this.finish(ctx, changes);
  }

  @EventHandler('integration.delivery.failed', { batch: true })
  async onIntegrationFailed(events: CloudEvent<IntegrationDeliveryFailed>[], ctx: HandlerContext): Promise<void> {
    const changes = await this.tracking.recordIntegrationFailures(
      ctx.manager,
      events.map((e) => ({
        tenantId: e.tenantid,
        deliveryId: e.data.deliveryId,
        integrationId: e.data.integrationId,
        integrationName: e.data.integrationName,
        eventType: e.data.eventType,
        conversationId: e.data.conversationId ?? null,
        httpStatus: e.data.httpStatus ?? null,
        errorClass: e.data.errorClass ?? null,
        error: e.data.error ?? null,
        attempts: e.data.attempts,
        at: new Date(e.time ?? Date.now()),
      })),
    );
    await this.tracking.notify(ctx.manager, changes);
  }

  /** The changes are already announced to live streams (by the statement that made them); publishes them. */
  private async finish(ctx: HandlerContext, changes: StatusChange[]): Promise<void> {
    if (changes.length === 0) return;
    await ctx.publish(...toEvents(changes));
  }
}

/** `message.status.changed` for every move, plus `message.failed` for failures. */
export function toEvents(changes: StatusChange[]): PublishSpecLike[] {
  const specs: PublishSpecLike[] = [];
  for (const c of changes) {
    const common = {
      messageId: c.messageId,
      ...(c.channelId ? { channelId: c.channelId } : {}),
      ...(c.provider ? { provider: c.provider } : {}),
      ...(c.conversationId ? { conversationId: c.conversationId } : {}),
    };
    specs.push({
      type: 'message.status.changed',
      tenantId: c.tenantId,
      subject: c.messageId,
      data: { ...common, ...(c.previousStatus ? { previousStatus: c.previousStatus } : {}), status: c.status, at: c.at },
    });
    if (c.status === 'failed') {
      specs.push({
        type: 'message.failed',
        tenantId: c.tenantId,
        subject: c.messageId,
        data: {
          ...common,
          reason: c.reason ?? 'unknown',
          retryable: c.retryable ?? false,
          ...(c.errorCode ? { error: { code: c.errorCode, ...(c.errorTitle ? { title: c.errorTitle } : {}) } } : {}),
          at: c.at,
        },
      });
    }
  }
  return specs;
}
