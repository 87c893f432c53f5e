import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { fitChatText, MAX_CHAT_TEXT, type ContactIdentity, type OutboundButton, type OutboundMessage } from '@elo/contracts';
import type { PublishSpecLike } from '@elo/messaging';
import type { EntityManager } from 'typeorm';
import type { ChannelRecord } from '../channels/channel.types';
import { ChannelsService, isUuid } from '../channels/channels.service';
import { TelegramBusinessService } from '../channels/telegram-business.service';
import { userIdLock } from '../webhooks/ingest.service';
import { normalisePhone } from '@elo/contracts';
import { mayNeedStorable, storable } from '@elo/persistence';

/** The longest text a provider's send API takes, where it is under the event contract's 4,096 (WhatsApp's and Telegram's). */
const TEXT_LIMIT: Record<string, number> = { messenger: 2_000, instagram: 1_000 };
/** WhatsApp's reply buttons (one to three, buildCall) take a body of at most 1,024 characters; its list (four to ten rows) 4,096. */
const WHATSAPP_BUTTONS_TEXT = 1_024;
/**
 * The most buttons a provider shows under a text: WhatsApp's list has ten rows, Messenger's and Instagram's quick replies are
 * thirteen, Telegram's inline keyboard (one button a row, buildCall) a hundred: the Bot API reference names no number, Telegram
 * answers more with "reply markup is too long"; 100 is the keyboard's limit as https://limits.tginfo.me lists it.
 */
const BUTTON_LIMIT: Record<string, number> = { whatsapp: 10, messenger: 13, instagram: 13, telegram: 100 };
/** Telegram's callback_data (a button's id, what comes back when it is pressed) is 1 to 64 bytes (Bot API, InlineKeyboardButton). */
const TELEGRAM_BUTTON_ID_BYTES = 64;

/** What a provider takes in one text message: its longest text with `buttons` reply buttons under it, and the most buttons. */
export function channelLimits(provider: string, buttons = 0): { text: number; buttons: number } {
  const text = provider === 'whatsapp' && buttons > 0 && buttons <= 3 ? WHATSAPP_BUTTONS_TEXT : (TEXT_LIMIT[provider] ?? MAX_CHAT_TEXT);
  return { text, buttons: BUTTON_LIMIT[provider] ?? Infinity };
}

/** A button whose id the provider refuses: Telegram's callback_data is 1 to 64 bytes. */
export function unsendableButton(provider: string, buttons: OutboundMessage['buttons']): OutboundButton | undefined {
  if (provider !== 'telegram') return undefined;
  return buttons?.find((b) => !b.id || Buffer.byteLength(b.id) > TELEGRAM_BUTTON_ID_BYTES);
}

/**
 * A message of the bot (or a notice) made to fit its channel, since a refusal inside a consumer is retried until
 * parked and the customer gets nothing. Buttons the channel cannot show (too many, an id Telegram refuses, or
 * WhatsApp's reply buttons under a text over 1,024 characters) are left off and `listing` (their numbered titles; empty
 * when the text lists them already) goes under the text, so an answer by number or title still picks them; a text over
 * the limit goes out cut.
 */
export function fitMessage(provider: string, message: OutboundMessage, listing: string): OutboundMessage {
  if (message.text === undefined) return message;
  const n = message.buttons?.length ?? 0;
  const limits = channelLimits(provider, n);
  const plain = channelLimits(provider).text;
  if (n > limits.buttons || unsendableButton(provider, message.buttons) || (message.text.length > limits.text && plain > limits.text)) {
    const { buttons: _left, ...rest } = message;
    return { ...rest, text: fitChatText(listing ? `${message.text}\n${listing}` : message.text, plain) };
  }
  return { ...message, text: fitChatText(message.text, limits.text) };
}

const S = '"chat_ingress"';

/**
 * PostgreSQL's jsonb cannot hold U+0000 or a lone surrogate, which JSON can carry: in a message to send
 * (and its contact's name) they become U+FFFD, as in the messages received, instead of failing the request.
 */
function storableSpec(spec: SendSpec): SendSpec {
  return mayNeedStorable(JSON.stringify(spec)) ? storable(spec) : spec;
}

interface StoredMessage {
  tenant_id: string;
  channel_id: string;
  conversation_id: string | null;
}

async function storedMessage(m: EntityManager, messageId: string): Promise<StoredMessage | undefined> {
  const rows: StoredMessage[] = await m.query(`SELECT tenant_id, channel_id, conversation_id FROM ${S}.messages WHERE id = $1`, [messageId]);
  return rows[0];
}

/** The answer to a repeat of the tenant's own message: what it was queued as, nothing new. */
const asRepeat = (messageId: string, row: StoredMessage): Enqueued =>
  ({ messageId, channelId: row.channel_id, conversationId: row.conversation_id ?? undefined, duplicate: true, events: [] });

/**
 * Message ids are global (message-status and every event name a message by its id alone): another tenant's
 * id is refused, telling nothing of that tenant's message.
 */
const idTaken = (messageId: string, channel: ChannelRecord) =>
  new OutboundRefused('message_id_taken', 409, `messageId ${messageId} is already used; give another`, channel);

/** A contact as a send reaches it; `business_connection_id`: the Telegram Business connection its chat is answered through. */
type Recipient = { id: string; phone: string | null; provider_user_id: string | null; contact_key: string; business_connection_id: string | null };
const RECIPIENT = 'id, phone, provider_user_id, contact_key, business_connection_id';

/** Providers that address a customer by their own user id only (PSID, IGSID, Telegram chat id). */
const PROVIDER_ID_ONLY = ['messenger', 'instagram', 'telegram'] as const;

export interface SendSpec {
  messageId?: string;
  conversationId?: string;
  channelId?: string;
  contact?: ContactIdentity;
  message: OutboundMessage;
  origin?: string;
}

export class OutboundRefused extends Error {
  constructor(readonly reason: string, readonly httpStatus: number, detail: string, readonly channel?: ChannelRecord) {
    super(detail);
  }
}

export interface EnqueueOptions {
  /**
   * Refuse (`no_access`) a send into a Telegram Business chat whose connection, as last reported, Telegram would refuse
   * it through (disabled, or without the right to reply): POST /messages answers it. Elsewhere (the bus, the bot, notices)
   * it is queued and the sender fails it with that reason, so a consumer or an agent's action is not held up by it.
   */
  refuseClosedBusinessChat?: boolean;
}

export interface Enqueued {
  messageId: string;
  channelId: string;
  conversationId?: string;
  duplicate: boolean;
  events: PublishSpecLike[];
}

/** Puts outbound messages in the send queue (the messages table); the sender worker delivers them. */
@Injectable()
export class OutboundService {
  private readonly listeners: Array<() => void> = [];

  constructor(
    private readonly channels: ChannelsService,
    private readonly business: TelegramBusinessService,
  ) {}

  onQueued(fn: () => void): void {
    this.listeners.push(fn);
  }

  /** Tells the sender there is work once the caller's transaction had time to commit. */
  nudge(): void {
    setTimeout(() => this.listeners.forEach((f) => f()), 20).unref();
  }

  /**
   * Validates and queues one message inside the caller's transaction. `announce` adds a
   * chat.message.send.requested (so message-status tracks it from `queued`) for sends that did not
   * arrive as that event. Throws OutboundRefused for requests that can never be sent, and for those `opts` asks to refuse.
   */
  async enqueue(m: EntityManager, tenantId: string, given: SendSpec, announce: boolean, opts: EnqueueOptions = {}): Promise<Enqueued> {
    const spec = storableSpec(given);
    const messageId = spec.messageId ?? randomUUID();
    const existing = await storedMessage(m, messageId);
    if (existing?.tenant_id === tenantId) return asRepeat(messageId, existing);

    let channelId = spec.channelId;
    let conversationId: string | undefined;
    let contact: Recipient | undefined;
    if (spec.conversationId) {
      const rows: Array<{ channel_id: string; contact_id: string; status: string }> = isUuid(spec.conversationId)
        ? await m.query(`SELECT channel_id, contact_id, status FROM ${S}.conversations WHERE id = $1 AND tenant_id = $2`, [spec.conversationId, tenantId])
        : [];
      if (!rows[0]) throw new OutboundRefused('conversation_not_found', 404, `conversation ${spec.conversationId} not found`);
      channelId = rows[0].channel_id;
      conversationId = spec.conversationId;
      contact = (await m.query(`SELECT ${RECIPIENT} FROM ${S}.contacts WHERE id = $1`, [rows[0].contact_id]))[0];
    }
    if (!channelId) throw new OutboundRefused('channel_required', 400, 'give conversationId, or channelId with contact');
    const channel = isUuid(channelId) ? await this.channels.get(tenantId, channelId, m) : undefined;
    if (!channel) throw new OutboundRefused('channel_not_found', 404, `channel ${channelId} not found`);
    if (existing) throw idTaken(messageId, channel);
    if (channel.status !== 'active') throw new OutboundRefused('channel_disabled', 409, 'the channel is disabled', channel);

    if (!contact) {
      if (!spec.contact || (!spec.contact.phone && !spec.contact.providerUserId)) {
        throw new OutboundRefused('recipient_required', 400, 'give contact.phone or contact.providerUserId', channel);
      }
      const found = await this.findOrCreateContact(m, channel, spec.contact);
      contact = found;
      const open: Array<{ id: string }> = await m.query(`SELECT id FROM ${S}.conversations WHERE contact_id = $1 AND status = 'open'`, [found.id]);
      conversationId = open[0]?.id;
    }
    if (!contact) throw new OutboundRefused('recipient_required', 404, 'the conversation has no contact', channel);
    // Only WhatsApp (and a generic platform, which reads its own contact ids) sends to a phone number;
    // Messenger, Instagram and Telegram know a customer only by their own user id, so a phone would be
    // posted as a chat id the provider can never deliver to.
    if (!contact.provider_user_id && (PROVIDER_ID_ONLY as readonly string[]).includes(channel.provider)) {
      throw new OutboundRefused('recipient_required', 422, `${channel.provider} reaches a customer by its own user id, not a phone number: give contact.providerUserId, or the conversationId of a chat the customer started`, channel);
    }
    const to = channel.provider === 'whatsapp' ? (contact.phone ?? contact.provider_user_id ?? contact.contact_key) : (contact.provider_user_id ?? contact.contact_key);
    this.checkMessage(channel, spec.message);
    if (opts.refuseClosedBusinessChat && contact.business_connection_id) {
      const refused = await this.business.refusal(tenantId, channel.id, contact.business_connection_id, m);
      if (refused) throw new OutboundRefused('no_access', 422, refused.title, channel);
    }
    // Telegram refuses a send into a business chat that does not name its connection: it goes with the message.
    const via = contact.business_connection_id ? { businessConnectionId: contact.business_connection_id } : {};

    const inserted: unknown[] = await m.query(
      `INSERT INTO ${S}.messages (id, tenant_id, channel_id, conversation_id, contact_id, direction, kind, status, body, next_attempt_at, origin, created_at)
       VALUES ($1,$2,$3,$4,$5,'out',$6,'queued',$7,now(),$8,clock_timestamp())
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [messageId, tenantId, channel.id, conversationId ?? null, contact.id, spec.message.kind, JSON.stringify({ message: spec.message, to, ...via }), spec.origin ?? null],
    );
    if (!inserted.length) {
      // A request with the same id committed while this one ran (a client retrying before its first try
      // answered): answered as the repeat it is, not as the unique violation.
      const row = await storedMessage(m, messageId);
      if (row?.tenant_id !== tenantId) throw idTaken(messageId, channel);
      return asRepeat(messageId, row);
    }
    const events: PublishSpecLike[] = [];
    if (announce) {
      events.push({
        type: 'chat.message.send.requested', tenantId, subject: messageId,
        data: { messageId, channelId: channel.id, ...(conversationId ? { conversationId } : {}), message: spec.message, ...(spec.origin ? { origin: spec.origin } : {}) },
      });
    }
    return { messageId, channelId: channel.id, conversationId, duplicate: false, events };
  }

  /** A refused send as an event: stored as failed so its id is known, and chat.message.status failed. */
  async recordRefusal(m: EntityManager, tenantId: string, given: SendSpec, err: OutboundRefused): Promise<PublishSpecLike[]> {
    const spec = storableSpec(given);
    const channelId = err.channel?.id ?? (spec.channelId && isUuid(spec.channelId) ? spec.channelId : undefined);
    if (!channelId || !spec.messageId) return [];
    await m.query(
      `INSERT INTO ${S}.messages (id, tenant_id, channel_id, direction, kind, status, status_rank, body, reason, origin)
       VALUES ($1,$2,$3,'out',$4,'failed',4,$5,$6,$7) ON CONFLICT (id) DO NOTHING`,
      [spec.messageId, tenantId, channelId, spec.message.kind, JSON.stringify({ message: spec.message }), err.reason, spec.origin ?? null],
    );
    return [{
      type: 'chat.message.status', tenantId, subject: spec.messageId,
      data: { messageId: spec.messageId, channelId, provider: err.channel?.provider ?? 'generic', status: 'failed', providerTimestamp: new Date().toISOString(), reason: err.reason, error: { code: err.reason, title: err.message } },
    }];
  }

  private checkMessage(channel: ChannelRecord, msg: OutboundMessage): void {
    const need = { text: msg.text, template: msg.template, media: msg.media, location: msg.location }[msg.kind];
    if (!need) throw new OutboundRefused('message_invalid', 400, `a ${msg.kind} message needs its ${msg.kind} field`, channel);
    if (msg.kind === 'media' && !msg.media?.url && !msg.media?.id) throw new OutboundRefused('message_invalid', 400, 'media needs url or id', channel);
    const limit = channel.settings.maxAttachmentMb * 1024 * 1024;
    if (msg.kind === 'media' && msg.media?.sizeBytes !== undefined && msg.media.sizeBytes > limit) {
      throw new OutboundRefused('attachment_too_large', 422, `attachment is ${msg.media.sizeBytes} bytes; this channel accepts at most ${channel.settings.maxAttachmentMb} MB`, channel);
    }
    if (msg.kind === 'template' && channel.provider !== 'whatsapp') {
      throw new OutboundRefused('template_not_supported', 422, `${channel.provider} channels do not send templates`, channel);
    }
    // Refused here with the reason, not by the provider as a bare invalid request (or cut short) after the message was queued.
    const buttons = msg.kind === 'text' ? (msg.buttons?.length ?? 0) : 0;
    const limits = channelLimits(channel.provider, buttons);
    if (msg.text !== undefined && msg.text.length > limits.text) {
      const under = limits.text < channelLimits(channel.provider).text ? ` with ${buttons} reply button${buttons > 1 ? 's' : ''}` : '';
      throw new OutboundRefused('message_invalid', 422, `${channel.provider} takes texts of at most ${limits.text} characters${under}; this one has ${msg.text.length}`, channel);
    }
    if (buttons > limits.buttons) {
      throw new OutboundRefused('message_invalid', 422, `${channel.provider} shows at most ${limits.buttons} buttons under a text; this one has ${buttons}`, channel);
    }
    // Messenger's and Instagram's attachments carry no caption: refused rather than sent without it.
    if (msg.kind === 'media' && msg.media?.caption && (channel.provider === 'messenger' || channel.provider === 'instagram')) {
      throw new OutboundRefused('message_invalid', 422, `${channel.provider} sends attachments without a caption: send the caption as a text message of its own`, channel);
    }
    const badId = msg.kind === 'text' ? unsendableButton(channel.provider, msg.buttons) : undefined;
    if (badId) throw new OutboundRefused('message_invalid', 422, `button id "${badId.id}" is not 1 to ${TELEGRAM_BUTTON_ID_BYTES} bytes, what Telegram takes as callback_data`, channel);
  }

  private async findOrCreateContact(m: EntityManager, channel: ChannelRecord, c: ContactIdentity): Promise<Recipient> {
    const phone = normalisePhone(c.phone, 'BR');
    if (c.phone && !phone) throw new OutboundRefused('recipient_invalid', 400, `phone ${c.phone} is not a valid number`, channel);
    // A webhook creating this WhatsApp customer's contact under their phone (the user id beside it) commits before the read below.
    if (channel.provider === 'whatsapp' && c.providerUserId) {
      await m.query(`SELECT pg_advisory_xact_lock(${userIdLock('$1::text', '$2::text')})`, [channel.id, c.providerUserId]);
    }
    const found: Recipient[] = await m.query(
      `SELECT ${RECIPIENT} FROM ${S}.contacts
       WHERE channel_id = $1 AND (($2::text IS NOT NULL AND (phone = ANY($3::text[]) OR phone_alt = ANY($3::text[]))) OR ($4::text IS NOT NULL AND (provider_user_id = $4 OR contact_key = $4)))
       LIMIT 1`,
      [channel.id, phone?.e164 ?? null, [phone?.e164, phone?.alt].filter(Boolean), c.providerUserId ?? null],
    );
    if (found[0]) {
      if (channel.provider !== 'whatsapp' || !c.providerUserId || found[0].provider_user_id === c.providerUserId) return found[0];
      // A contact known by the phone alone records the user id (under its lock, taken above), as a message with both does
      // (IngestService.messageEvents): the customer's messages with the user id alone then find it.
      await m.query(`UPDATE ${S}.contacts SET provider_user_id = $2, updated_at = now() WHERE id = $1`, [found[0].id, c.providerUserId]);
      return { ...found[0], provider_user_id: c.providerUserId };
    }
    const key = phone?.e164 ?? (channel.provider === 'whatsapp' ? `uid:${c.providerUserId}` : c.providerUserId!);
    const rows = await m.query(
      `INSERT INTO ${S}.contacts (id, tenant_id, channel_id, contact_key, phone, phone_alt, provider_user_id, name)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8)
       ON CONFLICT (channel_id, contact_key) DO UPDATE SET updated_at = now()
       RETURNING ${RECIPIENT}`,
      [randomUUID(), channel.tenantId, channel.id, key, phone?.e164 ?? null, phone?.alt ?? null, c.providerUserId ?? null, c.name ?? null],
    );
    return rows[0];
  }
}
