import { createEvent, payloadProblems, type CloudEvent, type EventPayload, type EventType } from '@elo/contracts';
import { currentCorrelationId } from '@elo/observability';
import type { EntityManager } from 'typeorm';

/** Max rows per INSERT: 4 bind parameters a row, far under PostgreSQL's 65,535. */
const INSERT_CHUNK = 1_000;

export const outboxChannel = (schema: string) => `elo_outbox_${schema}`;

/**
 * SQL for the messaging tables every service schema carries: the outbox (events waiting to be
 * published), the inbox (events already handled, per consumer) — used by each service's first migration.
 */
export function messagingTablesSql(schema: string): string[] {
  return [
    `CREATE TABLE "${schema}".outbox (
       id bigserial PRIMARY KEY,
       event_id uuid NOT NULL UNIQUE,
       type text NOT NULL,
       tenant_id text NOT NULL,
       body text NOT NULL,
       created_at timestamptz NOT NULL DEFAULT now(),
       published_at timestamptz,
       attempts int NOT NULL DEFAULT 0,
       last_error text
     )`,
    `CREATE INDEX outbox_pending_idx ON "${schema}".outbox (id) WHERE published_at IS NULL`,
    `CREATE INDEX outbox_published_idx ON "${schema}".outbox (published_at) WHERE published_at IS NOT NULL`,
    `CREATE TABLE "${schema}".inbox (
       consumer text NOT NULL,
       event_id text NOT NULL,
       handled_at timestamptz NOT NULL DEFAULT now(),
       PRIMARY KEY (consumer, event_id)
     )`,
    `CREATE INDEX inbox_handled_idx ON "${schema}".inbox (handled_at)`,
  ];
}

export interface PublishSpec<T extends EventType> {
  type: T;
  data: EventPayload<T> | Record<string, unknown>;
  tenantId: string;
  subject?: string;
  correlationId?: string;
  id?: string;
}

/**
 * Writes events to the service's outbox inside the caller's transaction. The relay publishes them
 * after commit; nothing reaches the broker for a transaction that rolled back.
 */
export class Outbox {
  constructor(
    private readonly schema: string,
    private readonly source: string,
  ) {}

  /** Builds a CloudEvent for this service (source, correlation id from the current request). */
  event<T extends EventType>(spec: PublishSpec<T>): CloudEvent<EventPayload<T>> {
    return createEvent({
      type: spec.type,
      data: spec.data as EventPayload<T>,
      tenantId: spec.tenantId,
      source: this.source,
      subject: spec.subject,
      correlationId: spec.correlationId ?? currentCorrelationId(),
      id: spec.id,
    });
  }

  /** Validates and stores events; `manager` must be inside a transaction with the domain change. */
  async add(manager: EntityManager, events: CloudEvent[]): Promise<void> {
    if (events.length === 0) return;
    for (const e of events) {
      const problems = payloadProblems(e.type, e.data);
      if (problems.length) throw new Error(`refusing to publish invalid ${e.type}: ${problems.join('; ')}`);
    }
    for (let i = 0; i < events.length; i += INSERT_CHUNK) {
      const chunk = events.slice(i, i + INSERT_CHUNK);
      const params: unknown[] = [];
      const rows = chunk.map((e) => {
        params.push(e.id, e.type, e.tenantid, JSON.stringify(e));
        const n = params.length;
        return `($${n - 3}, $${n - 2}, $${n - 1}, $${n})`;
      });
      await manager.query(
        `INSERT INTO "${this.schema}".outbox (event_id, type, tenant_id, body) VALUES ${rows.join(', ')}`,
        params,
      );
    }
    await manager.query('SELECT pg_notify($1, $2)', [outboxChannel(this.schema), '']);
  }

  /** Convenience: build and store in one call. */
  async publish<T extends EventType>(manager: EntityManager, ...specs: PublishSpec<T>[]): Promise<CloudEvent[]> {
    const events = specs.map((s) => this.event(s));
    await this.add(manager, events);
    return events;
  }
}
