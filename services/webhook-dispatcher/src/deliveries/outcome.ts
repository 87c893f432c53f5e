import { randomUUID } from 'node:crypto';
import type { Outbox } from '@elo/messaging';
import { fitChatText } from '@elo/contracts';
import { isValidCorrelationId } from '@elo/observability';
import { renderTemplate } from '@elo/templating';
import { REPLY_CONSEQUENCES, type IntegrationRow } from '../integrations/integration.model';
import type { DeliveryRow } from './delivery-worker.service';

export type PublishSpecs = Array<Parameters<Outbox['publish']>[1]>;

/** What an outcome says of the run: the answer (when one came), the error, and the reply template's context. */
export interface RunResult {
  parsed?: unknown;
  httpStatus?: number;
  errorClass?: string;
  error?: string;
  /** Template context for the reply template: the event's fields, never the integration's secrets (replies go to customers). */
  context: Record<string, unknown>;
}

/**
 * The correlation id a delivery runs in: the one kept on it (its event's, see EventsConsumer), else, for a row
 * written before deliveries kept one, the id its stored event carries (undefined when neither is one).
 */
export function correlationOf(d: Pick<DeliveryRow, 'correlation_id' | 'event'>): string | undefined {
  if (d.correlation_id) return d.correlation_id;
  return isValidCorrelationId(d.event.correlationid) ? d.event.correlationid : undefined;
}

/**
 * The outcome event of a delivery after `attempts` attempts (with the rendered reply), and the reply into the
 * conversation when the integration maps one and an event triggered the run. A run a bot flow requested is answered
 * by its outcome alone: the flow owns what the customer is sent and builds it from the outcome, so a reply of ours
 * would reach the customer twice. `onTemplateError` hears a reply template that cannot be rendered (no reply then).
 * Both carry the delivery's correlation id, whatever context they are built in (successes are written in groups).
 */
export function outcomeEvents(
  d: Pick<DeliveryRow, 'id' | 'tenant_id' | 'event_id' | 'event_type' | 'event' | 'correlation_id'>, integration: IntegrationRow, r: RunResult,
  outcome: 'succeeded' | 'failed', attempts: number, onTemplateError: (err: Error) => void,
): PublishSpecs {
  const data = (d.event.data ?? {}) as Record<string, unknown>;
  const conversationId = typeof data['conversationId'] === 'string' ? data['conversationId'] : undefined;
  const channelId = typeof data['channelId'] === 'string' ? data['channelId'] : undefined;
  const requested = d.event.type === 'integration.requested';
  const requestId = requested && typeof data['requestId'] === 'string' ? data['requestId'] : undefined;
  const correlationId = correlationOf(d);
  const template = outcome === 'succeeded' ? integration.reply?.success : integration.reply?.failure;
  let reply: string | undefined;
  if (template) {
    const responseCtx = r.parsed && typeof r.parsed === 'object' && !Array.isArray(r.parsed) ? (r.parsed as Record<string, unknown>) : {};
    try {
      reply = fitChatText(renderTemplate(template, { ...r.context, response: r.parsed, httpStatus: r.httpStatus, ...responseCtx }, { missing: 'empty' }));
    } catch (err) {
      onTemplateError(err as Error);
    }
  }
  const specs: PublishSpecs = [{
    type: outcome === 'succeeded' ? 'integration.delivery.succeeded' : 'integration.delivery.failed',
    tenantId: d.tenant_id,
    ...(correlationId ? { correlationId } : {}),
    subject: d.id,
    data: {
      deliveryId: d.id,
      integrationId: integration.id,
      integrationName: integration.name,
      eventId: d.event_id,
      eventType: d.event_type,
      ...(requestId ? { requestId } : {}),
      ...(conversationId ? { conversationId } : {}),
      outcome,
      ...(r.httpStatus !== undefined ? { httpStatus: r.httpStatus } : {}),
      ...(r.parsed !== undefined ? { response: r.parsed } : {}),
      ...(r.errorClass ? { errorClass: r.errorClass } : {}),
      ...(r.error ? { error: r.error } : {}),
      attempts,
      ...(reply !== undefined ? { reply } : {}),
    },
  }];
  // An integration its own reply would trigger again is refused when saved; one saved before that does not reply.
  if (reply && conversationId && !requested && !REPLY_CONSEQUENCES.includes(d.event_type)) {
    specs.push({
      type: 'chat.message.send.requested',
      tenantId: d.tenant_id,
      ...(correlationId ? { correlationId } : {}),
      subject: conversationId,
      data: {
        messageId: randomUUID(),
        conversationId,
        ...(channelId ? { channelId } : {}),
        message: { kind: 'text', text: reply },
        origin: `integration:${integration.id}`,
      },
    });
  }
  return specs;
}
