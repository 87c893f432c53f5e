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
    this.validate(events);
    for (let i = 0; i < events.length; i += INSERT_CHUNK) {
      const params: unknown[] = [];
      await manager.query(this.insertSql(events.slice(i, i + INSERT_CHUNK), params), params);
    }
    await manager.query('SELECT pg_notify($1, $2)', [outboxChannel(this.schema), '']);
  }

  /**
   * The domain change and its events in ONE statement (one round trip): `change` is a data-modifying
   * statement (INSERT/UPDATE/DELETE, `$1…` its own parameters) run as a CTE beside the outbox INSERT and
   * the relay's wake-up. A statement is atomic, so `manager` need not be in a transaction; when it is, the
   * statement joins it. `synchronousCommit: false` commits without waiting for the WAL flush (this
   * transaction only, like SET LOCAL): for records whose loss in a crash is acceptable.
   */
  async addWith(
    manager: EntityManager,
    change: { sql: string; params: unknown[] },
    events: CloudEvent[],
    options: { synchronousCommit?: boolean } = {},
  ): Promise<void> {
    if (events.length > INSERT_CHUNK) throw new Error(`addWith takes at most ${INSERT_CHUNK} events`);
    this.validate(events);
    const params = [...change.params];
    const outbox = events.length ? `, outbox AS (${this.insertSql(events, params)})` : '';
    params.push(outboxChannel(this.schema));
    const notify = events.length ? `pg_notify($${params.length}, '')` : 'NULL';
    const commit = options.synchronousCommit === false ? `, set_config('synchronous_commit', 'off', true)` : '';
    await manager.query(`WITH change AS (${change.sql})${outbox} SELECT ${notify}${commit}`, params);
  }

  private validate(events: CloudEvent[]): void {
    for (const e of events) {
      const problems = payloadProblems(e.type, e.data);
      if (problems.length) throw new Error(`refusing to publish invalid ${e.type}: ${problems.join('; ')}`);
    }
  }

  /** INSERT of `events` into the outbox; their values are appended to `params`. */
  private insertSql(events: CloudEvent[], params: unknown[]): string {
    const rows = events.map((e) => {
      params.push(e.id, e.type, e.tenantid, JSON.stringify(e));
      const n = params.length;
      return `($${n - 3}, $${n - 2}, $${n - 1}, $${n})`;
    });
    return `INSERT INTO "${this.schema}".outbox (event_id, type, tenant_id, body) VALUES ${rows.join(', ')}`;
  }

  /** Convenience: build and store in one call. */
  async publish<T extends EventType>(manager: EntityManager, ...specs: PublishSpec<T>[]): Promise<CloudEvent[]> {
    const events = specs.map((s) => this.event(s));
    await this.add(manager, events);
    return events;
  }
}
