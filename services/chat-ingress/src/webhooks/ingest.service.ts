import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { CloudEvent } from '@elo/contracts';
import { Outbox } from '@elo/messaging';
import { DataSource, type EntityManager } from 'typeorm';
import type { ChannelRecord } from '../channels/channel.types';
import { STATUS_RANK, type InboundItem, type Normalised, type StatusItem } from './normalised';

const S = '"chat_ingress"';
/** Webhooks stored together in one transaction at most (group commit). */
const MAX_GROUP = 128;
/** Transactions in flight at once (leaves pool connections for the API, consumers and relay). */
const MAX_IN_FLIGHT = 4;

const RECEIPTS_CTE = `INSERT INTO ${S}.webhook_receipts (tenant_id, channel_id, provider, body, items)
  SELECT x.tenant_id, x.channel_id, x.provider, x.body, x.items FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id text, channel_id uuid, provider text, body text, items int)`;

const RECEIPTS_ONLY = RECEIPTS_CTE;

const MESSAGES_SQL = `WITH rec AS (${RECEIPTS_CTE} RETURNING 1),
it AS (
  SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(k int, id uuid, tenant_id text, channel_id uuid, pmid text, kind text, status text, body jsonb, ts timestamptz,
    ckey text, contact_id uuid, phone text, phone_alt text, puid text, name text, conv_id uuid, queue text)
), fresh AS (
  SELECT it.* FROM it WHERE NOT EXISTS (
    SELECT 1 FROM ${S}.messages m WHERE m.channel_id = it.channel_id AND m.direction = 'in' AND m.provider_message_id = it.pmid)
), cx AS (
  SELECT DISTINCT ON (channel_id, ckey) * FROM fresh WHERE ckey IS NOT NULL ORDER BY channel_id, ckey, k
), cins AS (
  INSERT INTO ${S}.contacts (id, tenant_id, channel_id, contact_key, phone, phone_alt, provider_user_id, name)
  SELECT contact_id, tenant_id, channel_id, ckey, phone, phone_alt, puid, name FROM cx ORDER BY channel_id, ckey
  ON CONFLICT (channel_id, contact_key) DO NOTHING
  RETURNING id, channel_id, contact_key, phone, provider_user_id, name, attributes
), call AS (
  SELECT id, channel_id, contact_key, phone, provider_user_id, name, attributes FROM cins
  UNION ALL
  SELECT c.id, c.channel_id, c.contact_key, c.phone, c.provider_user_id, c.name, c.attributes
  FROM ${S}.contacts c JOIN cx ON c.channel_id = cx.channel_id AND c.contact_key = cx.ckey
), vopen AS (
  SELECT v.id, v.contact_id FROM ${S}.conversations v JOIN call ON v.contact_id = call.id WHERE v.status = 'open'
), vins AS (
  INSERT INTO ${S}.conversations (id, tenant_id, channel_id, contact_id, queue, last_inbound_at)
  SELECT cx.conv_id, cx.tenant_id, cx.channel_id, call.id, cx.queue, now()
  FROM cx JOIN call ON call.channel_id = cx.channel_id AND call.contact_key = cx.ckey
  WHERE NOT EXISTS (SELECT 1 FROM vopen WHERE vopen.contact_id = call.id)
  ON CONFLICT (contact_id) WHERE status = 'open' DO NOTHING
  RETURNING id, contact_id
), vall AS (
  SELECT id, contact_id, false AS created FROM vopen UNION ALL SELECT id, contact_id, true FROM vins
), mins AS (
  INSERT INTO ${S}.messages (id, tenant_id, channel_id, conversation_id, contact_id, direction, provider_message_id, kind, status, body, provider_timestamp)
  SELECT f.id, f.tenant_id, f.channel_id, vall.id, call.id, 'in', f.pmid, f.kind, f.status, f.body, f.ts
  FROM fresh f LEFT JOIN call ON call.channel_id = f.channel_id AND call.contact_key = f.ckey LEFT JOIN vall ON vall.contact_id = call.id
  ON CONFLICT (channel_id, direction, provider_message_id) WHERE provider_message_id IS NOT NULL DO NOTHING
  RETURNING id, channel_id, provider_message_id, conversation_id
)
SELECT f.k, (mins.id IS NOT NULL) AS stored, mins.conversation_id, call.id AS contact_id, call.phone, call.provider_user_id, call.name,
  call.attributes, vall.created, (SELECT count(*) FROM rec)::int AS receipts
FROM fresh f
LEFT JOIN mins ON mins.channel_id = f.channel_id AND mins.provider_message_id = f.pmid
LEFT JOIN call ON call.channel_id = f.channel_id AND call.contact_key = f.ckey
LEFT JOIN vall ON vall.contact_id = call.id`;

/** A row another transaction committed after this statement's snapshot was needed; the group is redone. */
class SnapshotRace extends Error {
  constructor() {
    super('contact or conversation created concurrently; retrying');
  }
}

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

interface Pending {
  job: IngestJob;
  resolve: (r: IngestResult) => void;
  reject: (e: unknown) => void;
}

/**
 * Stores verified webhooks durably: the raw payload, contacts, conversations, messages, statuses and
 * their outbox events, all in one transaction, with set-based statements. Concurrent webhooks are
 * grouped into one transaction (group commit); if a group fails, its webhooks are retried one by one
 * so one bad payload cannot fail its neighbours.
 */
@Injectable()
export class IngestService {
  private queue: Pending[] = [];
  private inFlight = 0;

  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
  ) {}

  ingest(job: IngestJob): Promise<IngestResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < MAX_IN_FLIGHT && this.queue.length) {
      const group = this.queue.splice(0, MAX_GROUP);
      this.inFlight++;
      void this.runGroup(group).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async tx(jobs: IngestJob[]): Promise<IngestResult[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.ds.transaction((m) => this.store(m, jobs));
      } catch (err) {
        if (!(err instanceof SnapshotRace) || attempt >= 3) throw err;
      }
    }
  }

  private async runGroup(group: Pending[]): Promise<void> {
    try {
      const results = await this.tx(group.map((p) => p.job));
      group.forEach((p, i) => p.resolve(results[i]));
    } catch (err) {
      if (group.length === 1) return group[0].reject(err);
      for (const p of group) {
        try {
          const [r] = await this.tx([p.job]);
          p.resolve(r);
        } catch (e) {
          p.reject(e);
        }
      }
    }
  }

  /** Everything for a group of webhooks; returns one result per job. */
  async store(m: EntityManager, jobs: IngestJob[]): Promise<IngestResult[]> {
    const events: CloudEvent[] = [];
    const results: IngestResult[] = jobs.map(() => ({ stored: 0, duplicates: 0, statuses: 0 }));

    const receipts = JSON.stringify(jobs.map((j) => ({ tenant_id: j.channel.tenantId, channel_id: j.channel.id, provider: j.channel.provider, body: j.raw, items: j.normalised.messages.length + j.normalised.statuses.length })));

    // Messages: repeats inside this group are dropped here; repeats of stored ones in SQL.
    type Item = { job: number; ch: ChannelRecord; it: InboundItem };
    const seen = new Set<string>();
    const items: Item[] = [];
    jobs.forEach((j, job) => {
      for (const it of j.normalised.messages) {
        const k = `${j.channel.id}|${it.providerMessageId}`;
        if (seen.has(k)) { results[job].duplicates++; continue; }
        seen.add(k);
        items.push({ job, ch: j.channel, it });
      }
    });
    if (items.length) await this.storeMessages(m, receipts, items, results, events);
    else await m.query(RECEIPTS_ONLY, [receipts]);

    await this.storeStatuses(m, jobs, results, events);
    await this.outbox.add(m, events);
    return results;
  }

  /**
   * One statement for a group's messages (a database round trip costs about a millisecond here): the raw
   * receipts, de-duplication against stored messages, contacts (inserted or read — no row locks),
   * conversations (the open one, or a new one in the channel's bot queue) and the messages.
   */
  private async storeMessages(m: EntityManager, receipts: string, items: Array<{ job: number; ch: ChannelRecord; it: InboundItem }>, results: IngestResult[], events: CloudEvent[]): Promise<void> {
    const contactIds = new Map<string, string>();
    const input = items.map(({ ch, it }, k) => {
      const c = it.state !== 'invalid' ? it.contact : undefined;
      const ck = c ? `${ch.id}|${c.key}` : '';
      if (c && !contactIds.has(ck)) contactIds.set(ck, randomUUID());
      return {
        k, id: randomUUID(), tenant_id: ch.tenantId, channel_id: ch.id, pmid: it.providerMessageId, kind: it.message.kind, status: it.state,
        body: it.state === 'received' ? it.message : { ...it.message, raw: it.raw, problem: it.problem }, ts: it.providerTimestamp.toISOString(),
        ckey: c?.key ?? null, contact_id: c ? contactIds.get(ck) : null, phone: c?.phone ?? null, phone_alt: c?.phoneAlt ?? null,
        puid: c?.providerUserId ?? null, name: c?.name ?? null, conv_id: c ? randomUUID() : null, queue: ch.settings.botQueue,
      };
    });
    const rows: Array<{ k: number; stored: boolean; conversation_id: string | null; contact_id: string | null; phone: string | null; provider_user_id: string | null; name: string | null; attributes: Record<string, string> | null; created: boolean | null }> =
      await m.query(MESSAGES_SQL, [receipts, JSON.stringify(input)]);
    const byK = new Map(rows.map((r) => [r.k, r]));
    const renamed = new Map<string, { id: string; name: string }>();
    const opened = new Set<string>();
    items.forEach(({ job, ch, it }, k) => {
      const r = byK.get(k);
      if (!r || !r.stored) { results[job].duplicates++; return; }
      results[job].stored++;
      if (it.state === 'invalid' || !it.contact) return;
      // A contact or conversation another transaction created after this statement's snapshot: redo.
      if (!r.contact_id || !r.conversation_id) throw new SnapshotRace();
      if (it.contact.name && it.contact.name !== r.name) {
        renamed.set(r.contact_id, { id: r.contact_id, name: it.contact.name });
        r.name = it.contact.name;
      }
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
        data: { channelId: ch.id, provider: ch.provider, conversationId: r.conversation_id, providerMessageId: it.providerMessageId, contact, message: it.message, providerTimestamp: it.providerTimestamp.toISOString() },
      }));
    });
    if (renamed.size) {
      await m.query(`UPDATE ${S}.contacts c SET name = x.name, updated_at = now() FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, name text) WHERE c.id = x.id`, [JSON.stringify([...renamed.values()])]);
    }
  }

  private async storeStatuses(m: EntityManager, jobs: IngestJob[], results: IngestResult[], events: CloudEvent[]): Promise<void> {
    type Row = { job: number; ch: ChannelRecord; s: StatusItem & { providerMessageId: string } };
    const direct: Row[] = [];
    const marks: Array<{ job: number; ch: ChannelRecord; s: StatusItem }> = [];
    jobs.forEach((j, job) => {
      for (const s of j.normalised.statuses) {
        if (s.watermark) marks.push({ job, ch: j.channel, s });
        else if (s.providerMessageId) direct.push({ job, ch: j.channel, s: s as Row['s'] });
      }
    });
    // Watermarks (Messenger): every message we sent to that contact up to the watermark, not yet at that status.
    if (marks.length) {
      const covered: Array<{ i: number; provider_message_id: string }> = await m.query(
        `SELECT x.i, o.provider_message_id
         FROM jsonb_to_recordset($1::jsonb) AS x(i int, channel_id uuid, contact_key text, up_to timestamptz, rank int)
         JOIN ${S}.contacts ct ON ct.channel_id = x.channel_id AND ct.contact_key = x.contact_key
         JOIN ${S}.messages o ON o.contact_id = ct.id AND o.direction = 'out'
         WHERE o.provider_message_id IS NOT NULL AND o.sent_at <= x.up_to AND o.status_rank < x.rank AND o.status <> 'failed'`,
        [JSON.stringify(marks.map((w, i) => ({ i, channel_id: w.ch.id, contact_key: w.s.watermark!.contactKey, up_to: w.s.watermark!.upTo.toISOString(), rank: STATUS_RANK[w.s.status] })))],
      );
      for (const c of covered) {
        const w = marks[c.i];
        direct.push({ job: w.job, ch: w.ch, s: { providerMessageId: c.provider_message_id, status: w.s.status, providerTimestamp: w.s.providerTimestamp } });
      }
    }
    if (!direct.length) return;
    const uniq = new Map<string, Row>();
    for (const d of direct) uniq.set(`${d.ch.id}|${d.s.providerMessageId}|${d.s.status}`, d);
    const list = [...uniq.values()];
    const inserted: Array<{ channel_id: string; provider_message_id: string; status: string; message_id: string | null; conversation_id: string | null }> = await m.query(
      `WITH ins AS (
         INSERT INTO ${S}.status_receipts (channel_id, provider_message_id, status, provider_timestamp)
         SELECT x.channel_id, x.pmid, x.status, x.ts FROM jsonb_to_recordset($1::jsonb) AS x(channel_id uuid, pmid text, status text, ts timestamptz)
         ON CONFLICT DO NOTHING
         RETURNING channel_id, provider_message_id, status, provider_timestamp
       ), upd AS (
         UPDATE ${S}.messages o SET status = best.status, status_rank = best.rank
         FROM (
           SELECT DISTINCT ON (channel_id, provider_message_id) channel_id, provider_message_id, status,
             CASE status WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 WHEN 'failed' THEN 4 END AS rank
           FROM ins ORDER BY channel_id, provider_message_id, CASE status WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 WHEN 'failed' THEN 4 END DESC
         ) best
         WHERE o.channel_id = best.channel_id AND o.provider_message_id = best.provider_message_id AND o.direction = 'out' AND o.status_rank < best.rank
         RETURNING o.id
       )
       SELECT ins.channel_id, ins.provider_message_id, ins.status, o.id AS message_id, o.conversation_id
       FROM ins LEFT JOIN ${S}.messages o ON o.channel_id = ins.channel_id AND o.provider_message_id = ins.provider_message_id AND o.direction = 'out'`,
      [JSON.stringify(list.map((d) => ({ channel_id: d.ch.id, pmid: d.s.providerMessageId, status: d.s.status, ts: d.s.providerTimestamp.toISOString() })))],
    );
    for (const r of inserted) {
      const d = uniq.get(`${r.channel_id}|${r.provider_message_id}|${r.status}`)!;
      results[d.job].statuses++;
      events.push(this.outbox.event({
        type: 'chat.message.status', tenantId: d.ch.tenantId, subject: r.message_id ?? r.provider_message_id,
        data: {
          ...(r.message_id ? { messageId: r.message_id } : {}), providerMessageId: r.provider_message_id, channelId: d.ch.id,
          provider: d.ch.provider, status: d.s.status, providerTimestamp: d.s.providerTimestamp.toISOString(), ...(d.s.error ? { error: d.s.error } : {}),
        },
      }));
    }
  }
}

export function contactIdentity(c: { phone: string | null; provider_user_id: string | null; name: string | null; attributes: Record<string, string> | null }) {
  const out: { phone?: string; providerUserId?: string; name?: string; attributes?: Record<string, string> } = {};
  if (c.phone) out.phone = c.phone;
  if (c.provider_user_id) out.providerUserId = c.provider_user_id;
  if (c.name) out.name = c.name;
  if (c.attributes && Object.keys(c.attributes).length) out.attributes = c.attributes;
  return out;
}
