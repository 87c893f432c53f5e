import { Injectable } from '@nestjs/common';
import type { MessageState } from '@elo/contracts';
import { createLogger } from '@elo/observability';
import { NOTIFY_MAX_BYTES, PostCommitNotifier } from '@elo/persistence';
import { DataSource, type EntityManager } from 'typeorm';
import { classifyFailure, type FailureReason } from './failure-classifier';
import { canReport, nextState, STATUS_RANK } from './status-rules';

export const SCHEMA = 'message_status';
const S = `"${SCHEMA}"`;
/** LISTEN/NOTIFY channel carrying applied changes to every replica's live streams. */
export const CHANGES_CHANNEL = `elo_changes_${SCHEMA}`;

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
  /** The provider's raw error text; published in `message.failed`, left out of live payloads (size). */
  errorDetails?: string | null;
  /**
   * The events behind the move: first the one whose fact it took, then the message's other facts of the batch.
   * Its published events carry the first one's correlation id the consumer knows; left out of live payloads.
   */
  causes?: string[];
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
  /** Set when a later success of the delivery resolved this failure (it leaves the board). */
  resolvedAt?: string;
}

/** A delivery that succeeded (`integration.delivery.succeeded`), at the time of that success. */
export interface IntegrationSuccessInput {
  tenantId: string;
  deliveryId: string;
  at: Date;
  /** Attempts made, counted across resends: 1 means no attempt of the delivery failed before, so no failure came before it. */
  attempts: number;
}

export type LiveChange = StatusChange | IntegrationFailureChange;

interface MessageRow {
  id: string;
  tenant_id: string;
  channel_id: string | null;
  provider: string | null;
  conversation_id: string | null;
  provider_message_id: string | null;
  status: MessageState;
  created_at: Date;
  /** Where this version of the row is: the move updates it there (see applyToRows). */
  ctid: string;
}

/** The message a change is about, as the change describes it. */
interface ChangeSubject {
  id: string;
  tenantId: string;
  channelId: string | null;
  provider: string | null;
  conversationId: string | null;
}

const ROW_COLUMNS = 'id, tenant_id, channel_id, provider, conversation_id, provider_message_id, status, created_at, ctid';

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

/**
 * When `xs` say their message was created, in ms: the earliest send request or send among them (Elo's own clocks);
 * a provider's status timestamp only for a message nothing else has told of yet (`statusesToo`, when it is created),
 * never to move it earlier: a bogus one (epoch 0) took the message out of every time range. Infinity: no say.
 */
function createdMs(xs: StatusInput[], statusesToo: boolean): number {
  let min = Infinity;
  let status = Infinity;
  for (const i of xs) {
    if (i.source === 'status') status = Math.min(status, i.at.getTime());
    else min = Math.min(min, i.at.getTime());
  }
  return min === Infinity && statusesToo ? status : min;
}

/**
 * Facts per message id. The same id claimed by two tenants in one batch (a bug or an attack) cannot be
 * handled by one statement: the second tenant's facts go in a second round (where the tenant check
 * refuses them).
 */
function groupById(inputs: StatusInput[]): { groups: Map<string, StatusInput[]>; later: StatusInput[] } {
  const groups = new Map<string, StatusInput[]>();
  const later: StatusInput[] = [];
  for (const i of inputs) {
    const list = groups.get(i.messageId);
    if (!list) groups.set(i.messageId, [i]);
    else if (list[0].tenantId === i.tenantId) list.push(i);
    else later.push(i);
  }
  return { groups, later };
}

/**
 * Values by channel id, then provider message id: a batch looks each status up three times, and a
 * joined key string would be built, flattened and hashed every time.
 */
class ByProviderId<T> {
  private readonly byChannel = new Map<string, Map<string, T>>();

  get(channelId: string, pmid: string): T | undefined {
    return this.byChannel.get(channelId)?.get(pmid);
  }

  set(channelId: string, pmid: string, value: T): void {
    let m = this.byChannel.get(channelId);
    if (!m) this.byChannel.set(channelId, (m = new Map()));
    m.set(pmid, value);
  }

  *values(): IterableIterator<T> {
    for (const m of this.byChannel.values()) yield* m.values();
  }
}

/**
 * A PostgreSQL array literal of values that never need quoting (ids read from the database, state
 * names, ISO timestamps, booleans, numbers): joined at once instead of escaped value by value by the
 * driver, which also formats every Date in local time.
 */
function plainArray(values: Array<string | number | boolean | null>): string {
  let out = '{';
  for (let k = 0; k < values.length; k++) {
    const v = values[k];
    out += (k ? ',' : '') + (v === null ? 'NULL' : String(v));
  }
  return `${out}}`;
}
const first = <T>(xs: T[], f: (x: T) => string | null | undefined): string | null => {
  for (const x of xs) {
    const v = f(x);
    if (v !== undefined && v !== null) return v;
  }
  return null;
};

/**
 * Changes as JSON arrays, as few as fit under the NOTIFY payload limit. The limit is in bytes of UTF-8, not
 * in characters: a payload over it fails the whole pg_notify statement, and with it every payload flushed
 * alongside (other batches', other tenants').
 */
/** The event ids behind a move: the fact it took first, then the message's other facts. */
function causes(taken: StatusInput, group: StatusInput[]): string[] {
  const ids: string[] = [];
  for (const i of [taken, ...group]) if (i.eventId && !ids.includes(i.eventId)) ids.push(i.eventId);
  return ids;
}

function livePayloads(changes: LiveChange[]): string[] {
  const payloads: string[] = [];
  let chunk: string[] = [];
  let size = 2;
  for (const c of changes) {
    // The provider's free text could take a payload past NOTIFY's limit; streams do not show it.
    let s = JSON.stringify(c.kind === 'status' ? { ...c, errorDetails: undefined, causes: undefined } : c);
    let bytes = Buffer.byteLength(s);
    // A title or an integration's error long enough to fill a payload alone goes too (`GET /messages/{id}` has it).
    if (bytes + 2 > NOTIFY_MAX_BYTES) {
      s = JSON.stringify(c.kind === 'status' ? { ...c, errorDetails: undefined, errorTitle: undefined, causes: undefined } : { ...c, error: null });
      bytes = Buffer.byteLength(s);
      // Still too long (a code or a name of kilobytes): this one change is not streamed, the others are.
      if (bytes + 2 > NOTIFY_MAX_BYTES) continue;
    }
    if (chunk.length > 0 && size + bytes + 1 > NOTIFY_MAX_BYTES) {
      payloads.push(`[${chunk.join(',')}]`);
      chunk = [];
      size = 2;
    }
    chunk.push(s);
    size += bytes + 1;
  }
  if (chunk.length) payloads.push(`[${chunk.join(',')}]`);
  return payloads;
}

/**
 * Applies status facts with a handful of set-based statements per batch, whatever its size: upsert the
 * messages (locking them in id order), then add the timeline rows, move the statuses that move and announce
 * the moves to live streams in one statement. Every call runs inside the caller's transaction (the
 * consumer's inbox transaction or the pending sweeper's); the caller publishes the returned changes.
 */
@Injectable()
export class TrackingService {
  private readonly notifier: PostCommitNotifier;

  constructor(ds: DataSource) {
    const logger = createLogger('message-status').child({ component: 'tracking' });
    this.notifier = new PostCommitNotifier(ds, (err) => logger.warn({ err: err.message }, 'live NOTIFY failed; streams miss these changes'));
  }

  /** Applies facts about message ids, creating a message when first seen (the sweeper's path). */
  async apply(m: EntityManager, inputs: StatusInput[]): Promise<StatusChange[]> {
    if (inputs.length === 0) return [];
    const { groups, later } = groupById(inputs);
    const ids = [...groups.keys()].sort();
    const fresh = await this.insertNew(m, ids, groups);
    const rows: MessageRow[] = await m.query(
      `SELECT ${ROW_COLUMNS} FROM ${S}.messages WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
      [ids],
    );
    const changes = await this.applyToRows(m, rows, groups, fresh);
    if (later.length > 0) changes.push(...(await this.apply(m, later)));
    return changes;
  }

  /** Creates the messages first seen now, as queued, in id order (concurrent transactions take row locks in the same order); returns their ids. */
  private async insertNew(m: EntityManager, ids: string[], groups: Map<string, StatusInput[]>): Promise<Set<string>> {
    const inserted: Array<{ id: string }> = await m.query(
      `INSERT INTO ${S}.messages (id, tenant_id, channel_id, provider, conversation_id, provider_message_id,
         status, status_rank, status_at, created_at)
       SELECT u.id, u.tenant_id, u.channel_id,
              -- A channel has one provider: a message queued on a channel that has sent before takes it now, not
              -- only once it is sent (so a provider filter finds queued messages too). One probe of the
              -- (channel_id, provider_message_id) index, only for a message that names a channel and no provider.
              coalesce(u.provider, (SELECT o.provider FROM ${S}.messages o
                                     WHERE o.channel_id = u.channel_id AND o.provider_message_id IS NOT NULL
                                       AND o.tenant_id = u.tenant_id AND o.provider IS NOT NULL LIMIT 1)),
              u.conversation_id, u.pmid, 'queued', 0, u.at, u.at
         FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::uuid[], $6::text[], $7::timestamptz[])
           AS u(id, tenant_id, channel_id, provider, conversation_id, pmid, at)
        ORDER BY u.id
       ON CONFLICT (id) DO NOTHING
       RETURNING id`,
      [
        ids,
        ids.map((id) => groups.get(id)![0].tenantId),
        ids.map((id) => first(groups.get(id)!, (i) => i.channelId)),
        ids.map((id) => first(groups.get(id)!, (i) => i.provider)),
        ids.map((id) => first(groups.get(id)!, (i) => i.conversationId)),
        ids.map((id) => first(groups.get(id)!, (i) => i.providerMessageId)),
        plainArray(ids.map((id) => new Date(createdMs(groups.get(id)!, true)).toISOString())),
      ],
    );
    return new Set(inserted.map((r) => r.id));
  }

  /**
   * The heart of it: given the locked rows and the facts about each, write the timeline, move the
   * statuses that move and announce the moves, in one statement.
   */
  private async applyToRows(
    m: EntityManager,
    rows: MessageRow[],
    groups: Map<string, StatusInput[]>,
    fresh: Set<string>,
  ): Promise<StatusChange[]> {
    const changes: StatusChange[] = [];
    const tl = { mid: [] as string[], tenant: [] as string[], status: [] as string[], source: [] as string[], ts: [] as string[],
      reportable: [] as boolean[], applied: [] as boolean[], code: [] as (string | null)[], title: [] as (string | null)[],
      details: [] as (string | null)[], reason: [] as (string | null)[], eventId: [] as (string | null)[] };
    const upd = { id: [] as string[], status: [] as (string | null)[], rank: [] as (number | null)[], at: [] as (string | null)[],
      reason: [] as (string | null)[], code: [] as (string | null)[], title: [] as (string | null)[], details: [] as (string | null)[],
      retryable: [] as (boolean | null)[], channel: [] as (string | null)[], provider: [] as (string | null)[],
      conversation: [] as (string | null)[], pmid: [] as (string | null)[], created: [] as (string | null)[], ctid: [] as string[] };

    for (const row of rows) {
      const group = groups.get(row.id);
      // Another tenant's message with the same id is never touched.
      if (!group || group[0].tenantId !== row.tenant_id) continue;
      const isNew = fresh.has(row.id);
      // Fill what an earlier fact did not know (a queued message learns its channel when sent).
      const fill = {
        channel: row.channel_id ? null : first(group, (i) => i.channelId),
        provider: row.provider ? null : first(group, (i) => i.provider),
        conversation: row.conversation_id ? null : first(group, (i) => i.conversationId),
        pmid: row.provider_message_id ? null : first(group, (i) => i.providerMessageId),
      };
      const created = createdMs(group, false);
      const earlier = created < new Date(row.created_at).getTime() ? new Date(created).toISOString() : null;
      const provider = row.provider ?? fill.provider;
      const chosen = nextState({ status: row.status, provider }, group);
      const view: ChangeSubject = { id: row.id, tenantId: row.tenant_id, channelId: row.channel_id ?? fill.channel, provider,
        conversationId: row.conversation_id ?? fill.conversation };
      const queued = isNew ? group.find((i) => i.source === 'send.requested') : undefined;
      if (queued) changes.push(this.change(view, null, 'queued', queued.at.toISOString(), causes(queued, group)));
      let chosenAt = '';
      for (const i of group) {
        const at = i.at.toISOString();
        if (i === chosen) chosenAt = at;
        tl.mid.push(row.id);
        tl.tenant.push(row.tenant_id);
        tl.status.push(i.status);
        tl.source.push(i.source);
        tl.ts.push(at);
        tl.reportable.push(canReport(provider, i.status));
        tl.applied.push(i === chosen || i === queued);
        tl.code.push(i.errorCode ?? null);
        tl.title.push(i.errorTitle ?? null);
        tl.details.push(i.errorDetails ?? null);
        tl.reason.push(i.reason ?? null);
        tl.eventId.push(i.eventId ?? null);
      }
      const fills = fill.channel || fill.provider || fill.conversation || fill.pmid || earlier;
      if (!chosen && !fills) continue;
      const cls = chosen?.status === 'failed' ? classifyFailure(provider, chosen.errorCode, chosen.reason) : undefined;
      upd.id.push(row.id);
      upd.ctid.push(`"${row.ctid}"`);
      upd.status.push(chosen?.status ?? null);
      upd.rank.push(chosen ? STATUS_RANK[chosen.status] : null);
      upd.at.push(chosen ? chosenAt : null);
      upd.reason.push(cls?.reason ?? null);
      upd.retryable.push(cls?.retryable ?? null);
      upd.code.push(cls ? (chosen!.errorCode ?? null) : null);
      upd.title.push(cls ? (chosen!.errorTitle ?? null) : null);
      upd.details.push(cls ? (chosen!.errorDetails ?? null) : null);
      upd.channel.push(fill.channel);
      upd.provider.push(fill.provider);
      upd.conversation.push(fill.conversation);
      upd.pmid.push(fill.pmid);
      upd.created.push(earlier);
      if (!chosen) continue;
      const ch = this.change(view, row.status, chosen.status, chosenAt, causes(chosen, group));
      if (cls) {
        Object.assign(ch, { reason: cls.reason, retryable: cls.retryable, errorCode: chosen.errorCode ?? null, errorTitle: chosen.errorTitle ?? null,
          errorDetails: chosen.errorDetails ?? null });
      }
      changes.push(ch);
    }

    if (tl.mid.length === 0) return changes;
    // One statement: the timeline rows and the moves (data-modifying WITH parts run to completion even
    // though nothing reads them); live streams hear of the moves once the transaction has committed.
    // A move updates its row where the lock statement found it (ctid): this transaction holds the row's
    // lock since then, so no other can have moved it, and a TID fetch costs one page where a lookup by id
    // walked the primary key (or, with the statistics of a small table, scanned it whole). The count of
    // rows moved is checked all the same: a row not found there fails the batch instead of losing a move.
    const [{ moved }]: Array<{ moved: number }> = await m.query(
      `WITH timeline AS (
         INSERT INTO ${S}.message_events (message_id, tenant_id, raw_status, source, provider_timestamp, reportable, applied,
           error_code, error_title, error_details, reason, event_id)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bool[], $7::bool[],
           $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
         ON CONFLICT (message_id, raw_status, provider_timestamp) DO NOTHING),
       moves AS (
         UPDATE ${S}.messages AS x SET
           status = COALESCE(u.status, x.status),
           status_rank = COALESCE(u.rank, x.status_rank),
           status_at = COALESCE(u.at, x.status_at),
           failure_reason = CASE WHEN u.status IS NULL THEN x.failure_reason ELSE u.reason END,
           failure_code = CASE WHEN u.status IS NULL THEN x.failure_code ELSE u.code END,
           failure_title = CASE WHEN u.status IS NULL THEN x.failure_title ELSE u.title END,
           failure_details = CASE WHEN u.status IS NULL THEN x.failure_details ELSE u.details END,
           retryable = CASE WHEN u.status IS NULL THEN x.retryable ELSE u.retryable END,
           channel_id = COALESCE(x.channel_id, u.channel_id),
           provider = COALESCE(x.provider, u.provider),
           conversation_id = COALESCE(x.conversation_id, u.conversation_id),
           provider_message_id = COALESCE(x.provider_message_id, u.pmid),
           created_at = LEAST(x.created_at, u.created),
           updated_at = now()
         FROM unnest($13::uuid[], $14::text[], $15::smallint[], $16::timestamptz[], $17::text[], $18::text[], $19::text[], $20::text[],
                     $21::bool[], $22::uuid[], $23::text[], $24::uuid[], $25::text[], $26::timestamptz[], $27::tid[])
           AS u(id, status, rank, at, reason, code, title, details, retryable, channel_id, provider, conversation_id, pmid, created, ctid)
         -- The ANY makes it a TID scan (a join alone is planned as a table scan).
         WHERE x.ctid = ANY($27::tid[]) AND x.ctid = u.ctid AND x.id = u.id
         RETURNING 1)
       SELECT count(*)::int AS moved FROM moves`,
      [plainArray(tl.mid), tl.tenant, plainArray(tl.status), plainArray(tl.source), plainArray(tl.ts), plainArray(tl.reportable),
        plainArray(tl.applied), tl.code, tl.title, tl.details, tl.reason, tl.eventId,
        plainArray(upd.id), plainArray(upd.status), plainArray(upd.rank), plainArray(upd.at), plainArray(upd.reason), upd.code, upd.title,
        upd.details, plainArray(upd.retryable), upd.channel, upd.provider, upd.conversation, upd.pmid, plainArray(upd.created), plainArray(upd.ctid)],
    );
    if (moved !== upd.id.length) throw new Error(`status moves: ${moved} of ${upd.id.length} locked messages found where they were locked`);
    this.notify(m, changes);
    return changes;
  }

  /**
   * Applies one delivered batch: facts known by Elo's message id (send requests, `sent`, statuses that
   * carry it) and statuses known only by the provider's message id. Every message row the batch needs
   * is locked by one statement, in id order (after the insert of the new ones, also in id order), so
   * batches in flight at once, on one replica or several, never wait on each other in a cycle.
   * Statuses whose message is not known yet wait in `pending_statuses` until a `sent` (or the sweeper)
   * links them. The inputs are the caller's to give away: a status applied by provider id gets its
   * message id set on it.
   */
  async applyBatch(m: EntityManager, byId: StatusInput[], byProviderId: ProviderStatusInput[]): Promise<StatusChange[]> {
    // Provider ids this batch's own `sent` events link to their messages.
    const links = new ByProviderId<StatusInput>();
    for (const i of byId) if (i.source === 'sent' && i.channelId && i.providerMessageId) links.set(i.channelId, i.providerMessageId, i);
    const early = await this.takePending(
      m,
      [...links.values()].map((i) => ({ tenantId: i.tenantId, messageId: i.messageId, channelId: i.channelId!, providerMessageId: i.providerMessageId! })),
    );
    const { groups, later } = groupById([...byId, ...early]);
    const ids = [...groups.keys()].sort();
    const fresh = ids.length > 0 ? await this.insertNew(m, ids, groups) : new Set<string>();
    const unique = new ByProviderId<ProviderStatusInput>();
    for (const i of byProviderId) unique.set(i.channelId, i.providerMessageId, i);
    const keys = [...unique.values()];
    const rows: MessageRow[] = await m.query(
      // Ids and provider-id lookups both as index probes (LIMIT 1 keeps each lookup on the unique index;
      // a join here was planned as a sort of the whole table).
      `SELECT ${ROW_COLUMNS} FROM ${S}.messages
        WHERE id = ANY($1::uuid[] || ARRAY(
          SELECT x.id FROM unnest($2::uuid[], $3::text[]) AS k(channel_id, pmid)
           CROSS JOIN LATERAL (SELECT id FROM ${S}.messages
                                WHERE channel_id = k.channel_id AND provider_message_id = k.pmid AND provider_message_id IS NOT NULL
                                LIMIT 1) AS x))
        ORDER BY id FOR UPDATE`,
      [ids, keys.map((k) => k.channelId), keys.map((k) => k.providerMessageId)],
    );
    const byKey = new ByProviderId<MessageRow>();
    for (const r of rows) if (r.channel_id && r.provider_message_id) byKey.set(r.channel_id, r.provider_message_id, r);
    const waiting: ProviderStatusInput[] = [];
    for (const i of byProviderId) {
      const row = byKey.get(i.channelId, i.providerMessageId);
      const link = row ? undefined : links.get(i.channelId, i.providerMessageId);
      const ownerId = row ? row.id : link?.messageId;
      if (ownerId === undefined) {
        waiting.push(i);
        continue;
      }
      // A channel id claimed by another tenant: nothing to apply.
      if ((row ? row.tenant_id : link!.tenantId) !== i.tenantId) continue;
      // The batch's own object (see above) takes its message id in place: copying every status costs more.
      const input = Object.assign(i, { messageId: ownerId });
      const group = groups.get(ownerId);
      if (!group) groups.set(ownerId, [input]);
      else if (group[0].tenantId === i.tenantId) group.push(input);
      else later.push(input);
    }
    if (waiting.length > 0) await this.wait(m, waiting);
    const changes = await this.applyToRows(m, rows, groups, fresh);
    if (later.length > 0) changes.push(...(await this.apply(m, later)));
    return changes;
  }

  private async wait(m: EntityManager, waiting: ProviderStatusInput[]): Promise<void> {
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

  /**
   * Takes the waiting statuses of messages that have just become known. Rows another transaction is
   * taking are skipped, never waited for: that one applies them (or, if it rolls back, the sweeper does).
   */
  async takePending(m: EntityManager, known: Array<{ tenantId: string; messageId: string; channelId: string; providerMessageId: string }>): Promise<StatusInput[]> {
    if (known.length === 0) return [];
    const rows: PendingRow[] = await m.query(
      // Wrapped in a SELECT: TypeORM answers a bare DELETE with [rows, count].
      `WITH d AS (
         DELETE FROM ${S}.pending_statuses p USING (
           SELECT p2.id, k.message_id
             FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[]) AS k(tenant_id, message_id, channel_id, pmid)
             JOIN ${S}.pending_statuses p2 ON p2.channel_id = k.channel_id AND p2.provider_message_id = k.pmid AND p2.tenant_id = k.tenant_id
              FOR UPDATE OF p2 SKIP LOCKED) AS s
          WHERE p.id = s.id
         RETURNING p.*, s.message_id)
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

  /**
   * Deletes statuses that have waited since before `before` for a message that never appeared, in
   * chunks of `chunk` rows, each its own short statement (run it outside a transaction).
   */
  async expirePending(m: EntityManager, before: Date, chunk = 10_000): Promise<number> {
    let total = 0;
    for (;;) {
      const [{ n }]: Array<{ n: number }> = await m.query(
        `WITH d AS (
           DELETE FROM ${S}.pending_statuses p USING (
             SELECT id FROM ${S}.pending_statuses WHERE received_at < $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) AS s
            WHERE p.id = s.id
           RETURNING 1)
         SELECT count(*)::int AS n FROM d`,
        [before, chunk],
      );
      total += n;
      if (n < chunk) return total;
    }
  }

  /**
   * Keeps each delivery's latest failure: a resent delivery keeps its id, and its next failure replaces the one on the
   * board (time, error, attempts) and is announced; a report no later than the one kept (a replay) changes nothing.
   * A success of the delivery later than the failure, handled before it (integration_successes), resolves it at once.
   */
  async recordIntegrationFailures(m: EntityManager, all: IntegrationFailureInput[]): Promise<IntegrationFailureChange[]> {
    if (all.length === 0) return [];
    // One row per delivery in the statement (ON CONFLICT DO UPDATE cannot touch a row twice): its latest failure.
    const latest = new Map<string, IntegrationFailureInput>();
    for (const i of all) {
      const seen = latest.get(i.deliveryId);
      if (!seen || i.at > seen.at) latest.set(i.deliveryId, i);
    }
    const inputs = [...latest.values()];
    await this.lockDeliveries(m, inputs.map((i) => i.deliveryId));
    const rows: Array<{ delivery_id: string; resolved_at: Date | null }> = await m.query(
      `INSERT INTO ${S}.integration_failures AS f (tenant_id, delivery_id, integration_id, integration_name, event_type,
         conversation_id, http_status, error_class, error, attempts, failed_at, resolved_at)
       SELECT i.*, (SELECT s.succeeded_at FROM ${S}.integration_successes s
                     WHERE s.delivery_id = i.delivery_id AND s.tenant_id = i.tenant_id AND s.succeeded_at > i.failed_at)
         FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::uuid[], $7::int[],
           $8::text[], $9::text[], $10::int[], $11::timestamptz[])
           AS i(tenant_id, delivery_id, integration_id, integration_name, event_type, conversation_id, http_status, error_class,
             error, attempts, failed_at)
       ON CONFLICT (delivery_id) DO UPDATE SET integration_name = EXCLUDED.integration_name, event_type = EXCLUDED.event_type,
         conversation_id = EXCLUDED.conversation_id, http_status = EXCLUDED.http_status, error_class = EXCLUDED.error_class,
         error = EXCLUDED.error, attempts = EXCLUDED.attempts, failed_at = EXCLUDED.failed_at, resolved_at = EXCLUDED.resolved_at
         WHERE f.tenant_id = EXCLUDED.tenant_id AND f.failed_at < EXCLUDED.failed_at
       RETURNING delivery_id, resolved_at`,
      [
        inputs.map((i) => i.tenantId), inputs.map((i) => i.deliveryId), inputs.map((i) => i.integrationId),
        inputs.map((i) => i.integrationName), inputs.map((i) => i.eventType), inputs.map((i) => i.conversationId ?? null),
        inputs.map((i) => i.httpStatus ?? null), inputs.map((i) => i.errorClass ?? null), inputs.map((i) => i.error ?? null),
        inputs.map((i) => i.attempts), inputs.map((i) => i.at),
      ],
    );
    const fresh = new Map(rows.map((r) => [r.delivery_id, r.resolved_at]));
    return inputs
      .filter((i) => fresh.has(i.deliveryId))
      .map((i) => {
        const resolvedAt = fresh.get(i.deliveryId);
        return {
          kind: 'integration_failure' as const,
          tenantId: i.tenantId,
          deliveryId: i.deliveryId,
          integrationName: i.integrationName,
          errorClass: i.errorClass ?? null,
          error: i.error ?? null,
          httpStatus: i.httpStatus ?? null,
          at: i.at.toISOString(),
          ...(resolvedAt ? { resolvedAt: new Date(resolvedAt).toISOString() } : {}),
        };
      });
  }

  /**
   * A delivery that succeeded after it had failed (a resend keeps its id): its failure is resolved, off the board,
   * and announced. A success no later than the failure kept (an older one, replayed) changes nothing, nor does a
   * later success of a failure already resolved. The latest success of a delivery that had failed attempts before it
   * is kept (integration_successes) for a failure handled after it; a success at the first attempt, the common case,
   * cannot come after a failure of its delivery (attempts count on across resends), so it is not kept.
   */
  async resolveIntegrationFailures(m: EntityManager, all: IntegrationSuccessInput[]): Promise<IntegrationFailureChange[]> {
    if (all.length === 0) return [];
    // One row per delivery (ON CONFLICT DO UPDATE cannot touch a row twice): its latest success.
    const kept = new Map<string, IntegrationSuccessInput>();
    for (const i of all) {
      if (i.attempts <= 1) continue;
      const seen = kept.get(i.deliveryId);
      if (!seen || i.at > seen.at) kept.set(i.deliveryId, i);
    }
    const keep = [...kept.values()];
    if (keep.length) await this.lockDeliveries(m, keep.map((i) => i.deliveryId));
    const rows: Array<{ tenant_id: string; delivery_id: string; integration_name: string; error_class: string | null; error: string | null;
      http_status: number | null; failed_at: Date; resolved_at: Date }> = await m.query(
      // Wrapped in a SELECT: TypeORM answers a bare UPDATE with [rows, count]. `kept` runs though nothing reads it.
      `WITH kept AS (
         INSERT INTO ${S}.integration_successes AS s (tenant_id, delivery_id, succeeded_at)
         SELECT * FROM unnest($4::text[], $5::uuid[], $6::timestamptz[])
         ON CONFLICT (delivery_id) DO UPDATE SET succeeded_at = EXCLUDED.succeeded_at
           WHERE s.tenant_id = EXCLUDED.tenant_id AND s.succeeded_at < EXCLUDED.succeeded_at),
       resolved AS (
         UPDATE ${S}.integration_failures AS f SET resolved_at = u.at
           -- The delivery's first success after its failure (a batch can hold several successes of it).
           FROM (SELECT s.tenant_id, s.delivery_id, min(s.at) AS at
                   FROM unnest($1::text[], $2::uuid[], $3::timestamptz[]) AS s(tenant_id, delivery_id, at)
                   JOIN ${S}.integration_failures x ON x.delivery_id = s.delivery_id AND x.tenant_id = s.tenant_id AND x.failed_at < s.at
                  GROUP BY 1, 2) AS u
          WHERE f.delivery_id = u.delivery_id AND f.tenant_id = u.tenant_id AND f.resolved_at IS NULL
         RETURNING f.tenant_id, f.delivery_id, f.integration_name, f.error_class, f.error, f.http_status, f.failed_at, f.resolved_at)
       SELECT * FROM resolved`,
      [
        all.map((i) => i.tenantId), all.map((i) => i.deliveryId), all.map((i) => i.at),
        keep.map((i) => i.tenantId), keep.map((i) => i.deliveryId), keep.map((i) => i.at),
      ],
    );
    return rows.map((r) => ({
      kind: 'integration_failure' as const,
      tenantId: r.tenant_id,
      deliveryId: r.delivery_id,
      integrationName: r.integration_name,
      errorClass: r.error_class,
      error: r.error,
      httpStatus: r.http_status,
      at: new Date(r.failed_at).toISOString(),
      resolvedAt: new Date(r.resolved_at).toISOString(),
    }));
  }

  /**
   * Makes a delivery's failure and its kept successes wait for each other's transactions (until commit), so the one
   * handled second sees the other: without it, a failure and a success of one delivery in concurrent batches each
   * missed the other, and the failure stayed on the board. Taken in key order, all in one statement before anything
   * is written, by both handlers, so two batches never wait on each other in a cycle.
   */
  private async lockDeliveries(m: EntityManager, deliveryIds: string[]): Promise<void> {
    await m.query(
      `SELECT pg_advisory_xact_lock(k)
         FROM (SELECT DISTINCT hashtextextended('elo:message-status:delivery:' || d, 0) AS k FROM unnest($1::text[]) AS d ORDER BY k) AS x`,
      [deliveryIds],
    );
  }

  /**
   * Announces changes to every replica's live streams once `m`'s transaction has committed (NOTIFY after
   * the commit, not inside it: see afterCommit). Status changes are announced by `apply` and `applyBatch`.
   */
  notify(m: EntityManager, changes: LiveChange[]): void {
    if (changes.length === 0) return;
    for (const p of livePayloads(changes)) this.notifier.notifyAfterCommit(m, CHANGES_CHANNEL, p);
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

  private change(m: ChangeSubject, previous: MessageState | null, status: MessageState, at: string, causes: string[]): StatusChange {
    return {
      kind: 'status',
      tenantId: m.tenantId,
      messageId: m.id,
      channelId: m.channelId,
      provider: m.provider,
      conversationId: m.conversationId,
      previousStatus: previous,
      status,
      at,
      causes,
    };
  }
}
