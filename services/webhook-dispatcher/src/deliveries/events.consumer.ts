import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { EVENT_TYPES, type CloudEvent, type IntegrationRequested } from '@elo/contracts';
import { EventHandler, type HandlerContext } from '@elo/messaging';
import { createLogger, isValidCorrelationId } from '@elo/observability';
import { matchesTrigger, type IntegrationRow } from '../integrations/integration.model';
import { SERVICE } from '../service-name';
import { DeliveriesSignal } from './deliveries-signal.service';

const S = '"dispatcher"';
/** integrationId of the outcome when a request names no integration. */
const NO_INTEGRATION = '00000000-0000-0000-0000-000000000000';

interface NewDelivery {
  id: string;
  tenant_id: string;
  integration_id: string;
  event_id: string;
  event_type: string;
  event: CloudEvent;
  correlation_id: string;
}

/**
 * The event types the service is bound to: every type of the catalogue (the bus carries no other)
 * except our own outcomes (`integration.delivery.*`, `integration.disabled`), which never trigger an
 * integration. Bound to `#`, every delivery's outcome event came back through the broker, the consumer
 * and the inbox only to be dropped (the module retires that `#` binding on queues an earlier version
 * declared). `integration.requested` runs the integration it names.
 */
export const CONSUMED_TYPES: readonly string[] = EVENT_TYPES.filter((t) => !t.startsWith('integration.') || t === 'integration.requested');
/** The types that trigger the integrations whose trigger names them. */
const TRIGGER_TYPES = CONSUMED_TYPES.filter((t) => t !== 'integration.requested');

/**
 * Every event on the bus: one durable delivery per (event, matching integration), written in the
 * consumer's transaction, so an event is either fully fanned out or retried. The worker sends them later, each in
 * its event's correlation id (kept on the row: the worker runs outside this handler's context).
 */
@Injectable()
export class EventsConsumer {
  private readonly logger = createLogger(SERVICE).child({ component: 'events-consumer' });

  constructor(private readonly signal: DeliveriesSignal) {}

  /**
   * Events that trigger integrations. Idempotent, so they take no inbox row: a delivery is keyed by
   * (event, integration) and written only if absent, and nothing is published, so a redelivered event
   * adds nothing and nothing is sent again.
   */
  @EventHandler(TRIGGER_TYPES, { batch: true, idempotent: true })
  async onEvents(events: CloudEvent[], ctx: HandlerContext): Promise<void> {
    const tenants = [...new Set(events.map((e) => e.tenantid))];
    const types = [...new Set(events.map((e) => e.type))];
    const integrations = (await ctx.manager.query(
      `SELECT id, tenant_id, trigger FROM ${S}.integrations
       WHERE enabled AND tenant_id = ANY($1) AND trigger->'eventTypes' ?| $2::text[]`,
      [tenants, types],
    )) as Array<Pick<IntegrationRow, 'id' | 'tenant_id' | 'trigger'>>;
    const rows: NewDelivery[] = [];
    for (const e of events) {
      const correlationId = eventCorrelationId(e);
      for (const i of integrations) {
        if (i.tenant_id === e.tenantid && matchesTrigger(i.trigger, e.type, e.data)) rows.push(delivery(e, i.id, correlationId));
      }
    }
    await this.write(rows, ctx);
  }

  /**
   * A bot flow step runs the integration it names (id or name). This handler keeps the inbox: an
   * unknown name is answered with a failed outcome at once, published once.
   */
  @EventHandler('integration.requested', { batch: true })
  async onRequests(events: CloudEvent[], ctx: HandlerContext): Promise<void> {
    const rows: NewDelivery[] = [];
    for (const e of events) {
      const data = e.data as IntegrationRequested;
      const found = (await ctx.manager.query(
        `SELECT id FROM ${S}.integrations WHERE tenant_id = $1 AND (id::text = $2 OR lower(name) = lower($2))`,
        [e.tenantid, data.integration],
      )) as Array<{ id: string }>;
      if (found.length) {
        rows.push(delivery(e, found[0].id, eventCorrelationId(e)));
        continue;
      }
      // The flow step waits for an outcome: answer at once rather than let it time out.
      this.logger.warn({ eventId: e.id, integration: data.integration }, 'integration.requested names no integration');
      await ctx.publish({
        type: 'integration.delivery.failed',
        tenantId: e.tenantid,
        // Its own request's, not the call's: a call may hold several requests' events.
        correlationId: e.correlationid,
        subject: data.requestId,
        data: {
          deliveryId: randomUUID(), integrationId: NO_INTEGRATION, integrationName: data.integration, eventId: e.id,
          eventType: e.type, requestId: data.requestId, ...(data.conversationId ? { conversationId: data.conversationId } : {}),
          outcome: 'failed', errorClass: 'not_found', error: `no integration named "${data.integration}"`, attempts: 0,
        },
      });
    }
    await this.write(rows, ctx);
  }

  /** Writes a delivery per (event, integration) unless it exists, and wakes the workers of every replica after the commit. */
  private async write(rows: NewDelivery[], ctx: HandlerContext): Promise<void> {
    if (!rows.length) return;
    for (let i = 0; i < rows.length; i += 1000) {
      await ctx.manager.query(
        `INSERT INTO ${S}.deliveries (id, tenant_id, integration_id, event_id, event_type, event, correlation_id)
         SELECT id, tenant_id, integration_id, event_id, event_type, event, correlation_id
         FROM jsonb_to_recordset($1::jsonb)
           AS x(id uuid, tenant_id text, integration_id uuid, event_id text, event_type text, event jsonb, correlation_id text)
         ON CONFLICT (event_id, integration_id) DO NOTHING`,
        [JSON.stringify(rows.slice(i, i + 1000))],
      );
    }
    this.signal.dueAfterCommit(ctx.manager);
  }
}

/**
 * The correlation id the event's deliveries run in: the event's own, or (none, or one we would not accept from
 * outside) a fresh one, shared by the event's deliveries, so every attempt and outcome of each carries the same.
 */
function eventCorrelationId(e: CloudEvent): string {
  return isValidCorrelationId(e.correlationid) ? e.correlationid : randomUUID();
}

function delivery(e: CloudEvent, integrationId: string, correlationId: string): NewDelivery {
  return {
    id: randomUUID(), tenant_id: e.tenantid, integration_id: integrationId, event_id: e.id, event_type: e.type, event: e,
    correlation_id: correlationId,
  };
}
