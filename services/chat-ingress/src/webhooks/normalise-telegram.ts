import type { InboundMessage } from '@elo/contracts';
import { strip } from './normalise-meta';
import { normalisePhone } from '@elo/contracts';
import { arr, epochToDate, geoPoint, invalidItem, isObj, str, type InboundItem, type Normalised } from './normalised';

function tgMessage(m: Record<string, unknown>): { message: InboundMessage; supported: boolean } {
  if (typeof m.text === 'string') return { message: { kind: 'text', text: m.text }, supported: true };
  if (isObj(m.location)) {
    const location = geoPoint(m.location.latitude, m.location.longitude);
    if (location) return { message: { kind: 'location', location }, supported: true };
  }
  const photos = arr(m.photo).filter(isObj);
  if (photos.length) {
    const biggest = photos[photos.length - 1];
    return { message: { kind: 'media', media: strip({ kind: 'image', id: str(biggest.file_id), caption: str(m.caption), sizeBytes: typeof biggest.file_size === 'number' ? biggest.file_size : undefined }), text: str(m.caption) }, supported: true };
  }
  for (const [field, kind] of [['document', 'document'], ['voice', 'audio'], ['audio', 'audio'], ['video', 'video'], ['sticker', 'sticker']] as const) {
    const f = m[field];
    if (isObj(f)) {
      return { message: { kind: 'media', media: strip({ kind, id: str(f.file_id), mimeType: str(f.mime_type), filename: str(f.file_name), caption: str(m.caption), sizeBytes: typeof f.file_size === 'number' ? f.file_size : undefined }), text: str(m.caption) }, supported: true };
    }
  }
  if (isObj(m.contact)) return { message: { kind: 'contacts', contacts: [m.contact] }, supported: true };
  const type = Object.keys(m).find((k) => !['message_id', 'from', 'chat', 'date', 'edit_date', 'message_thread_id', 'reply_to_message', 'entities'].includes(k)) ?? 'unknown';
  return { message: { kind: 'unsupported', providerType: type }, supported: false };
}

/** One Telegram update (the Bot API posts one per request); `update_id` is its id for de-duplication. */
export function normaliseTelegram(body: unknown): Normalised {
  const out: Normalised = { messages: [], statuses: [] };
  if (!isObj(body)) return out;
  const updateId = str(body.update_id);
  if (!updateId) {
    out.messages.push(invalidItem(body, 'update has no update_id'));
    return out;
  }
  try {
    // A business account connected the bot, disconnected it or changed its rights (Bot API `business_connection`,
    // BusinessConnection): no message, but whether sends through the connection may go. `is_enabled`: "True, if the
    // connection is active"; since Bot API 9.0 the right to reply is `rights.can_reply` (BusinessBotRights), before it
    // `can_reply` on the connection (https://core.telegram.org/bots/api#businessconnection).
    if (isObj(body.business_connection)) {
      const c = body.business_connection;
      const id = str(c.id);
      if (!id) out.messages.push(invalidItem(body, 'business_connection has no id', updateId));
      else out.businessConnection = { id, enabled: c.is_enabled === true, canReply: isObj(c.rights) ? c.rights.can_reply === true : c.can_reply === true };
      return out;
    }
    // Messages deleted in a business account's chat (`deleted_business_messages`): nothing to store or answer.
    if (isObj(body.deleted_business_messages)) return out;
    const cb = isObj(body.callback_query) ? body.callback_query : undefined;
    const edited = isObj(body.edited_message) ? body.edited_message : isObj(body.edited_business_message) ? body.edited_business_message : undefined;
    const business = isObj(body.business_message) ? body.business_message : isObj(body.edited_business_message) ? body.edited_business_message : undefined;
    const m = (isObj(body.message) ? body.message : edited ?? business ?? (cb && isObj(cb.message) ? cb.message : undefined)) as Record<string, unknown> | undefined;
    const chat = m && isObj(m.chat) ? m.chat : undefined;
    // A business chat's updates (new messages and edits) carry both sides: what the business account sent (its owner by
    // hand, or a bot for it: `sender_business_bot`) comes from someone other than the chat's customer. An echo, not a
    // customer message.
    if (m && m === business && (isObj(m.sender_business_bot) || (isObj(m.from) && str(m.from.id) !== str(chat?.id)))) return out;
    const chatId = str(chat?.id) ?? (cb && isObj(cb.from) ? str(cb.from.id) : undefined);
    if (!chatId) {
      out.messages.push({ ...invalidItem(body, 'update carries no chat', updateId), state: 'unsupported', message: { kind: 'unsupported', providerType: Object.keys(body).find((k) => k !== 'update_id') ?? 'unknown' } });
      return out;
    }
    const from = (cb && isObj(cb.from) ? cb.from : m && isObj(m.from) ? m.from : chat) as Record<string, unknown> | undefined;
    const name = [str(from?.first_name), str(from?.last_name)].filter(Boolean).join(' ') || str(from?.username);
    const phone = m && isObj(m.contact) && str(m.contact.user_id) === str(from?.id) ? normalisePhone(str(m.contact.phone_number)) : undefined;
    // A business chat is answered through the business account's connection (Telegram refuses a send into it without its
    // id); a chat with the bot itself without one. A button press is in the chat of its message: a button on a message
    // sent on behalf of a business account comes as a callback_query whose message carries `business_connection_id`
    // (telegram-bot-api, Client::process_new_business_callback_query_queue: create_business_message), and a message
    // without one is in the bot's own chat (Bot API, Message.business_connection_id), also one too old to be shown
    // (date 0: only the bot's own chat's are sent so). A button on an inline message (`inline_message_id`, no `message`)
    // does not tell.
    const businessConnectionId = m && m === business ? str(m.business_connection_id)
      : cb ? (isObj(cb.message) ? str(cb.message.business_connection_id) ?? null : undefined) : null;
    const contact = strip({ key: chatId, providerUserId: chatId, name, phone: phone?.e164, phoneAlt: phone?.alt, businessConnectionId });
    let item: InboundItem;
    if (cb) {
      const data = str(cb.data) ?? '';
      // A button press carries no time of its own (its message's date is when the menu was sent): now, when it came.
      item = { providerMessageId: updateId, contact, message: { kind: 'reply', reply: { id: data }, text: data }, providerTimestamp: new Date(), state: 'received' };
    } else {
      const { message, supported } = tgMessage(m!);
      // An edit (a corrected text, each move of a live location) is timed when it was made; its message's date is the original's.
      item = {
        providerMessageId: updateId, contact, message: edited ? { ...message, edited: true } : message, providerTimestamp: epochToDate(edited?.edit_date ?? m!.date, 's'),
        state: supported ? 'received' : 'unsupported', raw: supported ? undefined : body,
      };
    }
    out.messages.push(item);
  } catch (err) {
    out.messages.push(invalidItem(body, (err as Error).message, updateId));
  }
  return out;
}
