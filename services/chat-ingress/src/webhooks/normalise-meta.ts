import type { InboundMessage, MediaRef } from '@elo/contracts';
import { normalisePhone } from '@elo/contracts';
import {
  arr, epochToDate, geoPoint, invalidItem, isObj, str, type InboundContact, type Normalised, type StatusItem,
} from './normalised';

const MEDIA = new Set(['image', 'audio', 'video', 'document', 'sticker']);

function waContact(phoneOrNull: string | undefined, userId: string | undefined, name: string | undefined): InboundContact | undefined {
  const phone = normalisePhone(phoneOrNull);
  if (phone) return { key: phone.e164, phone: phone.e164, phoneAlt: phone.alt, providerUserId: userId ?? phoneOrNull, ...(userId ? { userId } : {}), name };
  if (userId) return { key: `uid:${userId}`, providerUserId: userId, userId, name };
  return undefined;
}

function waMessage(m: Record<string, unknown>): { message: InboundMessage; supported: boolean } {
  const type = str(m.type) ?? 'unknown';
  const body = isObj(m[type]) ? (m[type] as Record<string, unknown>) : {};
  if (type === 'text') return { message: { kind: 'text', text: str(body.body) ?? '' }, supported: true };
  if (MEDIA.has(type)) {
    const media: MediaRef = { kind: type, id: str(body.id), mimeType: str(body.mime_type), caption: str(body.caption), filename: str(body.filename) };
    return { message: { kind: 'media', media: strip(media), text: str(body.caption) }, supported: true };
  }
  if (type === 'location') {
    const location = geoPoint(body.latitude, body.longitude, str(body.name), str(body.address));
    if (!location) return { message: { kind: 'unsupported', providerType: type }, supported: false };
    return { message: { kind: 'location', location }, supported: true };
  }
  if (type === 'interactive') {
    const reply = (isObj(body.button_reply) ? body.button_reply : isObj(body.list_reply) ? body.list_reply : undefined) as Record<string, unknown> | undefined;
    if (reply && str(reply.id)) return { message: { kind: 'reply', reply: strip({ id: str(reply.id)!, title: str(reply.title) }), text: str(reply.title) }, supported: true };
  }
  if (type === 'button') {
    const id = str(body.payload) ?? str(body.text);
    if (id) return { message: { kind: 'reply', reply: strip({ id, title: str(body.text) }), text: str(body.text) }, supported: true };
  }
  if (type === 'contacts' && Array.isArray(m.contacts)) {
    return { message: { kind: 'contacts', contacts: (m.contacts as unknown[]).filter(isObj) }, supported: true };
  }
  return { message: { kind: 'unsupported', providerType: type }, supported: false };
}

/** WhatsApp Cloud API: every entry, every change, every message and status. */
export function normaliseWhatsApp(body: unknown): Normalised {
  const out: Normalised = { messages: [], statuses: [] };
  for (const entry of arr(isObj(body) ? body.entry : undefined)) {
    for (const change of arr(isObj(entry) ? entry.changes : undefined)) {
      const value = isObj(change) && isObj(change.value) ? change.value : undefined;
      if (!value) continue;
      const names = new Map<string, string>();
      const userIds = new Map<string, string>();
      for (const c of arr(value.contacts)) {
        if (!isObj(c)) continue;
        const name = isObj(c.profile) ? str(c.profile.name) : undefined;
        const waId = str(c.wa_id);
        const userId = str(c.user_id);
        if (waId && name) names.set(waId, name);
        if (userId && name) names.set(userId, name);
        if (waId && userId) userIds.set(waId, userId);
      }
      for (const m of arr(value.messages)) {
        try {
          if (!isObj(m)) { out.messages.push(invalidItem(m, 'message is not an object')); continue; }
          const id = str(m.id);
          if (!id) { out.messages.push(invalidItem(m, 'message has no id')); continue; }
          const from = str(m.from);
          const userId = str(m.from_user_id) ?? (from ? userIds.get(from) : undefined);
          const contact = waContact(from, userId, names.get(from ?? '') ?? names.get(userId ?? ''));
          if (!contact) { out.messages.push(invalidItem(m, 'message has no sender', id)); continue; }
          const { message, supported } = waMessage(m);
          out.messages.push({ providerMessageId: id, contact, message, providerTimestamp: epochToDate(m.timestamp, 's'), state: supported ? 'received' : 'unsupported', raw: supported ? undefined : m });
        } catch (err) {
          out.messages.push(invalidItem(m, (err as Error).message));
        }
      }
      for (const s of arr(value.statuses)) {
        if (!isObj(s)) continue;
        const id = str(s.id);
        const status = str(s.status);
        if (!id || !status || !['sent', 'delivered', 'read', 'failed'].includes(status)) continue;
        const err = arr(s.errors).find(isObj);
        out.statuses.push({
          providerMessageId: id,
          status: status as StatusItem['status'],
          providerTimestamp: epochToDate(s.timestamp, 's'),
          error: err
            ? strip({
                code: String(err.code ?? 'unknown'),
                title: str(err.title) ?? str(err.message),
                details: isObj(err.error_data) ? str(err.error_data.details) : undefined,
              })
            : undefined,
        });
      }
    }
  }
  return out;
}

type Part = { message: InboundMessage; supported: boolean };

function metaAttachment(a: Record<string, unknown>, text: string | undefined): Part {
  const type = str(a.type) ?? 'file';
  const payload = isObj(a.payload) ? a.payload : {};
  if (type === 'location' && isObj(payload.coordinates)) {
    const location = geoPoint(payload.coordinates.lat, payload.coordinates.long);
    if (location) return { message: { kind: 'location', location }, supported: true };
  }
  const kind = type === 'file' ? 'document' : type;
  if (MEDIA.has(kind)) return { message: { kind: 'media', media: strip({ kind, url: str(payload.url) }), text }, supported: true };
  // A shared link arrives as its text (the URL, or what the customer wrote) plus a `fallback` attachment: the
  // text is the message, not something unsupported (the raw receipt keeps the attachment).
  if (text !== undefined) return { message: { kind: 'text', text }, supported: true };
  return { message: { kind: 'unsupported', providerType: type }, supported: false };
}

/**
 * The parts of a Messenger/Instagram message: one per attachment (a message carries up to ten; the
 * contract's message holds one media or location, so each becomes its own chat.message.received; the
 * text, if any, rides on the first, as a text if that attachment is one we cannot carry), else the quick reply or the text.
 */
function metaMessages(msg: Record<string, unknown>): Part[] {
  const qr = isObj(msg.quick_reply) ? str(msg.quick_reply.payload) : undefined;
  if (qr) return [{ message: { kind: 'reply', reply: strip({ id: qr, title: str(msg.text) }), text: str(msg.text) }, supported: true }];
  const atts = arr(msg.attachments).filter(isObj);
  if (atts.length) return atts.map((a, i) => metaAttachment(a, i === 0 ? str(msg.text) : undefined));
  if (typeof msg.text === 'string') return [{ message: { kind: 'text', text: msg.text }, supported: true }];
  return [{ message: { kind: 'unsupported', providerType: 'unknown' }, supported: false }];
}

/** The provider message id of a message's n-th part: the mid itself for the first, `<mid>#<n>` after (stable, so repeats de-duplicate). */
const partId = (mid: string, n: number): string => (n === 0 ? mid : `${mid}#${n}`);

/**
 * Messenger (`object: page`) and Instagram (`object: instagram`): every entry, every messaging item —
 * messages, postbacks, reactions, edits, delivery and read watermarks (Messenger) and per-message reads (Instagram).
 * Timestamps are milliseconds. Echoes of our own sends are skipped. Standby items (the thread is another app's by
 * the Handover Protocol) are messages like the others, marked `standby` so the bot flow leaves them.
 */
export function normaliseMessaging(body: unknown): Normalised {
  const out: Normalised = { messages: [], statuses: [] };
  for (const entry of arr(isObj(body) ? body.entry : undefined)) {
    if (!isObj(entry)) continue;
    // Standby items (Handover Protocol): the thread is another app's, e.g. a person answering in the Page Inbox.
    const items = [...arr(entry.messaging).map((ev) => [ev, false] as const), ...arr(entry.standby).map((ev) => [ev, true] as const)];
    for (const [ev, standby] of items) {
      const mark = (message: InboundMessage): InboundMessage => (standby ? { ...message, standby } : message);
      try {
        if (!isObj(ev)) { out.messages.push(invalidItem(ev, 'messaging item is not an object')); continue; }
        const senderId = isObj(ev.sender) ? str(ev.sender.id) : undefined;
        const ts = epochToDate(ev.timestamp ?? entry.time, 'ms');
        const contact: InboundContact | undefined = senderId ? { key: senderId, providerUserId: senderId } : undefined;
        if (isObj(ev.message)) {
          if (ev.message.is_echo === true) continue;
          const mid = str(ev.message.mid);
          if (!mid) { out.messages.push(invalidItem(ev, 'message has no mid')); continue; }
          if (!contact) { out.messages.push(invalidItem(ev, 'message has no sender', mid)); continue; }
          metaMessages(ev.message).forEach(({ message, supported }, n) => {
            out.messages.push({ providerMessageId: partId(mid, n), contact, message: mark(message), providerTimestamp: ts, state: supported ? 'received' : 'unsupported', raw: supported ? undefined : ev });
          });
        } else if (isObj(ev.postback)) {
          const mid = str(ev.postback.mid) ?? `postback:${senderId}:${String(ev.timestamp)}`;
          if (!contact) { out.messages.push(invalidItem(ev, 'postback has no sender', mid)); continue; }
          const id = str(ev.postback.payload) ?? str(ev.postback.title) ?? '';
          out.messages.push({ providerMessageId: mid, contact, message: mark({ kind: 'reply', reply: strip({ id, title: str(ev.postback.title) }), text: str(ev.postback.title) }), providerTimestamp: ts, state: 'received' });
        } else if (isObj(ev.delivery) || isObj(ev.read)) {
          const status = isObj(ev.delivery) ? 'delivered' : 'read';
          const r = (ev.delivery ?? ev.read) as Record<string, unknown>;
          const mid = str(r.mid);
          if (mid) out.statuses.push({ providerMessageId: mid, status, providerTimestamp: ts });
          for (const m of arr(r.mids)) if (str(m)) out.statuses.push({ providerMessageId: str(m), status, providerTimestamp: ts });
          if (r.watermark !== undefined && senderId) {
            const upTo = epochToDate(r.watermark, 'ms');
            out.statuses.push({ status, providerTimestamp: upTo, watermark: { contactKey: senderId, upTo } });
          }
        } else if (isObj(ev.reaction)) {
          const mid = str(ev.reaction.mid);
          if (mid && contact) out.messages.push({ providerMessageId: `reaction:${mid}:${String(ev.timestamp)}`, contact, message: mark({ kind: 'unsupported', providerType: 'reaction' }), providerTimestamp: ts, state: 'unsupported', raw: ev });
        } else if (isObj(ev.message_edit)) {
          // The edited message's new text (`message_edits`): like Telegram's edited_message, it answers nothing. Its id is
          // the original's mid (stored already) and edit count, so each edit is stored once.
          const mid = str(ev.message_edit.mid);
          if (!mid) { out.messages.push(invalidItem(ev, 'message edit has no mid')); continue; }
          const id = `edit:${mid}:${str(ev.message_edit.num_edit) ?? String(ev.timestamp)}`;
          if (!contact) { out.messages.push(invalidItem(ev, 'message edit has no sender', id)); continue; }
          const text = typeof ev.message_edit.text === 'string' ? ev.message_edit.text : '';
          out.messages.push({ providerMessageId: id, contact, message: mark({ kind: 'text', text, edited: true }), providerTimestamp: ts, state: 'received' });
        }
      } catch (err) {
        out.messages.push(invalidItem(ev, (err as Error).message));
      }
    }
  }
  return out;
}

/** Drops undefined keys (class-validator's @IsOptional accepts them, but events stay tidy). */
export function strip<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
