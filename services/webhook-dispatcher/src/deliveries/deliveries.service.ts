import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { createEvent, type CloudEvent } from '@elo/contracts';
import { createLogger } from '@elo/observability';
import { cursorKey, cursorTime, decodeCursor, encodeCursor, isTimestamp, pageFilters, ProblemException } from '@elo/platform';
import { DataSource } from 'typeorm';
import { DELIVERY_OUTCOMES, type DeliveriesQuery, type PageQuery, type SampleEventDto } from '../integrations/dto/integration.dto';
import { IntegrationsService } from '../integrations/integrations.service';
import { SERVICE } from '../service-name';
import { DeliverySender, type SendResult } from './delivery-sender.service';
import { DeliveriesSignal } from './deliveries-signal.service';
import { maskDeep, maskHeaders } from './request-builder';

const S = '"dispatcher"';

/** A page of a listing: its items and the cursor of the next page (null on the last). */
export interface Page {
  items: unknown[];
  nextCursor: string | null;
}

/** What each filter a cursor carries may be (DeliveriesQuery's rules). */
const DELIVERY_FILTERS: Record<string, (v: string) => boolean> = {
  outcome: (v) => (DELIVERY_OUTCOMES as readonly string[]).includes(v), from: isTimestamp, to: isTimestamp,
  eventType: (v) => v.length > 0 && v.length <= 200 && !v.includes('\u0000'), errorClass: (v) => /^[a-z_]{1,40}$/.test(v), httpStatus: (v) => /^[1-5]\d\d$/.test(v),
};

/** Reads of deliveries and attempts, manual resend, preview and test sends. */
@Injectable()
export class DeliveriesService {
  private readonly logger = createLogger(SERVICE).child({ component: 'deliveries' });

  constructor(
    private readonly ds: DataSource,
    private readonly integrations: IntegrationsService,
    private readonly sender: DeliverySender,
    private readonly signal: DeliveriesSignal,
  ) {}

  /**
   * One page of an integration's deliveries, newest first (created_at, then id: a stable order), and the
   * cursor of the next page when there is one. The cursor keeps the filters it was asked with.
   */
  async list(tenantId: string, integrationId: string, q: DeliveriesQuery): Promise<Page> {
    await this.integrations.row(this.ds.manager, tenantId, integrationId);
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor, 'time');
    const f = pageFilters({
      outcome: q.outcome, from: q.from, to: q.to, eventType: q.eventType, errorClass: q.errorClass,
      httpStatus: q.httpStatus === undefined ? undefined : String(q.httpStatus),
    }, after, DELIVERY_FILTERS);
    const limit = q.limit ?? 100;
    const rows = (await this.ds.query(
      `SELECT id, integration_id, event_id, event_type, status, attempts, next_attempt_at, last_http_status,
              last_error_class, last_error, created_at, completed_at,
              ${cursorKey('created_at')} AS k
       FROM ${S}.deliveries
       WHERE tenant_id = $1 AND integration_id = $2 AND ($3::text IS NULL OR status = $3)
         AND ($4::timestamptz IS NULL OR created_at >= $4) AND ($5::timestamptz IS NULL OR created_at < $5)
         AND ($7::bigint IS NULL OR (created_at, id) < (${cursorTime('$7')}, $8::uuid))
         AND ($9::text IS NULL OR event_type = $9) AND ($10::text IS NULL OR last_error_class = $10)
         AND ($11::int IS NULL OR last_http_status = $11)
       ORDER BY created_at DESC, id DESC LIMIT $6`,
      [
        tenantId, integrationId, f['outcome'] ?? null, f['from'] ?? null, f['to'] ?? null, limit + 1, after?.k ?? null, after?.id ?? null,
        f['eventType'] ?? null, f['errorClass'] ?? null, f['httpStatus'] === undefined ? null : Number(f['httpStatus']),
      ],
    )) as Array<Record<string, unknown>>;
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => ({
        id: r['id'], integrationId: r['integration_id'], eventId: r['event_id'], eventType: r['event_type'],
        outcome: r['status'], attempts: r['attempts'], nextAttemptAt: r['status'] === 'pending' ? r['next_attempt_at'] : null,
        lastHttpStatus: r['last_http_status'], lastErrorClass: r['last_error_class'], lastError: r['last_error'],
        createdAt: r['created_at'], completedAt: r['completed_at'],
      })),
      nextCursor: rows.length > limit ? encodeCursor({ k: last['k'] as string, id: last['id'] as string, f }) : null,
    };
  }

  /** One page of a delivery's attempts, first to last, and the cursor of the next page when there is one. */
  async attempts(tenantId: string, deliveryId: string, q: PageQuery = {}): Promise<Page> {
    await this.delivery(tenantId, deliveryId);
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor, 'serial');
    const limit = q.limit ?? 100;
    // The id's text is named k: an output column named id would be what ORDER BY id sorts, as text (11 before 5).
    const rows = (await this.ds.query(
      `SELECT id::text AS k, attempt, request, response, http_status, error_class, error, duration_ms, created_at
       FROM ${S}.attempts WHERE tenant_id = $1 AND delivery_id = $2 AND ($4::bigint IS NULL OR id > $4::bigint)
       ORDER BY id LIMIT $3`,
      [tenantId, deliveryId, limit + 1, after?.k ?? null],
    )) as Array<Record<string, unknown>>;
    const page = rows.slice(0, limit);
    return {
      items: page.map((r) => ({
        attempt: r['attempt'], request: r['request'], response: r['response'], httpStatus: r['http_status'],
        errorClass: r['error_class'], error: r['error'], durationMs: r['duration_ms'], at: r['created_at'],
      })),
      nextCursor: rows.length > limit ? encodeCursor({ k: page[page.length - 1]['k'] as string }) : null,
    };
  }

  /**
   * Puts a finished delivery back to pending. It is sent again in its own correlation id (its causing event's), not
   * in this request's: its outcome and reply answer that event. This request's log line names it, linking the two.
   */
  async resend(tenantId: string, deliveryId: string): Promise<{ id: string; outcome: string }> {
    const d = await this.delivery(tenantId, deliveryId);
    const integration = await this.integrations.row(this.ds.manager, tenantId, d.integration_id);
    if (!integration.enabled) throw new ProblemException(409, `integration ${integration.id} is disabled; enable it first`);
    if (d.status === 'pending') throw new ProblemException(409, `delivery ${deliveryId} is still pending`);
    await this.ds.transaction(async (m) => {
      // Only a finished delivery of an enabled integration, checked by the update itself: two resends at once both
      // passed the checks above, and the second put back (lease and all) a delivery a worker was already sending.
      const [, changed] = (await m.query(
        `UPDATE ${S}.deliveries d SET status = 'pending', schedule_step = 0, next_attempt_at = now(), completed_at = NULL
         FROM ${S}.integrations i WHERE d.id = $1 AND d.status <> 'pending' AND i.id = d.integration_id AND i.enabled`,
        [deliveryId],
      )) as [unknown, number];
      if (!changed) throw new ProblemException(409, `delivery ${deliveryId} is still pending, or its integration was disabled meanwhile`);
      this.signal.dueAfterCommit(m);
    });
    this.logger.info({ deliveryId, deliveryCorrelationId: d.correlation_id }, 'delivery resent');
    return { id: deliveryId, outcome: 'pending' };
  }

  async preview(tenantId: string, integrationId: string, sample: SampleEventDto): Promise<unknown> {
    const integration = await this.integrations.row(this.ds.manager, tenantId, integrationId);
    const event = await this.sampleEvent(tenantId, integration.id, integration.trigger.eventTypes, sample);
    try {
      const { rendered, mask, credentialHeader } = await this.sender.prepare(integration, event);
      return {
        request: {
          method: rendered.method, url: mask(rendered.url), headers: maskHeaders(rendered.headers, mask, credentialHeader),
          body: rendered.body === undefined ? null : mask(rendered.body),
        },
        builtJson: rendered.builtJson === undefined ? null : maskDeep(rendered.builtJson, mask),
        event,
      };
    } catch (err) {
      throw new ProblemException(422, `the request does not render: ${(err as Error).message}`);
    }
  }

  async test(tenantId: string, integrationId: string, sample: SampleEventDto): Promise<Omit<SendResult, 'context'>> {
    const integration = await this.integrations.row(this.ds.manager, tenantId, integrationId);
    const event = await this.sampleEvent(tenantId, integration.id, integration.trigger.eventTypes, sample);
    const { context: _context, ...result } = await this.sender.send(integration, event, `test_${randomUUID()}`);
    return result;
  }

  private async delivery(tenantId: string, id: string): Promise<{ id: string; status: string; integration_id: string; correlation_id: string | null }> {
    const rows = (await this.ds.query(
      `SELECT id, status, integration_id, coalesce(correlation_id, event->>'correlationid') AS correlation_id FROM ${S}.deliveries
       WHERE tenant_id = $1 AND id = $2`,
      [tenantId, id],
    )) as Array<{ id: string; status: string; integration_id: string; correlation_id: string | null }>;
    if (!rows.length) throw new ProblemException(404, `no delivery ${id}`);
    return rows[0];
  }

  /** The given sample, else the integration's latest delivered event, else an empty event of its first type. */
  private async sampleEvent(tenantId: string, integrationId: string, types: string[], sample: SampleEventDto): Promise<CloudEvent> {
    if (sample.data) {
      return createEvent({ type: sample.type ?? types[0] ?? 'sample', data: sample.data, tenantId, source: `elo://${SERVICE}` });
    }
    const last = (await this.ds.query(
      `SELECT event FROM ${S}.deliveries WHERE tenant_id = $1 AND integration_id = $2 ORDER BY created_at DESC LIMIT 1`,
      [tenantId, integrationId],
    )) as Array<{ event: CloudEvent }>;
    if (last.length) return last[0].event;
    return createEvent({ type: sample.type ?? types[0] ?? 'sample', data: {}, tenantId, source: `elo://${SERVICE}` });
  }
}
