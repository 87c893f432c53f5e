import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { CloudEvent } from '@elo/contracts';
import { Outbox } from '@elo/messaging';
import { Groups, mayNeedStorable, storable } from '@elo/persistence';
import { SERVICE_CONFIG } from '@elo/platform';
import { DataSource, type EntityManager } from 'typeorm';
import type { ChannelRecord } from '../channels/channel.types';
import type { ChatIngressConfig } from '../config/chat-ingress.config';
import { STATUS_RANK, type InboundItem, type Normalised, type StatusItem } from './normalised';

const S = '"chat_ingress"';
/** Events per outbox statement (Outbox.addWith takes at most 1,000). */
const OUTBOX_CHUNK = 1_000;
/** Outbox.addWith's companion change when there is none to make. */
const NO_CHANGE = { sql: 'SELECT 1', params: [] };

/**
 * One statement stores a whole group (a database round trip costs about a millisecond here, far more on a
 * busy machine): the raw receipts, de-duplication of messages against stored ones, contacts (inserted or
 * read, no row locks), conversations (the open one, or a new one in the channel's bot queue), the messages,
 * the status receipts (ON CONFLICT DO NOTHING RETURNING tells repeats apart) and the forward-only status of
 * the outbound messages they name. Columns travel as arrays (unnest): a fixed number of bind parameters
 * whatever the group size. Inserts are ordered by key so concurrent groups take locks in the same order.
 * Rows come back tagged `m` (one per new message item) or `s` (one per new status). An `m` row also says
 * whether the open conversation's bot flow takes a location now (`flow_location`: its saved state has
 * `location` or `findme` and it sits in the bot queue), which marks a location message `flowAwaitsLocation`.
 */
const GROUP_SQL = `WITH rec AS (
  INSERT INTO ${S}.webhook_receipts (tenant_id, channel_id, provider, body, items)
  SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::int[])
), it AS (
  SELECT * FROM unnest($6::int[], $7::uuid[], $8::text[], $9::uuid[], $10::text[], $11::text[], $12::text[], $13::text[], $14::timestamptz[],
    $15::text[], $16::uuid[], $17::text[], $18::text[], $19::text[], $20::text[], $21::uuid[], $22::text[], $23::text[], $24::text[])
    AS x(k, id, tenant_id, channel_id, pmid, kind, status, body, ts, ckey, contact_id, phone, phone_alt, puid, name, conv_id, queue, bc, uid)
), fresh AS (
  SELECT it.* FROM it WHERE NOT EXISTS (
    SELECT 1 FROM ${S}.messages m WHERE m.channel_id = it.channel_id AND m.direction = 'in' AND m.provider_message_id = it.pmid)
), cx AS (
  -- A new contact takes its phone from the first item that has one (a customer's items may come with it and without).
  SELECT DISTINCT ON (channel_id, ckey) * FROM fresh WHERE ckey IS NOT NULL ORDER BY channel_id, ckey, phone IS NULL, k
), cins AS (
  INSERT INTO ${S}.contacts (id, tenant_id, channel_id, contact_key, phone, phone_alt, provider_user_id, name, business_connection_id)
  SELECT contact_id, tenant_id, channel_id, ckey, phone, phone_alt, puid, name, NULLIF(bc, '') FROM cx
  -- A contact with this WhatsApp user id committed after knownByUserId read (it waited for the id's lock meanwhile): no
  -- second contact; the item finds none under its key and the group is redone (SnapshotRace), finding that one.
  WHERE cx.uid IS NULL OR NOT EXISTS (SELECT 1 FROM ${S}.contacts c WHERE c.channel_id = cx.channel_id AND c.provider_user_id = cx.uid)
  ORDER BY channel_id, ckey
  ON CONFLICT (channel_id, contact_key) DO NOTHING
  RETURNING id, channel_id, contact_key, phone, phone_alt, provider_user_id, name, attributes, business_connection_id
), call AS (
  SELECT id, channel_id, contact_key, phone, phone_alt, provider_user_id, name, attributes, business_connection_id FROM cins
  UNION ALL
  SELECT c.id, c.channel_id, c.contact_key, c.phone, c.phone_alt, c.provider_user_id, c.name, c.attributes, c.business_connection_id
  FROM ${S}.contacts c JOIN cx ON c.channel_id = cx.channel_id AND c.contact_key = cx.ckey
), vopen AS (
  SELECT v.id, v.contact_id, v.queue,
    (v.flow_id IS NOT NULL AND (v.flow_state @> '{"location": true}' OR v.flow_state @> '{"findme": true}')) AS flow_location
  FROM ${S}.conversations v JOIN call ON v.contact_id = call.id WHERE v.status = 'open'
  -- Waits for a close in progress (its row lock) and then skips the closed row: the message opens a new
  -- conversation instead of landing, unanswered, in the one just closed.
  FOR SHARE OF v
), vins AS (
  INSERT INTO ${S}.conversations (id, tenant_id, channel_id, contact_id, queue, last_inbound_at)
  SELECT cx.conv_id, cx.tenant_id, cx.channel_id, call.id, cx.queue, now()
  FROM cx JOIN call ON call.channel_id = cx.channel_id AND call.contact_key = cx.ckey
  WHERE NOT EXISTS (SELECT 1 FROM vopen WHERE vopen.contact_id = call.id)
  ORDER BY call.id
  ON CONFLICT (contact_id) WHERE status = 'open' DO NOTHING
  RETURNING id, contact_id
), vall AS (
  SELECT id, contact_id, false AS created, queue, flow_location FROM vopen UNION ALL SELECT id, contact_id, true, NULL, false FROM vins
), mins AS (
  INSERT INTO ${S}.messages (id, tenant_id, channel_id, conversation_id, contact_id, direction, provider_message_id, kind, status, body, provider_timestamp)
  SELECT f.id, f.tenant_id, f.channel_id, vall.id, call.id, 'in', f.pmid, f.kind, f.status, f.body::jsonb, f.ts
  FROM fresh f LEFT JOIN call ON call.channel_id = f.channel_id AND call.contact_key = f.ckey LEFT JOIN vall ON vall.contact_id = call.id
  ORDER BY f.channel_id, f.pmid
  ON CONFLICT (channel_id, direction, provider_message_id) WHERE provider_message_id IS NOT NULL DO NOTHING
  RETURNING id, channel_id, provider_message_id, conversation_id
), sins AS (
  INSERT INTO ${S}.status_receipts (channel_id, provider_message_id, status, provider_timestamp)
  SELECT * FROM unnest($25::uuid[], $26::text[], $27::text[], $28::timestamptz[]) AS x(channel_id, pmid, status, ts) ORDER BY 1, 2, 3
  ON CONFLICT DO NOTHING
  RETURNING channel_id, provider_message_id, status
), supd AS (
  UPDATE ${S}.messages o SET status = best.status, status_rank = best.rank
  FROM (
    SELECT DISTINCT ON (channel_id, provider_message_id) channel_id, provider_message_id, status,
      CASE status WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 WHEN 'failed' THEN 4 END AS rank
    FROM sins ORDER BY channel_id, provider_message_id, CASE status WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 WHEN 'failed' THEN 4 END DESC
  ) best
  WHERE o.channel_id = best.channel_id AND o.provider_message_id = best.provider_message_id AND o.direction = 'out' AND o.status_rank < best.rank
)
SELECT 'm' AS t, f.k, (mins.id IS NOT NULL) AS stored, mins.conversation_id, call.id AS contact_id, call.phone, call.phone_alt, call.provider_user_id, call.name,
  call.attributes, call.business_connection_id, vall.created, COALESCE(vall.flow_location AND vall.queue = f.queue, false) AS flow_location, NULL::uuid AS s_channel, NULL::text AS s_pmid, NULL::text AS s_status, NULL::uuid AS s_message
FROM fresh f
LEFT JOIN mins ON mins.channel_id = f.channel_id AND mins.provider_message_id = f.pmid
LEFT JOIN call ON call.channel_id = f.channel_id AND call.contact_key = f.ckey
LEFT JOIN vall ON vall.contact_id = call.id
UNION ALL
SELECT 's', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, sins.channel_id, sins.provider_message_id, sins.status, o.id
FROM sins LEFT JOIN ${S}.messages o ON o.channel_id = sins.channel_id AND o.provider_message_id = sins.provider_message_id AND o.direction = 'out'`;

/** A row another transaction committed after this statement's snapshot was needed; the group is redone. */
class SnapshotRace extends Error {
  constructor() {
    super('contact or conversation created concurrently; retrying');
  }
}

/**
 * The advisory lock (key) of a WhatsApp customer's business-scoped user id on a channel, as SQL over two text expressions.
 * Whoever may create a contact for a user id holds it to the commit (IngestService.knownByUserId, OutboundService), so
 * the customer's messages with it alone and with phone and user id do not make two contacts.
 */
export const userIdLock = (channelId: string, userId: string): string => `hashtextextended('chat-contact:' || ${channelId} || ':' || ${userId}, 0)`;

/**
 * Deadlock or serialization failure between concurrent groups, or a contact created under the key a contact of the group
 * moves to (see messageEvents) after this group's snapshot: the whole group is simply redone.
 */
const retryable = (err: unknown): boolean => {
  const { code, constraint } = (err ?? {}) as { code?: string; constraint?: string };
  return err instanceof SnapshotRace || ['40P01', '40001'].includes(code ?? '') || (code === '23505' && constraint === 'contacts_channel_id_contact_key_key');
};

export interface IngestJob {
  channel: ChannelRecord;
  raw: string;
  normalised: Normalised;
}

export interface IngestResult {
  stored: number;
  duplicates: number;
  statuses: number;
}

type MessageItem = { job: number; ch: ChannelRecord; it: InboundItem };
/**
 * A contact as this group leaves it, and as it was read (`was`); `bc` is its Telegram business connection, `puid` its provider
 * user id, `key` the key it moves to (a WhatsApp contact found by user id moves to its phone's key), else null.
 */
type ContactChange = {
  id: string; name: string | null; phone: string | null; phoneAlt: string | null; bc: string | null; puid: string | null; key: string | null;
  was: { name: string | null; phone: string | null; bc: string | null; puid: string | null };
};
type StatusRow = { job: number; ch: ChannelRecord; s: StatusItem & { providerMessageId: string } };
type GroupRow = {
  t: 'm' | 's'; k: number | null; stored: boolean | null; conversation_id: string | null; contact_id: string | null; phone: string | null; phone_alt: string | null;
  provider_user_id: string | null; name: string | null; attributes: Record<string, string> | null; business_connection_id: string | null; created: boolean | null;
  /** The open conversation's bot flow takes a location now (FlowState `location` or `findme`, in the bot queue). */
  flow_location: boolean | null;
  s_channel: string | null; s_pmid: string | null; s_status: string | null; s_message: string | null;
};

/**
 * Stores verified webhooks durably: the raw payload, contacts, conversations, messages, statuses and
 * their outbox events, all in one transaction. Concurrent webhooks share the transaction (group commit,
 * see Groups): a group is written with one set-based statement plus the outbox insert, and every request
 * of the group is answered after that commit; a failed group is redone one webhook at a time.
 */
@Injectable()
export class IngestService {
  private readonly groups: Groups<IngestJob, IngestResult>;

  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
    @Inject(SERVICE_CONFIG) config: ChatIngressConfig,
  ) {
    this.groups = new Groups((jobs) => this.tx(jobs), {
      maxGroup: config.INGEST_MAX_GROUP,
      lanes: config.INGEST_CONCURRENCY,
      lingerMs: config.INGEST_LINGER_MS,
    });
  }

  /**
   * PostgreSQL text and jsonb cannot hold U+0000 or a lone surrogate, which JSON can carry: they become
   * U+FFFD here (storable), before anything is stored or published, so the events carry what is stored and
   * one such string cannot fail the webhook with its neighbours.
   */
  ingest(job: IngestJob): Promise<IngestResult> {
    return this.groups.submit(mayNeedStorable(job.raw) ? { ...job, normalised: storable(job.normalised) } : job);
  }

  private async tx(jobs: IngestJob[]): Promise<IngestResult[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.ds.transaction((m) => this.store(m, jobs));
      } catch (err) {
        if (!retryable(err) || attempt >= 3) throw err;
      }
    }
  }

  /** Everything for a group of webhooks in the caller's transaction; returns one result per job. */
  async store(m: EntityManager, jobs: IngestJob[]): Promise<IngestResult[]> {
    const events: CloudEvent[] = [];
    const results: IngestResult[] = jobs.map(() => ({ stored: 0, duplicates: 0, statuses: 0 }));

    // Messages: repeats inside this group are dropped here; repeats of stored ones in SQL.
    const seen = new Set<string>();
    const items: MessageItem[] = [];
    jobs.forEach((j, job) => {
      for (const it of j.normalised.messages) {
        const k = `${j.channel.id}|${it.providerMessageId}`;
        if (seen.has(k)) { results[job].duplicates++; continue; }
        seen.add(k);
        items.push({ job, ch: j.channel, it });
      }
    });
    await this.knownByUserId(m, items);
    const statuses = await this.statusRows(m, jobs);

    const rows: GroupRow[] = await m.query(GROUP_SQL, [...receiptColumns(jobs), ...messageColumns(items), ...statusColumns(statuses)]);

    const messageRows = new Map<number, GroupRow>();
    const statusByKey = new Map(statuses.map((d) => [`${d.ch.id}|${d.s.providerMessageId}|${d.s.status}`, d]));
    for (const r of rows) {
      if (r.t === 'm') messageRows.set(r.k!, r);
      else this.statusEvent(statusByKey.get(`${r.s_channel}|${r.s_pmid}|${r.s_status}`)!, r, results, events);
    }
    const changed = this.messageEvents(items, messageRows, results, events);
    // The events and any contact changes (a new name, a phone the customer shared, a Telegram business connection, a WhatsApp
    // user id and the phone key) in one more statement, then the commit.
    if (!events.length && !changed.length) return results;
    const rename = changed.length
      ? {
          // Only what changed is written (null keeps the stored value), so an agent's edit made meanwhile stays.
          // A business connection that ends (the customer now writes to the bot itself) travels as '' (null keeps it).
          // A contact moves to its phone's key unless another contact holds it (one created after this snapshot: the unique
          // key fails the statement and the group is redone, see retryable).
          sql: `UPDATE ${S}.contacts c SET name = COALESCE(x.name, c.name), phone = COALESCE(x.phone, c.phone),
              phone_alt = CASE WHEN x.phone IS NULL THEN c.phone_alt ELSE x.phone_alt END,
              business_connection_id = CASE WHEN x.bc IS NULL THEN c.business_connection_id ELSE NULLIF(x.bc, '') END,
              provider_user_id = COALESCE(x.puid, c.provider_user_id),
              contact_key = CASE WHEN x.key IS NULL OR EXISTS (SELECT 1 FROM ${S}.contacts o WHERE o.channel_id = c.channel_id AND o.contact_key = x.key)
                THEN c.contact_key ELSE x.key END, updated_at = now()
            FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS x(id, name, phone, phone_alt, bc, puid, key)
            WHERE c.id = x.id`,
          params: [
            changed.map((x) => x.id), changed.map((x) => (x.name !== x.was.name ? x.name : null)),
            changed.map((x) => (x.phone !== x.was.phone ? x.phone : null)), changed.map((x) => (x.phone !== x.was.phone ? x.phoneAlt : null)),
            changed.map((x) => (x.bc !== x.was.bc ? (x.bc ?? '') : null)), changed.map((x) => (x.puid !== x.was.puid ? x.puid : null)),
            changed.map((x) => x.key),
          ],
        }
      : NO_CHANGE;
    for (let i = 0; i < Math.max(events.length, 1); i += OUTBOX_CHUNK) {
      await this.outbox.addWith(m, i === 0 ? rename : NO_CHANGE, events.slice(i, i + OUTBOX_CHUNK));
    }
    return results;
  }

  /**
   * Results and events of a group's message items (repeats are the rows SQL did not store); returns the contacts
   * to change: a new name, a phone a message carries that the contact lacks or had otherwise (a Telegram
   * customer sharing their own contact, who is known by then: contacts are only inserted in GROUP_SQL), the
   * Telegram business connection the customer now writes through (or none: to the bot itself), or the WhatsApp user id
   * a message carries beside the phone (a contact first known by phone alone records it, so the customer's messages with
   * the user id alone find it) and that phone's key (a contact found by the user id under another key, `uid:<id>`, moves
   * to it, so their messages with the phone alone find it).
   */
  private messageEvents(items: MessageItem[], byK: Map<number, GroupRow>, results: IngestResult[], events: CloudEvent[]): ContactChange[] {
    const changed = new Map<string, ContactChange>();
    const opened = new Set<string>();
    items.forEach(({ job, ch, it }, k) => {
      const r = byK.get(k);
      if (!r || !r.stored) { results[job].duplicates++; return; }
      results[job].stored++;
      if (it.state === 'invalid' || !it.contact) return;
      // A contact or conversation another transaction created after this statement's snapshot: redo.
      if (!r.contact_id || !r.conversation_id) throw new SnapshotRace();
      // What earlier items of the group changed on this contact holds for the later ones too.
      const prior = changed.get(r.contact_id);
      const bc = r.business_connection_id;
      const puid = r.provider_user_id;
      const now: ContactChange = prior
        ?? { id: r.contact_id, name: r.name, phone: r.phone, phoneAlt: r.phone_alt, bc, puid, key: null, was: { name: r.name, phone: r.phone, bc, puid } };
      if (it.contact.name && it.contact.name !== now.name) now.name = it.contact.name;
      if (it.contact.phone && it.contact.phone !== now.phone) Object.assign(now, { phone: it.contact.phone, phoneAlt: it.contact.phoneAlt ?? null });
      if (it.contact.businessConnectionId !== undefined) now.bc = it.contact.businessConnectionId;
      if (it.contact.userId) {
        now.puid = it.contact.userId;
        // A WhatsApp phone is its contact's key; the item's key is the contact's (knownByUserId).
        if (it.contact.phone && it.contact.key !== it.contact.phone) now.key = it.contact.phone;
      }
      if (prior || now.name !== r.name || now.phone !== r.phone || now.bc !== bc || now.puid !== puid || now.key) changed.set(r.contact_id, now);
      Object.assign(r, { name: now.name, phone: now.phone, business_connection_id: now.bc, provider_user_id: now.puid });
      const contact = contactIdentity(r);
      if (r.created && !opened.has(r.conversation_id)) {
        opened.add(r.conversation_id);
        events.push(this.outbox.event({
          type: 'chat.conversation.opened', tenantId: ch.tenantId, subject: r.conversation_id,
          data: { conversationId: r.conversation_id, channelId: ch.id, provider: ch.provider, contact, queue: ch.settings.botQueue },
        }));
      }
      events.push(this.outbox.event({
        type: 'chat.message.received', tenantId: ch.tenantId, subject: r.conversation_id,
        data: { channelId: ch.id, provider: ch.provider, conversationId: r.conversation_id, providerMessageId: it.providerMessageId, contact, message: it.message, providerTimestamp: it.providerTimestamp.toISOString(),
          ...(it.message.kind === 'location' && r.flow_location ? { flowAwaitsLocation: true } : {}) },
      }));
    });
    return [...changed.values()];
  }

  /**
   * One WhatsApp customer is one contact whichever way they write: with their business-scoped user id alone (a username, the
   * phone withheld: key `uid:<id>`) or with phone and user id (key: the phone), in either order. An item with a user id takes
   * the key of the contact stored under its own key, else of the first contact with that user id (known first by phone with
   * the id beside it, or by the id alone: that one then records the phone, see messageEvents); else the group's items of one
   * user id share the key of the first of them that has a phone, and the group's items with such a phone alone take the key
   * of its user id's contact. One query, only when an item with a user id came; it also takes the
   * user ids' advisory locks (userIdLock, held to the commit), so a transaction that creates a contact for a user id is
   * committed before another one reads for it, and GROUP_SQL redoes a group that read before that commit.
   */
  private async knownByUserId(m: EntityManager, items: MessageItem[]): Promise<void> {
    const uid = items.filter(({ it }) => it.state !== 'invalid' && it.contact?.userId);
    if (!uid.length) return;
    const known: Array<{ channel_id: string; uid: string; key: string; contact_key: string }> = await m.query(
      `WITH x AS (SELECT DISTINCT * FROM unnest($1::uuid[], $2::text[], $3::text[]) AS x(channel_id, uid, key)),
       locked AS (SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT DISTINCT ${userIdLock('x.channel_id', 'x.uid')} AS k FROM x ORDER BY k) l)
       SELECT x.channel_id, x.uid, x.key, COALESCE(own.contact_key, byid.contact_key) AS contact_key
       FROM x CROSS JOIN locked
       LEFT JOIN ${S}.contacts own ON own.channel_id = x.channel_id AND own.contact_key = x.key
       LEFT JOIN LATERAL (
         SELECT c.contact_key FROM ${S}.contacts c WHERE c.channel_id = x.channel_id AND c.provider_user_id = x.uid ORDER BY c.created_at, c.id LIMIT 1
       ) byid ON true`,
      [uid.map(({ ch }) => ch.id), uid.map(({ it }) => it.contact!.userId), uid.map(({ it }) => it.contact!.key)],
    );
    const keys = new Map(known.filter((k) => k.contact_key).map((k) => [`${k.channel_id}|${k.uid}|${k.key}`, k.contact_key]));
    const phoneKeys = new Map<string, string>();
    for (const { ch, it } of uid) {
      const k = `${ch.id}|${it.contact!.userId}`;
      if (it.contact!.phone && !phoneKeys.has(k)) phoneKeys.set(k, it.contact!.key);
    }
    const byPhone = new Map<string, string>();
    for (const x of uid) {
      const c = x.it.contact!;
      const key = keys.get(`${x.ch.id}|${c.userId}|${c.key}`) ?? phoneKeys.get(`${x.ch.id}|${c.userId}`) ?? c.key;
      if (key !== c.key) x.it = { ...x.it, contact: { ...c, key } };
      if (c.phone && key !== c.phone) byPhone.set(`${x.ch.id}|${c.phone}`, key);
    }
    // The group's items with that phone alone (no user id) go to that contact too, which moves to the phone's key only
    // with this group's commit (messageEvents).
    if (!byPhone.size) return;
    for (const x of items) {
      const c = x.it.state !== 'invalid' && !x.it.contact?.userId ? x.it.contact : undefined;
      const key = c && byPhone.get(`${x.ch.id}|${c.key}`);
      if (key) x.it = { ...x.it, contact: { ...c, key } };
    }
  }

  private statusEvent(d: StatusRow, r: GroupRow, results: IngestResult[], events: CloudEvent[]): void {
    results[d.job].statuses++;
    events.push(this.outbox.event({
      type: 'chat.message.status', tenantId: d.ch.tenantId, subject: r.s_message ?? d.s.providerMessageId,
      data: {
        ...(r.s_message ? { messageId: r.s_message } : {}), providerMessageId: d.s.providerMessageId, channelId: d.ch.id,
        provider: d.ch.provider, status: d.s.status, providerTimestamp: d.s.providerTimestamp.toISOString(), ...(d.s.error ? { error: d.s.error } : {}),
      },
    }));
  }

  /**
   * A group's statuses, one per (channel, message, status). Messenger watermarks are expanded first to
   * every message we sent that contact up to the watermark and not yet at that status (one query, only
   * when a watermark came).
   */
  private async statusRows(m: EntityManager, jobs: IngestJob[]): Promise<StatusRow[]> {
    const direct: StatusRow[] = [];
    const marks: Array<{ job: number; ch: ChannelRecord; s: StatusItem }> = [];
    jobs.forEach((j, job) => {
      for (const s of j.normalised.statuses) {
        if (s.watermark) marks.push({ job, ch: j.channel, s });
        else if (s.providerMessageId) direct.push({ job, ch: j.channel, s: s as StatusRow['s'] });
      }
    });
    if (marks.length) {
      const covered: Array<{ i: number; provider_message_id: string }> = await m.query(
        `SELECT x.i, o.provider_message_id
         FROM unnest($1::int[], $2::uuid[], $3::text[], $4::timestamptz[], $5::int[]) AS x(i, channel_id, contact_key, up_to, rank)
         JOIN ${S}.contacts ct ON ct.channel_id = x.channel_id AND ct.contact_key = x.contact_key
         JOIN ${S}.messages o ON o.contact_id = ct.id AND o.direction = 'out'
         WHERE o.provider_message_id IS NOT NULL AND o.sent_at <= x.up_to AND o.status_rank < x.rank AND o.status <> 'failed'`,
        [marks.map((_, i) => i), marks.map((w) => w.ch.id), marks.map((w) => w.s.watermark!.contactKey), marks.map((w) => w.s.watermark!.upTo.toISOString()), marks.map((w) => STATUS_RANK[w.s.status])],
      );
      for (const c of covered) {
        const w = marks[c.i];
        direct.push({ job: w.job, ch: w.ch, s: { providerMessageId: c.provider_message_id, status: w.s.status, providerTimestamp: w.s.providerTimestamp } });
      }
    }
    const uniq = new Map<string, StatusRow>();
    for (const d of direct) uniq.set(`${d.ch.id}|${d.s.providerMessageId}|${d.s.status}`, d);
    return [...uniq.values()];
  }
}

function receiptColumns(jobs: IngestJob[]): unknown[] {
  return [
    jobs.map((j) => j.channel.tenantId), jobs.map((j) => j.channel.id), jobs.map((j) => j.channel.provider), jobs.map((j) => j.raw),
    jobs.map((j) => j.normalised.messages.length + j.normalised.statuses.length),
  ];
}

function messageColumns(items: MessageItem[]): unknown[] {
  const cols: unknown[][] = Array.from({ length: 19 }, () => []);
  const contactIds = new Map<string, string>();
  items.forEach(({ ch, it }, k) => {
    const c = it.state !== 'invalid' ? it.contact : undefined;
    const ck = c ? `${ch.id}|${c.key}` : '';
    let contactId = c ? contactIds.get(ck) : undefined;
    if (c && !contactId) contactIds.set(ck, (contactId = randomUUID()));
    const body = it.state === 'received' ? it.message : { ...it.message, raw: it.raw, problem: it.problem };
    const row = [
      k, randomUUID(), ch.tenantId, ch.id, it.providerMessageId, it.message.kind, it.state, JSON.stringify(body), it.providerTimestamp.toISOString(),
      c?.key ?? null, contactId ?? null, c?.phone ?? null, c?.phoneAlt ?? null, c?.providerUserId ?? null, c?.name ?? null, c ? randomUUID() : null, ch.settings.botQueue,
      // Telegram business connection: null when the item does not tell, '' for none (the bot itself).
      c?.businessConnectionId === undefined ? null : (c.businessConnectionId ?? ''),
      c?.userId ?? null,
    ];
    row.forEach((v, i) => cols[i].push(v));
  });
  return cols;
}

function statusColumns(list: StatusRow[]): unknown[] {
  return [list.map((d) => d.ch.id), list.map((d) => d.s.providerMessageId), list.map((d) => d.s.status), list.map((d) => d.s.providerTimestamp.toISOString())];
}

export function contactIdentity(c: { phone: string | null; provider_user_id: string | null; name: string | null; attributes: Record<string, string> | null }) {
  const out: { phone?: string; providerUserId?: string; name?: string; attributes?: Record<string, string> } = {};
  if (c.phone) out.phone = c.phone;
  if (c.provider_user_id) out.providerUserId = c.provider_user_id;
  if (c.name) out.name = c.name;
  if (c.attributes && Object.keys(c.attributes).length) out.attributes = c.attributes;
  return out;
}
