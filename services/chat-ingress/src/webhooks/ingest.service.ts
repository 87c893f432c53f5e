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

interface ContactRow { id: string; channel_id: string; contact_key: string; phone: string | null; provider_user_id: string | null; name: string | null; attributes: Record<string, string> }

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

  private async runGroup(group: Pending[]): Promise<void> {
    try {
      const results = await this.ds.transaction((m) => this.store(m, group.map((p) => p.job)));
      group.forEach((p, i) => p.resolve(results[i]));
    } catch (err) {
      if (group.length === 1) return group[0].reject(err);
      for (const p of group) {
        try {
          const [r] = await this.ds.transaction((m) => this.store(m, [p.job]));
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

    await m.query(
      `INSERT INTO ${S}.webhook_receipts (tenant_id, channel_id, provider, body, items)
       SELECT x.tenant_id, x.channel_id, x.provider, x.body, x.items FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id text, channel_id uuid, provider text, body text, items int)`,
      [JSON.stringify(jobs.map((j) => ({ tenant_id: j.channel.tenantId, channel_id: j.channel.id, provider: j.channel.provider, body: j.raw, items: j.normalised.messages.length + j.normalised.statuses.length })))],
    );

    // Messages: drop repeats (already stored, or twice in this group) before touching contacts.
    type Item = { job: number; ch: ChannelRecord; it: InboundItem };
    const seen = new Set<string>();
    let items: Item[] = [];
    jobs.forEach((j, job) => {
      for (const it of j.normalised.messages) {
        const k = `${j.channel.id}|${it.providerMessageId}`;
        if (seen.has(k)) { results[job].duplicates++; continue; }
        seen.add(k);
        items.push({ job, ch: j.channel, it });
      }
    });
    if (items.length) {
      const existing: Array<{ k: string }> = await m.query(
        `SELECT m.channel_id || '|' || m.provider_message_id AS k FROM ${S}.messages m
         JOIN unnest($1::uuid[], $2::text[]) AS x(channel_id, pmid) ON m.channel_id = x.channel_id AND m.provider_message_id = x.pmid
         WHERE m.direction = 'in'`,
        [items.map((i) => i.ch.id), items.map((i) => i.it.providerMessageId)],
      );
      const dup = new Set(existing.map((e) => e.k));
      items = items.filter((i) => {
        if (!dup.has(`${i.ch.id}|${i.it.providerMessageId}`)) return true;
        results[i.job].duplicates++;
        return false;
      });
    }

    const withContact = items.filter((i) => i.it.contact && i.it.state !== 'invalid');
    const contacts = await this.upsertContacts(m, withContact);
    const conversations = await this.openConversations(m, withContact, contacts, events);

    if (items.length) {
      const rows = items.map(({ ch, it }) => {
        const contact = it.contact && it.state !== 'invalid' ? contacts.get(`${ch.id}|${it.contact.key}`) : undefined;
        return {
          id: randomUUID(), tenant_id: ch.tenantId, channel_id: ch.id,
          conversation_id: contact ? conversations.get(contact.id)?.id ?? null : null,
          contact_id: contact?.id ?? null,
          provider_message_id: it.providerMessageId, kind: it.message.kind, status: it.state,
          body: it.state === 'received' ? it.message : { ...it.message, raw: it.raw, problem: it.problem },
          provider_timestamp: it.providerTimestamp.toISOString(),
        };
      });
      const inserted: Array<{ id: string; channel_id: string; provider_message_id: string }> = await m.query(
        `INSERT INTO ${S}.messages (id, tenant_id, channel_id, conversation_id, contact_id, direction, provider_message_id, kind, status, body, provider_timestamp)
         SELECT x.id, x.tenant_id, x.channel_id, x.conversation_id, x.contact_id, 'in', x.provider_message_id, x.kind, x.status, x.body, x.provider_timestamp
         FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, tenant_id text, channel_id uuid, conversation_id uuid, contact_id uuid, provider_message_id text, kind text, status text, body jsonb, provider_timestamp timestamptz)
         ON CONFLICT (channel_id, direction, provider_message_id) WHERE provider_message_id IS NOT NULL DO NOTHING
         RETURNING id, channel_id, provider_message_id`,
        [JSON.stringify(rows)],
      );
      const stored = new Set(inserted.map((r) => `${r.channel_id}|${r.provider_message_id}`));
      rows.forEach((row, idx) => {
        const { job, ch, it } = items[idx];
        if (!stored.has(`${ch.id}|${it.providerMessageId}`)) { results[job].duplicates++; return; }
        results[job].stored++;
        if (!row.conversation_id || it.state === 'invalid') return;
        const contact = contacts.get(`${ch.id}|${it.contact!.key}`)!;
        events.push(this.outbox.event({
          type: 'chat.message.received', tenantId: ch.tenantId, subject: row.conversation_id,
          data: {
            channelId: ch.id, provider: ch.provider, conversationId: row.conversation_id, providerMessageId: it.providerMessageId,
            contact: contactIdentity(contact), message: it.message, providerTimestamp: row.provider_timestamp,
          },
        }));
      });
    }

    await this.storeStatuses(m, jobs, results, events);
    await this.outbox.add(m, events);
    return results;
  }

  private async upsertContacts(m: EntityManager, items: Array<{ ch: ChannelRecord; it: InboundItem }>): Promise<Map<string, ContactRow>> {
    const map = new Map<string, ContactRow>();
    if (!items.length) return map;
    const byKey = new Map<string, Record<string, unknown>>();
    for (const { ch, it } of items) {
      const c = it.contact!;
      const k = `${ch.id}|${c.key}`;
      const prev = byKey.get(k);
      byKey.set(k, {
        id: randomUUID(), tenant_id: ch.tenantId, channel_id: ch.id, contact_key: c.key, phone: c.phone ?? prev?.phone ?? null,
        phone_alt: c.phoneAlt ?? prev?.phone_alt ?? null, provider_user_id: c.providerUserId ?? prev?.provider_user_id ?? null, name: c.name ?? prev?.name ?? null,
      });
    }
    // No row locks on the hot path: insert the new contacts, read the known ones. A contact another
    // webhook inserted concurrently is invisible to this statement's snapshot; a second read finds it.
    const list = [...byKey.values()];
    const rows: ContactRow[] = await m.query(
      `WITH x AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, tenant_id text, channel_id uuid, contact_key text, phone text, phone_alt text, provider_user_id text, name text)
       ), ins AS (
         INSERT INTO ${S}.contacts (id, tenant_id, channel_id, contact_key, phone, phone_alt, provider_user_id, name)
         SELECT id, tenant_id, channel_id, contact_key, phone, phone_alt, provider_user_id, name FROM x ORDER BY channel_id, contact_key
         ON CONFLICT (channel_id, contact_key) DO NOTHING
         RETURNING id, channel_id, contact_key, phone, provider_user_id, name, attributes
       )
       SELECT * FROM ins
       UNION ALL
       SELECT c.id, c.channel_id, c.contact_key, c.phone, c.provider_user_id, c.name, c.attributes
       FROM ${S}.contacts c JOIN x ON c.channel_id = x.channel_id AND c.contact_key = x.contact_key`,
      [JSON.stringify(list)],
    );
    for (const r of rows) map.set(`${r.channel_id}|${r.contact_key}`, r);
    const missing = list.filter((c) => !map.has(`${c.channel_id}|${c.contact_key}`));
    if (missing.length) {
      const late: ContactRow[] = await m.query(
        `SELECT c.id, c.channel_id, c.contact_key, c.phone, c.provider_user_id, c.name, c.attributes FROM ${S}.contacts c
         JOIN unnest($1::uuid[], $2::text[]) AS x(channel_id, contact_key) ON c.channel_id = x.channel_id AND c.contact_key = x.contact_key`,
        [missing.map((c) => c.channel_id), missing.map((c) => c.contact_key)],
      );
      for (const r of late) map.set(`${r.channel_id}|${r.contact_key}`, r);
    }
    // Names (and phones for contacts first seen without one) change rarely: only those rows are updated.
    const changed = list.filter((c) => {
      const r = map.get(`${c.channel_id}|${c.contact_key}`);
      return r && ((c.name && c.name !== r.name) || (c.phone && !r.phone));
    });
    if (changed.length) {
      await m.query(
        `UPDATE ${S}.contacts c SET name = COALESCE(x.name, c.name), phone = COALESCE(c.phone, x.phone), phone_alt = COALESCE(c.phone_alt, x.phone_alt), updated_at = now()
         FROM jsonb_to_recordset($1::jsonb) AS x(channel_id uuid, contact_key text, name text, phone text, phone_alt text)
         WHERE c.channel_id = x.channel_id AND c.contact_key = x.contact_key`,
        [JSON.stringify(changed.map((c) => ({ channel_id: c.channel_id, contact_key: c.contact_key, name: c.name, phone: c.phone, phone_alt: c.phone_alt })))],
      );
      for (const c of changed) {
        const r = map.get(`${c.channel_id}|${c.contact_key}`)!;
        if (c.name) r.name = c.name as string;
        if (!r.phone && c.phone) r.phone = c.phone as string;
      }
    }
    return map;
  }

  /** The open conversation of each contact; contacts without one get a new one in the channel's bot queue. */
  private async openConversations(
    m: EntityManager,
    items: Array<{ ch: ChannelRecord; it: InboundItem }>,
    contacts: Map<string, ContactRow>,
    events: CloudEvent[],
  ): Promise<Map<string, { id: string; queue: string }>> {
    const out = new Map<string, { id: string; queue: string }>();
    if (!items.length) return out;
    const contactIds = [...new Set([...contacts.values()].map((c) => c.id))];
    const found = async () => {
      const rows: Array<{ id: string; contact_id: string; queue: string }> = await m.query(
        `SELECT id, contact_id, queue FROM ${S}.conversations WHERE contact_id = ANY($1::uuid[]) AND status = 'open'`,
        [contactIds],
      );
      for (const r of rows) out.set(r.contact_id, { id: r.id, queue: r.queue });
    };
    await found();
    const missing = new Map<string, { ch: ChannelRecord; contact: ContactRow }>();
    for (const { ch, it } of items) {
      const c = contacts.get(`${ch.id}|${it.contact!.key}`)!;
      if (!out.has(c.id)) missing.set(c.id, { ch, contact: c });
    }
    if (!missing.size) return out;
    const rows = [...missing.values()].map(({ ch, contact }) => ({ id: randomUUID(), tenant_id: ch.tenantId, channel_id: ch.id, contact_id: contact.id, queue: ch.settings.botQueue }));
    const created: Array<{ id: string; contact_id: string; queue: string }> = await m.query(
      `INSERT INTO ${S}.conversations (id, tenant_id, channel_id, contact_id, queue, last_inbound_at)
       SELECT x.id, x.tenant_id, x.channel_id, x.contact_id, x.queue, now() FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, tenant_id text, channel_id uuid, contact_id uuid, queue text)
       ON CONFLICT (contact_id) WHERE status = 'open' DO NOTHING
       RETURNING id, contact_id, queue`,
      [JSON.stringify(rows)],
    );
    for (const r of created) {
      out.set(r.contact_id, { id: r.id, queue: r.queue });
      const { ch, contact } = missing.get(r.contact_id)!;
      events.push(this.outbox.event({
        type: 'chat.conversation.opened', tenantId: ch.tenantId, subject: r.id,
        data: { conversationId: r.id, channelId: ch.id, provider: ch.provider, contact: contactIdentity(contact), queue: r.queue },
      }));
    }
    if (created.length < missing.size) await found();
    return out;
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
