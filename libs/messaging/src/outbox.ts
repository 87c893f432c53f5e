import { createEvent, payloadProblems, type CloudEvent, type EventPayload, type EventType } from '@elo/contracts';
import { currentCorrelationId } from '@elo/observability';
import { afterCommit } from '@elo/persistence';
import type { EntityManager, MigrationInterface, QueryRunner } from 'typeorm';

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

/**
 * The messaging tables' second migration, the same for every service (its list names it after its
 * own): the indexes the hot path maintains are cut to what a query needs.
 * - The outbox's unique index on event_id goes: nothing looks an event up by id there, ids are random
 *   UUIDs (each insert and each non-HOT mark touched a random page of it), and consumers' inboxes
 *   already drop copies.
 * - The cleanup's btree on published_at goes, for a BRIN on created_at (rows are appended in time
 *   order; a BRIN costs next to nothing to keep), and the same for the inbox's handled_at.
 */
export function leanerMessagingIndexes(schema: string): new () => MigrationInterface {
  const s = `"${schema}"`;
  return class LeanerMessagingIndexes1765100000000 implements MigrationInterface {
    name = 'LeanerMessagingIndexes1765100000000';

    async up(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE ${s}.outbox DROP CONSTRAINT outbox_event_id_key`);
      await q.query(`DROP INDEX ${s}.outbox_published_idx`);
      await q.query(`CREATE INDEX outbox_created_idx ON ${s}.outbox USING brin (created_at)`);
      await q.query(`DROP INDEX ${s}.inbox_handled_idx`);
      await q.query(`CREATE INDEX inbox_handled_idx ON ${s}.inbox USING brin (handled_at)`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP INDEX ${s}.inbox_handled_idx`);
      await q.query(`CREATE INDEX inbox_handled_idx ON ${s}.inbox (handled_at)`);
      await q.query(`DROP INDEX ${s}.outbox_created_idx`);
      await q.query(`CREATE INDEX outbox_published_idx ON ${s}.outbox (published_at) WHERE published_at IS NOT NULL`);
      await q.query(`ALTER TABLE ${s}.outbox ADD CONSTRAINT outbox_event_id_key UNIQUE (event_id)`);
    }
  };
}

/**
 * The messaging tables' third migration, the same for every service (its list names it after the second):
 * the relay deletes a row once the broker has confirmed it instead of marking it published (relay.ts),
 * so the outbox holds only what is still to publish. The mark rewrote the whole row (its column was in the
 * pending index's predicate), with new index entries, and published rows were kept a day for nothing to
 * read them. Rows already published go now; the pending index, the cleanup's BRIN and the column follow.
 */
export function outboxKeepsOnlyPending(schema: string): new () => MigrationInterface {
  const s = `"${schema}"`;
  return class OutboxKeepsOnlyPending1765700000000 implements MigrationInterface {
    name = 'OutboxKeepsOnlyPending1765700000000';

    async up(q: QueryRunner): Promise<void> {
      await q.query(`DELETE FROM ${s}.outbox WHERE published_at IS NOT NULL`);
      await q.query(`DROP INDEX ${s}.outbox_pending_idx`);
      await q.query(`DROP INDEX ${s}.outbox_created_idx`);
      await q.query(`ALTER TABLE ${s}.outbox DROP COLUMN published_at`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE ${s}.outbox ADD COLUMN published_at timestamptz`);
      await q.query(`CREATE INDEX outbox_created_idx ON ${s}.outbox USING brin (created_at)`);
      await q.query(`CREATE INDEX outbox_pending_idx ON ${s}.outbox (id) WHERE published_at IS NULL`);
    }
  };
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
 * after commit; nothing reaches the broker for a transaction that rolled back. Once the transaction
 * has committed, `committed` wakes the relay (in this process; see OutboxRelay.committed).
 */
export class Outbox {
  constructor(
    private readonly schema: string,
    private readonly source: string,
    private readonly committed: () => void = () => undefined,
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
    const params: unknown[] = [];
    await manager.query(this.insertSql(events, params), params);
    afterCommit(manager, this.committed);
  }

  /**
   * The domain change and its events in ONE statement (one round trip): `change` is a data-modifying
   * statement (INSERT/UPDATE/DELETE, `$1…` its own parameters) run as a CTE beside the outbox INSERT;
   * `change.ctes` are further CTEs it reads from (PostgreSQL allows data-modifying CTEs only at the top
   * level). A statement is atomic, so `manager` need not be in a transaction; when it is, the statement
   * joins it. Options:
   * - `onlyIfChanged`: the events are written only when `change` returned a row (it must have RETURNING),
   *   for changes that are no-ops on a repeat (ON CONFLICT DO NOTHING);
   * - `synchronousCommit: false` commits without waiting for the WAL flush (this transaction only, like
   *   SET LOCAL): for records whose loss in a crash is acceptable.
   * Resolves to whether the events were written.
   */
  async addWith(
    manager: EntityManager,
    change: { sql: string; params: unknown[]; ctes?: string },
    events: CloudEvent[],
    options: { synchronousCommit?: boolean; onlyIfChanged?: boolean } = {},
  ): Promise<boolean> {
    this.validate(events);
    const params = [...change.params];
    const gate = options.onlyIfChanged ? ' WHERE EXISTS (SELECT 1 FROM change)' : '';
    const outbox = events.length ? `, outbox AS (${this.insertSql(events, params, gate)})` : '';
    const commit = options.synchronousCommit === false ? `set_config('synchronous_commit', 'off', true)` : 'NULL';
    const written = options.onlyIfChanged ? 'EXISTS (SELECT 1 FROM change)' : 'true';
    const ctes = change.ctes ? `${change.ctes}, ` : '';
    const [row] = (await manager.query(`WITH ${ctes}change AS (${change.sql})${outbox} SELECT ${written} AS written, ${commit}`, params)) as Array<{
      written: boolean;
    }>;
    if (events.length && row.written) afterCommit(manager, this.committed);
    return events.length > 0 && row.written;
  }

  private validate(events: CloudEvent[]): void {
    for (const e of events) {
      const problems = payloadProblems(e.type, e.data);
      if (problems.length) throw new Error(`refusing to publish invalid ${e.type}: ${problems.join('; ')}`);
    }
  }

  /**
   * INSERT of `events` into the outbox (only where `gate` holds, when given); their values are appended
   * to `params`, so the statement's text is the same whatever the number of events (a VALUES row per
   * event cost PostgreSQL a parse and plan of every row). The bodies travel as one text split on
   * newlines: JSON.stringify never emits a raw newline, and a text[] parameter would have every quote
   * in every body escaped for the array literal.
   */
  private insertSql(events: CloudEvent[], params: unknown[], gate = ''): string {
    params.push(
      events.map((e) => e.id),
      events.map((e) => e.type),
      events.map((e) => e.tenantid),
      events.map((e) => JSON.stringify(e)).join('\n'),
    );
    const n = params.length;
    return (
      `INSERT INTO "${this.schema}".outbox (event_id, type, tenant_id, body) ` +
      `SELECT * FROM unnest($${n - 3}::uuid[], $${n - 2}::text[], $${n - 1}::text[], string_to_array($${n}::text, E'\\n'))${gate}`
    );
  }

  /** Convenience: build and store in one call. */
  async publish<T extends EventType>(manager: EntityManager, ...specs: PublishSpec<T>[]): Promise<CloudEvent[]> {
    const events = specs.map((s) => this.event(s));
    await this.add(manager, events);
    return events;
  }
}
