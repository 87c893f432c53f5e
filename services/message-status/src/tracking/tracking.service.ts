import { Injectable } from '@nestjs/common';
import type { MessageState } from '@elo/contracts';
import type { EntityManager } from 'typeorm';
import { classifyFailure, type FailureReason } from './failure-classifier';
import { canReport, nextState, STATUS_RANK } from './status-rules';

export const SCHEMA = 'message_status';
const S = `"${SCHEMA}"`;
/** LISTEN/NOTIFY channel carrying applied changes to every replica's live streams. */
export const CHANGES_CHANNEL = `elo_changes_${SCHEMA}`;
/** NOTIFY payloads must stay under 8000 bytes. */
const NOTIFY_MAX_BYTES = 7_000;

export type Source = 'send.requested' | 'sent' | 'status';

/** One fact about one message: a raw status with the provider's timestamp. */
export interface StatusInput {
  tenantId: string;
  messageId: string;
  channelId?: string | null;
  provider?: string | null;
  conversationId?: string | null;
  providerMessageId?: string | null;
  status: MessageState;
  at: Date;
  source: Source;
  errorCode?: string | null;
  errorTitle?: string | null;
  errorDetails?: string | null;
  reason?: string | null;
  eventId?: string | null;
}

/** A status known only by the provider's message id, before the message is known. */
export interface ProviderStatusInput extends Omit<StatusInput, 'messageId'> {
  channelId: string;
  provider: string;
  providerMessageId: string;
}

export interface StatusChange {
  kind: 'status';
  tenantId: string;
  messageId: string;
  channelId: string | null;
  provider: string | null;
  conversationId: string | null;
  previousStatus: MessageState | null;
  status: MessageState;
  at: string;
  reason?: FailureReason;
  retryable?: boolean;
  errorCode?: string | null;
  errorTitle?: string | null;
}

export interface IntegrationFailureInput {
  tenantId: string;
  deliveryId: string;
  integrationId: string;
  integrationName: string;
  eventType: string;
  conversationId?: string | null;
  httpStatus?: number | null;
  errorClass?: string | null;
  error?: string | null;
  attempts: number;
  at: Date;
}

export interface IntegrationFailureChange {
  kind: 'integration_failure';
  tenantId: string;
  deliveryId: string;
  integrationName: string;
  errorClass: string | null;
  error: string | null;
  httpStatus: number | null;
  at: string;
}

export type LiveChange = StatusChange | IntegrationFailureChange;

interface MessageRow {
  id: string;
  tenant_id: string;
  channel_id: string | null;
  provider: string | null;
  conversation_id: string | null;
  status: MessageState;
  inserted: boolean;
}

interface PendingRow {
  tenant_id: string;
  channel_id: string;
  provider: string;
  provider_message_id: string;
  raw_status: MessageState;
  provider_timestamp: Date;
  error_code: string | null;
  error_title: string | null;
  error_details: string | null;
  reason: string | null;
  event_id: string | null;
  message_id: string;
}

const key = (channelId: string, pmid: string) => `${channelId}\u0000${pmid}`;
const first = <T>(xs: T[], f: (x: T) => string | null | undefined): string | null => {
  for (const x of xs) {
    const v = f(x);
    if (v !== undefined && v !== null) return v;
  }
  return null;
};

/**
 * Applies status facts with a handful of set-based statements per batch, whatever its size: upsert the
 * messages (locking them in id order), add the timeline rows, move the statuses that move. Every call
 * runs inside the caller's transaction (the consumer's inbox transaction or the pending sweeper's).
 */
@Injectable()
export class TrackingService {
  /** Applies facts about known message ids (creating the message when first seen). */
  async apply(m: EntityManager, inputs: StatusInput[]): Promise<StatusChange[]> {
    if (inputs.length === 0) return [];
    const byId = new Map<string, StatusInput[]>();
    // The same id claimed by two tenants in one batch (a bug or an attack): one statement cannot upsert a
    // row twice, so the second tenant's facts go in a second round (where the tenant check refuses them).
    const later: StatusInput[] = [];
    for (const i of inputs) {
      const list = byId.get(i.messageId);
      if (!list) byId.set(i.messageId, [i]);
      else if (list[0].tenantId === i.tenantId) list.push(i);
      else later.push(i);
    }
    // Sorted ids: concurrent batches lock rows in the same order.
    const ids = [...byId.keys()].sort();
    const groups = ids.map((id) => byId.get(id)!);
    const rows: MessageRow[] = await m.query(
      `INSERT INTO ${S}.messages AS x (id, tenant_id, channel_id, provider, conversation_id, provider_message_id,
         status, status_rank, status_at, created_at)
       SELECT u.id, u.tenant_id, u.channel_id, u.provider, u.conversation_id, u.pmid, 'queued', 0, u.at, u.at
         FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::uuid[], $6::text[], $7::timestamptz[])
           AS u(id, tenant_id, channel_id, provider, conversation_id, pmid, at)
        ORDER BY u.id
       ON CONFLICT (id) DO UPDATE SET
         channel_id = COALESCE(x.channel_id, EXCLUDED.channel_id),
         provider = COALESCE(x.provider, EXCLUDED.provider),
         conversation_id = COALESCE(x.conversation_id, EXCLUDED.conversation_id),
         provider_message_id = COALESCE(x.provider_message_id, EXCLUDED.provider_message_id),
         created_at = LEAST(x.created_at, EXCLUDED.created_at)
       WHERE x.tenant_id = EXCLUDED.tenant_id
       RETURNING x.id, x.tenant_id, x.channel_id, x.provider, x.conversation_id, x.status, (x.xmax = 0) AS inserted`,
      [
        ids,
        groups.map((g) => g[0].tenantId),
        groups.map((g) => first(g, (i) => i.channelId)),
        groups.map((g) => first(g, (i) => i.provider)),
        groups.map((g) => first(g, (i) => i.conversationId)),
        groups.map((g) => first(g, (i) => i.providerMessageId)),
        groups.map((g) => new Date(Math.min(...g.map((i) => i.at.getTime())))),
      ],
    );

    const changes: StatusChange[] = [];
    const tl = { mid: [] as string[], tenant: [] as string[], status: [] as string[], source: [] as string[], ts: [] as Date[],
      reportable: [] as boolean[], applied: [] as boolean[], code: [] as (string | null)[], title: [] as (string | null)[],
      details: [] as (string | null)[], reason: [] as (string | null)[], eventId: [] as (string | null)[] };
    const upd = { id: [] as string[], status: [] as string[], rank: [] as number[], at: [] as Date[], reason: [] as (string | null)[],
      code: [] as (string | null)[], title: [] as (string | null)[], details: [] as (string | null)[], retryable: [] as (boolean | null)[] };

    for (const row of rows) {
      // Another tenant's message with the same id is never touched: the upsert returned nothing for it.
      const group = byId.get(row.id)!;
      const chosen = nextState({ status: row.status, provider: row.provider }, group);
      if (row.inserted && group.some((i) => i.source === 'send.requested')) {
        changes.push(this.change(row, null, 'queued', group.find((i) => i.source === 'send.requested')!.at));
      }
      for (const i of group) {
        tl.mid.push(row.id);
        tl.tenant.push(row.tenant_id);
        tl.status.push(i.status);
        tl.source.push(i.source);
        tl.ts.push(i.at);
        tl.reportable.push(canReport(row.provider, i.status));
        tl.applied.push(i === chosen || (i.status === 'queued' && row.inserted));
        tl.code.push(i.errorCode ?? null);
        tl.title.push(i.errorTitle ?? null);
        tl.details.push(i.errorDetails ?? null);
        tl.reason.push(i.reason ?? null);
        tl.eventId.push(i.eventId ?? null);
      }
      if (!chosen) continue;
      const cls = chosen.status === 'failed' ? classifyFailure(row.provider, chosen.errorCode, chosen.reason) : undefined;
      upd.id.push(row.id);
      upd.status.push(chosen.status);
      upd.rank.push(STATUS_RANK[chosen.status]);
      upd.at.push(chosen.at);
      upd.reason.push(cls?.reason ?? null);
      upd.retryable.push(cls?.retryable ?? null);
      upd.code.push(cls ? (chosen.errorCode ?? null) : null);
      upd.title.push(cls ? (chosen.errorTitle ?? null) : null);
      upd.details.push(cls ? (chosen.errorDetails ?? null) : null);
      const ch = this.change(row, row.status, chosen.status, chosen.at);
      if (cls) Object.assign(ch, { reason: cls.reason, retryable: cls.retryable, errorCode: chosen.errorCode ?? null, errorTitle: chosen.errorTitle ?? null });
      changes.push(ch);
    }

    if (tl.mid.length > 0) {
      await m.query(
        `INSERT INTO ${S}.message_events (message_id, tenant_id, raw_status, source, provider_timestamp, reportable, applied,
           error_code, error_title, error_details, reason, event_id)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bool[], $7::bool[],
           $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
         ON CONFLICT (message_id, raw_status, provider_timestamp) DO NOTHING`,
        [tl.mid, tl.tenant, tl.status, tl.source, tl.ts, tl.reportable, tl.applied, tl.code, tl.title, tl.details, tl.reason, tl.eventId],
      );
    }
    if (upd.id.length > 0) {
      await m.query(
        `UPDATE ${S}.messages AS x SET status = u.status, status_rank = u.rank, status_at = u.at,
           failure_reason = u.reason, failure_code = u.code, failure_title = u.title, failure_details = u.details,
           retryable = u.retryable, updated_at = now()
         FROM unnest($1::uuid[], $2::text[], $3::smallint[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bool[])
           AS u(id, status, rank, at, reason, code, title, details, retryable)
         WHERE x.id = u.id`,
        [upd.id, upd.status, upd.rank, upd.at, upd.reason, upd.code, upd.title, upd.details, upd.retryable],
      );
    }
    if (later.length > 0) changes.push(...(await this.apply(m, later)));
    return changes;
  }

  /**
   * Applies statuses known by the provider's message id. Those whose message is not known yet wait in
   * `pending_statuses` until `chat.message.sent` (or the sweeper) links them.
   */
  async applyByProviderId(m: EntityManager, inputs: ProviderStatusInput[]): Promise<StatusChange[]> {
    if (inputs.length === 0) return [];
    const keys = [...new Map(inputs.map((i) => [key(i.channelId, i.providerMessageId), i])).values()];
    const found: Array<{ id: string; tenant_id: string; channel_id: string; provider_message_id: string }> = await m.query(
      `SELECT x.id, x.tenant_id, x.channel_id, x.provider_message_id
         FROM unnest($1::uuid[], $2::text[]) AS k(channel_id, pmid)
         JOIN ${S}.messages x ON x.channel_id = k.channel_id AND x.provider_message_id = k.pmid`,
      [keys.map((k) => k.channelId), keys.map((k) => k.providerMessageId)],
    );
    const known = new Map(found.map((f) => [key(f.channel_id, f.provider_message_id), f]));
    const resolved: StatusInput[] = [];
    const waiting: ProviderStatusInput[] = [];
    for (const i of inputs) {
      const f = known.get(key(i.channelId, i.providerMessageId));
      if (f && f.tenant_id === i.tenantId) resolved.push({ ...i, messageId: f.id });
      else if (!f) waiting.push(i);
      // else: a channel id claimed by another tenant; nothing to apply.
    }
    if (waiting.length > 0) {
      await m.query(
        `INSERT INTO ${S}.pending_statuses (tenant_id, channel_id, provider, provider_message_id, raw_status,
           provider_timestamp, error_code, error_title, error_details, reason, event_id)
         SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
           $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])`,
        [
          waiting.map((w) => w.tenantId), waiting.map((w) => w.channelId), waiting.map((w) => w.provider),
          waiting.map((w) => w.providerMessageId), waiting.map((w) => w.status), waiting.map((w) => w.at),
          waiting.map((w) => w.errorCode ?? null), waiting.map((w) => w.errorTitle ?? null),
          waiting.map((w) => w.errorDetails ?? null), waiting.map((w) => w.reason ?? null), waiting.map((w) => w.eventId ?? null),
        ],
      );
    }
    return this.apply(m, resolved);
  }

  /** Takes the waiting statuses of messages that have just become known. */
  async takePending(m: EntityManager, known: Array<{ tenantId: string; messageId: string; channelId: string; providerMessageId: string }>): Promise<StatusInput[]> {
    if (known.length === 0) return [];
    const rows: PendingRow[] = await m.query(
      // Wrapped in a SELECT: TypeORM answers a bare DELETE with [rows, count].
      `WITH d AS (
         DELETE FROM ${S}.pending_statuses p
          USING unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[]) AS k(tenant_id, message_id, channel_id, pmid)
          WHERE p.channel_id = k.channel_id AND p.provider_message_id = k.pmid AND p.tenant_id = k.tenant_id
         RETURNING p.*, k.message_id)
       SELECT * FROM d`,
      [known.map((k) => k.tenantId), known.map((k) => k.messageId), known.map((k) => k.channelId), known.map((k) => k.providerMessageId)],
    );
    return rows.map((r) => this.fromPending(r));
  }

  /**
   * Safety net for a status and its `sent` committing at the same moment in two transactions (neither
   * sees the other): links waiting statuses whose message is now known.
   */
  async sweepPending(m: EntityManager, limit = 1_000): Promise<StatusInput[]> {
    const rows: PendingRow[] = await m.query(
      `WITH d AS (
         DELETE FROM ${S}.pending_statuses p USING (
           SELECT p2.id, x.id AS message_id FROM ${S}.pending_statuses p2
             JOIN ${S}.messages x ON x.channel_id = p2.channel_id AND x.provider_message_id = p2.provider_message_id
                                  AND x.tenant_id = p2.tenant_id
            ORDER BY p2.id LIMIT $1 FOR UPDATE OF p2 SKIP LOCKED) AS s
          WHERE p.id = s.id
         RETURNING p.*, s.message_id)
       SELECT * FROM d`,
      [limit],
    );
    return rows.map((r) => this.fromPending(r));
  }

  async recordIntegrationFailures(m: EntityManager, inputs: IntegrationFailureInput[]): Promise<IntegrationFailureChange[]> {
    if (inputs.length === 0) return [];
    const rows: Array<{ delivery_id: string }> = await m.query(
      `INSERT INTO ${S}.integration_failures (tenant_id, delivery_id, integration_id, integration_name, event_type,
         conversation_id, http_status, error_class, error, attempts, failed_at)
       SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::uuid[], $7::int[],
         $8::text[], $9::text[], $10::int[], $11::timestamptz[])
       ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id`,
      [
        inputs.map((i) => i.tenantId), inputs.map((i) => i.deliveryId), inputs.map((i) => i.integrationId),
        inputs.map((i) => i.integrationName), inputs.map((i) => i.eventType), inputs.map((i) => i.conversationId ?? null),
        inputs.map((i) => i.httpStatus ?? null), inputs.map((i) => i.errorClass ?? null), inputs.map((i) => i.error ?? null),
        inputs.map((i) => i.attempts), inputs.map((i) => i.at),
      ],
    );
    const fresh = new Set(rows.map((r) => r.delivery_id));
    return inputs
      .filter((i) => fresh.has(i.deliveryId))
      .map((i) => ({
        kind: 'integration_failure' as const,
        tenantId: i.tenantId,
        deliveryId: i.deliveryId,
        integrationName: i.integrationName,
        errorClass: i.errorClass ?? null,
        error: i.error ?? null,
        httpStatus: i.httpStatus ?? null,
        at: i.at.toISOString(),
      }));
  }

  /** Announces changes to every replica's live streams; PostgreSQL delivers them after commit only. */
  async notify(m: EntityManager, changes: LiveChange[]): Promise<void> {
    if (changes.length === 0) return;
    const payloads: string[] = [];
    let chunk: string[] = [];
    let size = 2;
    for (const c of changes) {
      const s = JSON.stringify(c);
      if (chunk.length > 0 && size + s.length + 1 > NOTIFY_MAX_BYTES) {
        payloads.push(`[${chunk.join(',')}]`);
        chunk = [];
        size = 2;
      }
      chunk.push(s);
      size += s.length + 1;
    }
    if (chunk.length) payloads.push(`[${chunk.join(',')}]`);
    await m.query(`SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, [CHANGES_CHANNEL, payloads]);
  }

  private fromPending(r: PendingRow): StatusInput {
    return {
      tenantId: r.tenant_id,
      messageId: r.message_id,
      channelId: r.channel_id,
      provider: r.provider,
      providerMessageId: r.provider_message_id,
      status: r.raw_status,
      at: new Date(r.provider_timestamp),
      source: 'status',
      errorCode: r.error_code,
      errorTitle: r.error_title,
      errorDetails: r.error_details,
      reason: r.reason,
      eventId: r.event_id,
    };
  }

  private change(row: MessageRow, previous: MessageState | null, status: MessageState, at: Date): StatusChange {
    return {
      kind: 'status',
      tenantId: row.tenant_id,
      messageId: row.id,
      channelId: row.channel_id,
      provider: row.provider,
      conversationId: row.conversation_id,
      previousStatus: previous,
      status,
      at: at.toISOString(),
    };
  }
}
