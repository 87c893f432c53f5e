import { DELIVERIES_CHANNEL, SCHEMA } from '../service-name';

const S = `"${SCHEMA}"`;

/** What a bulk resend picks: finished deliveries of one tenant (or, explicitly, of all), narrowed by filters. */
export interface ResendFilter {
  /** Required unless `allTenants` is set: every query is tenant-scoped by default. */
  tenantId?: string;
  allTenants?: boolean;
  integrationIds?: string[];
  /** The outcome to resend; `failed` unless told otherwise. A pending delivery is never picked. */
  outcome: 'failed' | 'succeeded';
  eventTypes?: string[];
  errorClasses?: string[];
  httpStatuses?: number[];
  /** created_at >= from */
  from?: Date;
  /** created_at < to */
  to?: Date;
  limit?: number;
}

export interface ResendSelection {
  /** Deliveries that will be sent again, oldest first. */
  ids: string[];
  /** Matching deliveries left alone because their integration is disabled (enable it first, as for a single resend). */
  skippedDisabled: number;
}

export interface ResendOutcome {
  requeued: number;
  /** Selected but changed meanwhile (already resent, integration disabled or deleted): not touched. */
  changed: number;
}

/** Anything with pg's `query` shape: a pg Client or Pool. */
export interface Queryable {
  query(sql: string, params?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
}

/**
 * Bulk resend (the `resend` CLI): the matching set is fixed first, so a delivery that fails again
 * during the run is not picked twice; it is then put back to `pending` in chunks (same delivery id,
 * hence the same `webhook-id`, fresh retry schedule), and the workers are woken with NOTIFY.
 */
export class BulkResend {
  constructor(private readonly db: Queryable) {}

  async select(f: ResendFilter): Promise<ResendSelection> {
    if (!f.tenantId && !f.allTenants) throw new Error('a tenant is required (or all tenants, explicitly)');
    const params: unknown[] = [f.outcome];
    const where = ['d.status = $1'];
    const add = (sql: (n: string) => string, value: unknown) => {
      params.push(value);
      where.push(sql(`$${params.length}`));
    };
    if (f.tenantId) add((n) => `d.tenant_id = ${n}`, f.tenantId);
    if (f.integrationIds?.length) add((n) => `d.integration_id = ANY(${n}::uuid[])`, f.integrationIds);
    if (f.eventTypes?.length) add((n) => `d.event_type = ANY(${n}::text[])`, f.eventTypes);
    if (f.errorClasses?.length) add((n) => `d.last_error_class = ANY(${n}::text[])`, f.errorClasses);
    if (f.httpStatuses?.length) add((n) => `d.last_http_status = ANY(${n}::int[])`, f.httpStatuses);
    if (f.from) add((n) => `d.created_at >= ${n}`, f.from);
    if (f.to) add((n) => `d.created_at < ${n}`, f.to);
    const from = `FROM ${S}.deliveries d JOIN ${S}.integrations i ON i.id = d.integration_id WHERE ${where.join(' AND ')}`;
    // The limit counts what will be resent: taken over every match, the disabled integrations' deliveries used it up.
    const { rows } = await this.db.query(
      `SELECT d.id ${from} AND i.enabled ORDER BY d.created_at, d.id LIMIT $${params.length + 1}`,
      [...params, f.limit ?? null],
    );
    const { rows: skipped } = await this.db.query(`SELECT count(*)::int AS n ${from} AND NOT i.enabled`, params);
    return { ids: rows.map((r) => r['id'] as string), skippedDisabled: Number(skipped[0]?.['n'] ?? 0) };
  }

  /** Puts `ids` back to pending in chunks of `chunk`; `progress` gets the running count after each chunk. */
  async requeue(ids: string[], outcome: ResendFilter['outcome'], opts: { chunk?: number; progress?: (done: number) => void } = {}): Promise<ResendOutcome> {
    const chunk = Math.max(1, opts.chunk ?? 500);
    let requeued = 0;
    let done = 0;
    for (let i = 0; i < ids.length; i += chunk) {
      const part = ids.slice(i, i + chunk);
      const { rows } = await this.db.query(
        `WITH u AS (
           UPDATE ${S}.deliveries d SET status = 'pending', schedule_step = 0, next_attempt_at = now(), completed_at = NULL
           FROM ${S}.integrations i
           WHERE d.id = ANY($1::uuid[]) AND d.status = $2 AND i.id = d.integration_id AND i.enabled
           RETURNING d.id
         )
         SELECT count(*)::int AS requeued FROM u`,
        [part, outcome],
      );
      const n = Number(rows[0]?.['requeued'] ?? 0);
      // After the chunk's commit, not inside it (see afterCommit in @elo/persistence).
      if (n > 0) await this.db.query(`SELECT pg_notify('${DELIVERIES_CHANNEL}', '')`);
      requeued += n;
      done += part.length;
      opts.progress?.(done);
    }
    return { requeued, changed: ids.length - requeued };
  }
}
