import { randomUUID } from 'node:crypto';
import { createEvent, type CloudEvent, type ProviderStatus } from '@elo/contracts';

/** Builders of the events message-status consumes, as their producers publish them. */
const T0 = Date.parse('2026-01-05T12:00:00Z');
export const at = (s: number) => new Date(T0 + s * 1000).toISOString();

export function sendRequested(tenantId: string, o: { messageId: string; channelId?: string; conversationId?: string; time?: number }): CloudEvent {
  return createEvent({
    type: 'chat.message.send.requested',
    tenantId,
    source: 'elo://test',
    subject: o.messageId,
    time: o.time === undefined ? undefined : new Date(at(o.time)),
    data: {
      messageId: o.messageId,
      ...(o.channelId ? { channelId: o.channelId } : {}),
      ...(o.conversationId ? { conversationId: o.conversationId } : {}),
      message: { kind: 'text', text: 'Olá' },
    },
  });
}

export function sent(tenantId: string, o: { messageId: string; channelId: string; provider: string; pmid: string; t: number; conversationId?: string }): CloudEvent {
  return createEvent({
    type: 'chat.message.sent',
    tenantId,
    source: 'elo://chat-ingress',
    subject: o.messageId,
    data: {
      messageId: o.messageId,
      channelId: o.channelId,
      provider: o.provider,
      providerMessageId: o.pmid,
      sentAt: at(o.t),
      ...(o.conversationId ? { conversationId: o.conversationId } : {}),
    },
  });
}

/**
 * A provider status; carries Elo's id only when `eloMessageId` is given (failures at send time), and a
 * subject only when `subject` is given (chat-ingress gives the message's id).
 */
export function status(
  tenantId: string,
  o: { channelId: string; provider: string; status: ProviderStatus; t: number; pmid?: string; eloMessageId?: string; code?: string; title?: string; details?: string; reason?: string; id?: string; subject?: string },
): CloudEvent {
  return createEvent({
    type: 'chat.message.status',
    tenantId,
    source: 'elo://chat-ingress',
    id: o.id,
    subject: o.subject,
    data: {
      channelId: o.channelId,
      provider: o.provider,
      status: o.status,
      providerTimestamp: at(o.t),
      ...(o.pmid ? { providerMessageId: o.pmid } : {}),
      ...(o.eloMessageId ? { messageId: o.eloMessageId } : {}),
      ...(o.code ? { error: { code: o.code, ...(o.title ? { title: o.title } : {}), ...(o.details ? { details: o.details } : {}) } } : {}),
      ...(o.reason ? { reason: o.reason } : {}),
    },
  });
}

/** A delivery's failure; `deliveryId` and `time` (seconds after T0) to report the same delivery failing again after a resend. */
export function integrationFailed(
  tenantId: string, o: { errorClass: string; name?: string; httpStatus?: number; deliveryId?: string; time?: number; attempts?: number },
): CloudEvent {
  return createEvent({
    type: 'integration.delivery.failed',
    tenantId,
    source: 'elo://webhook-dispatcher',
    time: o.time === undefined ? undefined : new Date(at(o.time)),
    data: {
      deliveryId: o.deliveryId ?? randomUUID(),
      integrationId: randomUUID(),
      integrationName: o.name ?? 'crm',
      eventId: randomUUID(),
      eventType: 'chat.message.received',
      outcome: 'failed',
      errorClass: o.errorClass,
      error: 'connect ECONNREFUSED',
      ...(o.httpStatus ? { httpStatus: o.httpStatus } : {}),
      attempts: o.attempts ?? 5,
    },
  });
}

/** A delivery's success (a resend of a failed one keeps its id and counts attempts on), `time` seconds after T0. */
export function integrationSucceeded(tenantId: string, o: { deliveryId: string; time: number; name?: string; attempts?: number }): CloudEvent {
  return createEvent({
    type: 'integration.delivery.succeeded',
    tenantId,
    source: 'elo://webhook-dispatcher',
    subject: o.deliveryId,
    time: new Date(at(o.time)),
    data: {
      deliveryId: o.deliveryId,
      integrationId: randomUUID(),
      integrationName: o.name ?? 'crm',
      eventId: randomUUID(),
      eventType: 'chat.message.received',
      outcome: 'succeeded',
      httpStatus: 200,
      attempts: o.attempts ?? 1,
    },
  });
}

export const ids = () => ({ messageId: randomUUID(), channelId: randomUUID(), pmid: `wamid.${randomUUID()}` });
