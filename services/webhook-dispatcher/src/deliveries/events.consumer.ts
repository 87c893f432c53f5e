import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { EVENT_TYPES, type CloudEvent, type IntegrationRequested } from '@elo/contracts';
import { EventHandler, type HandlerContext } from '@elo/messaging';
import { createLogger } from '@elo/observability';
import { afterCommit } from '@elo/persistence';
import { matchesTrigger, type IntegrationRow } from '../integrations/integration.model';
import { SERVICE } from '../service-name';
import { DeliveriesSignal } from './deliveries-signal.service';
import { DeliveryWorker, LEASE_SECONDS, type DeliveryRowWithIntegration } from './delivery-worker.service';

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
  /** Taken at birth by this replica's worker: written claimed (leased) and handed over after the commit. */
  claimed: boolean;
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
 * consumer's transaction, so an event is either fully fanned out or retried. The worker sends them:
 * those it has room for are written already claimed and handed to it once the transaction has committed
 * (no claim, no NOTIFY); the rest are written pending, for the claim of any replica.
 */
@Injectable()
export class EventsConsumer {
  private readonly logger = createLogger(SERVICE).child({ component: 'events-consumer' });

  constructor(
    private readonly signal: DeliveriesSignal,
    private readonly worker: DeliveryWorker,
  ) {}

  /**
   * Events that trigger integrations. Idempotent, so they take no inbox row: a delivery is keyed by
   * (event, integration) and written only if absent, and nothing is published, so a redelivered event
   * adds nothing (nor is anything sent again: only rows written now are handed over).
   */
  @EventHandler(TRIGGER_TYPES, { batch: true, idempotent: true })
  async onEvents(events: CloudEvent[], ctx: HandlerContext): Promise<void> {
    const tenants = [...new Set(events.map((e) => e.tenantid))];
    const types = [...new Set(events.map((e) => e.type))];
    const integrations = (await ctx.manager.query(
      `SELECT * FROM ${S}.integrations WHERE enabled AND tenant_id = ANY($1) AND trigger->'eventTypes' ?| $2::text[]`,
      [tenants, types],
    )) as IntegrationRow[];
    const pairs: Array<[CloudEvent, IntegrationRow]> = [];
    for (const e of events) {
      for (const i of integrations) {
        if (i.tenant_id === e.tenantid && matchesTrigger(i.trigger, e.type, e.data)) pairs.push([e, i]);
      }
    }
    await this.write(pairs, ctx);
  }

  /**
   * A bot flow step runs the integration it names (id or name). This handler keeps the inbox: an
   * unknown name is answered with a failed outcome at once, published once.
   */
  @EventHandler('integration.requested', { batch: true })
  async onRequests(events: CloudEvent[], ctx: HandlerContext): Promise<void> {
    const pairs: Array<[CloudEvent, IntegrationRow]> = [];
    for (const e of events) {
      const data = e.data as IntegrationRequested;
      const found = (await ctx.manager.query(
        `SELECT * FROM ${S}.integrations WHERE tenant_id = $1 AND (id::text = $2 OR lower(name) = lower($2))`,
        [e.tenantid, data.integration],
      )) as IntegrationRow[];
      if (found.length) {
        pairs.push([e, found[0]]);
        continue;
      }
      // The flow step waits for an outcome: answer at once rather than let it time out.
      this.logger.warn({ eventId: e.id, integration: data.integration }, 'integration.requested names no integration');
      await ctx.publish({
        type: 'integration.delivery.failed',
        tenantId: e.tenantid,
        subject: data.requestId,
        data: {
          deliveryId: randomUUID(), integrationId: NO_INTEGRATION, integrationName: data.integration, eventId: e.id,
          eventType: e.type, requestId: data.requestId, ...(data.conversationId ? { conversationId: data.conversationId } : {}),
          outcome: 'failed', errorClass: 'not_found', error: `no integration named "${data.integration}"`, attempts: 0,
        },
      });
    }
    await this.write(pairs, ctx);
  }

  /**
   * Writes a delivery per (event, integration) unless it exists; those the worker takes at birth are
   * handed to it after the commit, the others wake the workers of every replica.
   */
  private async write(pairs: Array<[CloudEvent, IntegrationRow]>, ctx: HandlerContext): Promise<void> {
    if (!pairs.length) return;
    const handOff = this.worker.openHandOff();
    const integrations = new Map<string, IntegrationRow>();
    const rows = pairs.map(([e, i]) => {
      integrations.set(i.id, i);
      return delivery(e, i.id, this.worker.takeAtBirth(handOff, i));
    });
    const handed: DeliveryRowWithIntegration[] = [];
    for (let i = 0; i < rows.length; i += 1000) {
      const chunk = rows.slice(i, i + 1000);
      // The rows a redelivered event already has are not written again (nor handed over).
      const written = (await ctx.manager.query(
        `INSERT INTO ${S}.deliveries (id, tenant_id, integration_id, event_id, event_type, event, next_attempt_at)
         SELECT id, tenant_id, integration_id, event_id, event_type, event,
                CASE WHEN claimed THEN now() + make_interval(secs => $2) ELSE now() END
         FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, tenant_id text, integration_id uuid, event_id text, event_type text, event jsonb, claimed boolean)
         ON CONFLICT (event_id, integration_id) DO NOTHING
         RETURNING id, CASE WHEN next_attempt_at > now() THEN event END AS event`,
        [JSON.stringify(chunk), LEASE_SECONDS],
      )) as Array<{ id: string; event: CloudEvent | null }>;
      const byId = new Map(chunk.map((r) => [r.id, r]));
      for (const w of written) {
        const r = byId.get(w.id)!;
        // The event as stored (what a retry reads back), not the consumer's validated copy.
        if (w.event) {
          handed.push({
            id: r.id, tenant_id: r.tenant_id, integration_id: r.integration_id, event_id: r.event_id, event_type: r.event_type,
            event: w.event, status: 'pending', attempts: 0, integration: integrations.get(r.integration_id)!,
          });
        }
      }
    }
    afterCommit(ctx.manager, () => this.worker.handOver(handOff, handed));
    if (rows.some((r) => !r.claimed)) this.signal.dueAfterCommit(ctx.manager);
  }
}

function delivery(e: CloudEvent, integrationId: string, claimed: boolean): NewDelivery {
  return { id: randomUUID(), tenant_id: e.tenantid, integration_id: integrationId, event_id: e.id, event_type: e.type, event: e, claimed };
}
