import { Injectable } from '@nestjs/common';
import { MESSAGE_STATES, PROVIDERS } from '@elo/contracts';
import { cursorKey, cursorTime, decodeCursor, encodeCursor, isTimestamp, pageFilters, ProblemException } from '@elo/platform';
import { isUUID } from 'class-validator';
import { DataSource } from 'typeorm';
import { SCHEMA } from '../tracking/tracking.service';
import type { FailuresQuery, ListMessagesQuery, RangeQuery, StatsQuery } from './dto/message-query.dto';
import type {
  FailureGroupView, FailuresView, MessageDetailView, MessagePageView, MessageView, StatsView, TimelineEntryView,
} from './dto/message-view.dto';

const S = `"${SCHEMA}"`;
const DEFAULT_SPAN_MS = { minute: 3_600_000, hour: 86_400_000, day: 30 * 86_400_000 } as const;
const BUCKET_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
/** Buckets one /stats answer covers at most (a week of minutes, decades of days); the query's row limit holds every status of each. */
const MAX_BUCKETS = 10_080;

interface MessageRow {
  id: string;
  channel_id: string | null;
  provider: string | null;
  conversation_id: string | null;
  provider_message_id: string | null;
  status: string;
  status_at: Date;
  failure_reason: string | null;
  failure_code: string | null;
  failure_title: string | null;
  failure_details: string | null;
  retryable: boolean | null;
  created_at: Date;
}

const COLUMNS = `id, channel_id, provider, conversation_id, provider_message_id, status, status_at, failure_reason,
  failure_code, failure_title, failure_details, retryable, created_at`;

/** What each filter a `GET /messages` cursor carries may be (ListMessagesQuery's rules). */
const LIST_FILTERS: Record<string, (v: string) => boolean> = {
  status: (v) => (MESSAGE_STATES as readonly string[]).includes(v), conversationId: (v) => isUUID(v), channelId: (v) => isUUID(v),
  provider: (v) => (PROVIDERS as readonly string[]).includes(v), reason: (v) => v.length <= 64 && !v.includes('\u0000'), from: isTimestamp, to: isTimestamp,
};

/** Builds `AND …` clauses with numbered parameters; the tenant is always `$1`. */
class Where {
  readonly params: unknown[];
  private readonly parts: string[] = [];
  constructor(tenantId: string) {
    this.params = [tenantId];
  }
  /** Binds a value and returns its placeholder (for a value that clauses use more than once, with `and`). */
  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }
  /** A clause over placeholders already bound (`param`). */
  and(sql: string): this {
    this.parts.push(sql);
    return this;
  }
  add(sql: (p: string) => string, value: unknown): this {
    if (value === undefined || value === null) return this;
    return this.and(sql(this.param(value)));
  }
  /** A clause over several parameters. */
  many(sql: (ps: string[]) => string, values: unknown[]): this {
    return this.and(sql(values.map((v) => this.param(v))));
  }
  range(q: RangeQuery, column: string, alias = ''): this {
    return this.add((p) => `${alias}${column} >= ${p}`, q.from)
      .add((p) => `${alias}${column} < ${p}`, q.to)
      .channel(q, alias);
  }
  channel(q: RangeQuery, alias = ''): this {
    return this.add((p) => `${alias}channel_id = ${p}`, q.channelId).add((p) => `${alias}provider = ${p}`, q.provider);
  }
  get sql(): string {
    return this.parts.map((p) => ` AND ${p}`).join('');
  }
}

/**
 * A range's bounds as instants PostgreSQL and `new Date` read alike. The query takes a bound without an offset
 * (`2026-01-05`, `2026-01-05T10:00`), which PostgreSQL read in the session's TimeZone (a server setting) and /stats
 * in the process's: one answer counted two different ranges; it is UTC, as the buckets are. And an offset in
 * hours alone (`-03`) is an Invalid Date to JavaScript: /stats answered 500. Kept as text (a Date drops microseconds).
 */
function utc(v: string | undefined): string | undefined {
  if (v === undefined) return v;
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) return `${v}T00:00:00Z`;
  if (/[T ].*[+-]\d{2}$/.test(v)) return `${v}:00`;
  return /(?:z|[+-]\d{2}:?\d{2})$/i.test(v) ? v : `${v}Z`;
}

const inUtc = <Q extends RangeQuery>(q: Q): Q => ({ ...q, from: utc(q.from), to: utc(q.to) });

function view(r: MessageRow): MessageView {
  return {
    id: r.id,
    channelId: r.channel_id,
    provider: r.provider,
    conversationId: r.conversation_id,
    providerMessageId: r.provider_message_id,
    status: r.status,
    statusAt: new Date(r.status_at).toISOString(),
    failure: r.status === 'failed'
      ? { reason: r.failure_reason ?? 'unknown', retryable: r.retryable ?? false, code: r.failure_code, title: r.failure_title, details: r.failure_details }
      : null,
    createdAt: new Date(r.created_at).toISOString(),
  };
}

/** Every read of the API; each query is bound to the caller's tenant. */
@Injectable()
export class MessageQueryService {
  constructor(private readonly ds: DataSource) {}

  async get(tenantId: string, id: string): Promise<MessageDetailView | undefined> {
    const [row] = (await this.ds.query(`SELECT ${COLUMNS} FROM ${S}.messages WHERE tenant_id = $1 AND id = $2`, [tenantId, id])) as MessageRow[];
    if (!row) return undefined;
    const events: Array<Record<string, unknown>> = await this.ds.query(
      `SELECT raw_status, source, provider_timestamp, received_at, reportable, applied, error_code, error_title,
              error_details, reason
         FROM ${S}.message_events WHERE tenant_id = $1 AND message_id = $2 ORDER BY provider_timestamp, id`,
      [tenantId, id],
    );
    const timeline: TimelineEntryView[] = events.map((e) => ({
      status: e.raw_status as string,
      source: e.source as string,
      providerTimestamp: new Date(e.provider_timestamp as Date).toISOString(),
      receivedAt: new Date(e.received_at as Date).toISOString(),
      reportable: e.reportable as boolean,
      applied: e.applied as boolean,
      errorCode: (e.error_code as string | null) ?? null,
      errorTitle: (e.error_title as string | null) ?? null,
      errorDetails: (e.error_details as string | null) ?? null,
      reason: (e.reason as string | null) ?? null,
    }));
    return { ...view(row), timeline };
  }

  async list(tenantId: string, query: ListMessagesQuery): Promise<MessagePageView> {
    // A later page keeps the filters of the first (its cursor carries them).
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, 'time');
    const f = pageFilters({ status: query.status, conversationId: query.conversationId, channelId: query.channelId, provider: query.provider,
      reason: query.reason, from: query.from, to: query.to }, after, LIST_FILTERS);
    const q = inUtc<ListMessagesQuery>(f);
    const limit = query.limit ?? 50;
    const w = new Where(tenantId)
      .range(q, 'created_at')
      .add((p) => `status = ${p}`, q.status)
      .add((p) => `conversation_id = ${p}`, q.conversationId)
      .add((p) => `failure_reason = ${p}`, q.reason);
    if (after) w.many(([k, id]) => `(created_at, id) < (${cursorTime(k)}, ${id}::uuid)`, [after.k, after.id]);
    const rows = (await this.ds.query(
      `SELECT ${COLUMNS}, ${cursorKey('created_at')} AS k FROM ${S}.messages WHERE tenant_id = $1${w.sql}
        ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}`,
      w.params,
    )) as Array<MessageRow & { k: string }>;
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { items: page.map(view), nextCursor: rows.length > limit ? encodeCursor({ k: last.k, id: last.id, f }) : null };
  }

  async stats(tenantId: string, query: StatsQuery): Promise<StatsView> {
    const q = inUtc(query);
    const bucket = q.bucket ?? 'minute';
    const totalsWhere = new Where(tenantId).range(q, 'created_at');
    const totals: Array<{ channel_id: string | null; provider: string | null; status: string; count: string }> = await this.ds.query(
      `SELECT channel_id, provider, status, count(*) AS count FROM ${S}.messages
        WHERE tenant_id = $1${totalsWhere.sql} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
      totalsWhere.params,
    );
    const to = q.to ? new Date(q.to) : new Date();
    const from = q.from ? new Date(q.from) : new Date(to.getTime() - DEFAULT_SPAN_MS[bucket]);
    // A range of more buckets than that was cut short without a word (the newest dropped by the row limit).
    const spans = Math.ceil((to.getTime() - from.getTime()) / BUCKET_MS[bucket]);
    if (spans > MAX_BUCKETS) {
      throw new ProblemException(400, `from..to holds ${spans} ${bucket} buckets; at most ${MAX_BUCKETS}: ask for larger buckets or a shorter range`);
    }
    const bw = new Where(tenantId)
      .add((p) => `e.provider_timestamp >= ${p}`, from)
      .add((p) => `e.provider_timestamp < ${p}`, to)
      .add((p) => `x.channel_id = ${p}`, q.channelId)
      .add((p) => `x.provider = ${p}`, q.provider);
    // UTC buckets, as the dashboard slots them: date_trunc alone truncates in the session's TimeZone (a server setting).
    const buckets: Array<{ bucket: Date; status: string; count: string }> = await this.ds.query(
      `SELECT date_trunc('${bucket}', e.provider_timestamp, 'UTC') AS bucket, e.raw_status AS status, count(*) AS count
         FROM ${S}.message_events e JOIN ${S}.messages x ON x.id = e.message_id
        WHERE e.tenant_id = $1 AND e.applied${bw.sql}
        GROUP BY 1, 2 ORDER BY 1, 2 LIMIT ${MAX_BUCKETS * 10}`,
      bw.params,
    );
    return {
      bucket,
      totals: totals.map((t) => ({ channelId: t.channel_id, provider: t.provider, status: t.status, count: Number(t.count) })),
      buckets: buckets.map((b) => ({ bucket: new Date(b.bucket).toISOString(), status: b.status, count: Number(b.count) })),
    };
  }

  async failures(tenantId: string, query: FailuresQuery): Promise<FailuresView> {
    const q = inUtc(query);
    const n = q.examples ?? 5;
    // By when the message failed (status_at of a failed message), not when it was created. status_at has
    // no index (a status move must touch none), so a range is looked up through the timeline: the entry
    // that moved a message to failed has the same provider timestamp, and its index covers applied entries.
    const mw = new Where(tenantId);
    const from = q.from ? mw.param(q.from) : undefined;
    const to = q.to ? mw.param(q.to) : undefined;
    if (from) mw.and(`status_at >= ${from}`);
    if (to) mw.and(`status_at < ${to}`);
    mw.channel(q);
    if (from || to) {
      mw.and(`id IN (SELECT e.message_id FROM ${S}.message_events e WHERE e.tenant_id = $1 AND e.applied
        AND e.raw_status = 'failed'${from ? ` AND e.provider_timestamp >= ${from}::timestamptz` : ''}${to ? ` AND e.provider_timestamp < ${to}::timestamptz` : ''})`);
    }
    const msgs: Array<MessageRow & { cnt: string; retryable_cnt: string }> = await this.ds.query(
      `SELECT * FROM (
         SELECT ${COLUMNS}, count(*) OVER w AS cnt, count(*) FILTER (WHERE retryable) OVER w AS retryable_cnt,
                row_number() OVER (PARTITION BY failure_reason ORDER BY status_at DESC, id DESC) AS rn
           FROM ${S}.messages WHERE tenant_id = $1 AND status = 'failed'${mw.sql}
         WINDOW w AS (PARTITION BY failure_reason)) f
        WHERE rn <= ${n} ORDER BY cnt DESC, failure_reason, rn`,
      mw.params,
    );
    const groups = new Map<string, FailureGroupView>();
    for (const r of msgs) {
      const reason = r.failure_reason ?? 'unknown';
      let g = groups.get(`m:${reason}`);
      if (!g) {
        // A reason's failures need not all agree (`unknown` holds transient and permanent ones): the group
        // is retryable only when every one of them is, and says how many are.
        const count = Number(r.cnt);
        const retryableCount = Number(r.retryable_cnt);
        groups.set(`m:${reason}`, (g = { kind: 'message', reason, count, retryable: retryableCount === count, retryableCount, latest: [] }));
      }
      g.latest.push({ id: r.id, channelId: r.channel_id, provider: r.provider, code: r.failure_code, title: r.failure_title, at: new Date(r.status_at).toISOString() });
    }
    const withResolved = q.resolved === 'include';
    const iw = new Where(tenantId).add((p) => `failed_at >= ${p}`, q.from).add((p) => `failed_at < ${p}`, q.to);
    // A failure a later success of the delivery resolved is off the board, unless asked for.
    if (!withResolved) iw.and('resolved_at IS NULL');
    const ints: Array<Record<string, unknown>> = q.channelId || q.provider ? [] : await this.ds.query(
      `SELECT * FROM (
         SELECT delivery_id, integration_name, error_class, error, http_status, failed_at, resolved_at,
                count(*) OVER (PARTITION BY error_class) AS cnt,
                row_number() OVER (PARTITION BY error_class ORDER BY failed_at DESC, delivery_id DESC) AS rn
           FROM ${S}.integration_failures WHERE tenant_id = $1${iw.sql}) f
        WHERE rn <= ${n} ORDER BY cnt DESC, error_class, rn`,
      iw.params,
    );
    for (const r of ints) {
      const reason = `integration:${(r.error_class as string | null) ?? 'unknown'}`;
      let g = groups.get(reason);
      if (!g) groups.set(reason, (g = { kind: 'integration', reason, count: Number(r.cnt), retryable: null, retryableCount: null, latest: [] }));
      g.latest.push({
        id: r.delivery_id as string,
        channelId: null,
        provider: null,
        code: r.http_status === null || r.http_status === undefined ? null : String(r.http_status),
        title: `${r.integration_name as string}: ${(r.error as string | null) ?? ''}`.trim(),
        at: new Date(r.failed_at as Date).toISOString(),
        ...(withResolved ? { resolvedAt: r.resolved_at ? new Date(r.resolved_at as Date).toISOString() : null } : {}),
      });
    }
    return { groups: [...groups.values()].sort((a, b) => b.count - a.count) };
  }
}
