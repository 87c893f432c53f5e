import type { OutboundMessage } from '@elo/contracts';
import { parseRetryAfter } from '@elo/http-egress';
import type { ChannelRecord } from '../channels/channel.types';

export interface ProviderCall {
  method: 'POST';
  url: string;
  headers: Record<string, string>;
  body: string;
}

export type SendOutcome =
  | { kind: 'sent'; providerMessageId: string }
  | { kind: 'retry'; reason: string; afterMs: number; error?: { code: string; title?: string; details?: string } }
  | { kind: 'failed'; reason: string; error?: { code: string; title?: string; details?: string } };

export interface ApiBases {
  graph: string;
  telegram: string;
}

/**
 * Builds the provider's send call; returns a failure reason when the message kind cannot go to this provider.
 * `businessConnectionId`: a Telegram Business chat's connection, which every send into that chat names.
 */
export function buildCall(channel: ChannelRecord, to: string, msg: OutboundMessage, bases: ApiBases, businessConnectionId?: string): ProviderCall | { unsupported: string } {
  const token = channel.credentials.accessToken ?? '';
  const json = (url: string, body: unknown, auth = true): ProviderCall => ({
    method: 'POST', url, body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${token}` } : {}) },
  });
  switch (channel.provider) {
    case 'whatsapp': {
      // A phone goes in `to`; a contact known only by its business-scoped user id (`BR.1349…`, no phone shared)
      // in `recipient`, which the Cloud API reads for those ids.
      const who = /^\+?\d+$/.test(to) ? { to: to.replace(/^\+/, '') } : { recipient: to };
      const base = { messaging_product: 'whatsapp', recipient_type: 'individual', ...who };
      const url = `${bases.graph}/${channel.phoneNumberId}/messages`;
      if (msg.kind === 'text' && msg.buttons?.length) {
        const body = msg.buttons.length <= 3
          ? { type: 'button', body: { text: msg.text ?? '' }, action: { buttons: msg.buttons.map((b) => ({ type: 'reply', reply: { id: b.id, title: b.title } })) } }
          : { type: 'list', body: { text: msg.text ?? '' }, action: { button: 'Opções', sections: [{ title: 'Opções', rows: msg.buttons.slice(0, 10).map((b) => ({ id: b.id, title: b.title })) }] } };
        return json(url, { ...base, type: 'interactive', interactive: body });
      }
      if (msg.kind === 'text') return json(url, { ...base, type: 'text', text: { body: msg.text ?? '', preview_url: true } });
      if (msg.kind === 'template' && msg.template) {
        return json(url, { ...base, type: 'template', template: { name: msg.template.name, language: { code: msg.template.language }, ...(msg.template.components ? { components: msg.template.components } : {}) } });
      }
      if (msg.kind === 'media' && msg.media) {
        const kind = msg.media.kind;
        const media: Record<string, unknown> = msg.media.id ? { id: msg.media.id } : { link: msg.media.url };
        if (msg.media.caption && kind !== 'audio' && kind !== 'sticker') media.caption = msg.media.caption;
        if (msg.media.filename && kind === 'document') media.filename = msg.media.filename;
        return json(url, { ...base, type: kind, [kind]: media });
      }
      if (msg.kind === 'location' && msg.location) {
        return json(url, { ...base, type: 'location', location: { latitude: msg.location.lat, longitude: msg.location.lng, name: msg.location.name, address: msg.location.address } });
      }
      return { unsupported: 'message_invalid' };
    }
    case 'messenger':
    case 'instagram': {
      const url = `${bases.graph}/me/messages`;
      const send = (message: unknown) => json(url, { recipient: { id: to }, messaging_type: 'RESPONSE', message });
      if (msg.kind === 'text') {
        const qr = msg.buttons?.length ? { quick_replies: msg.buttons.slice(0, 13).map((b) => ({ content_type: 'text', title: b.title, payload: b.id })) } : {};
        return send({ text: msg.text ?? '', ...qr });
      }
      if (msg.kind === 'media' && msg.media?.url) {
        const type = msg.media.kind === 'document' ? 'file' : msg.media.kind === 'sticker' ? 'image' : msg.media.kind;
        return send({ attachment: { type, payload: { url: msg.media.url, is_reusable: true } } });
      }
      if (msg.kind === 'location' && msg.location) {
        const { lat, lng, name } = msg.location;
        return send({ text: `${name ? `${name}: ` : ''}https://maps.google.com/?q=${lat},${lng}` });
      }
      return { unsupported: msg.kind === 'template' ? 'template_not_supported' : 'message_invalid' };
    }
    case 'telegram': {
      const api = (method: string) => `${bases.telegram}/bot${token}/${method}`;
      // A business chat is written on behalf of the business account: sendMessage, sendLocation, sendVenue and the media
      // methods all take the connection (Bot API 7.2), and Telegram refuses a send into that chat without it.
      const chat = { chat_id: to, ...(businessConnectionId ? { business_connection_id: businessConnectionId } : {}) };
      const markup = msg.buttons?.length ? { reply_markup: { inline_keyboard: msg.buttons.map((b) => [{ text: b.title, callback_data: b.id }]) } } : {};
      if (msg.kind === 'text') return json(api('sendMessage'), { ...chat, text: msg.text ?? '', ...markup }, false);
      if (msg.kind === 'location' && msg.location) {
        const { lat, lng, name, address } = msg.location;
        // A named place is a venue (title and address both required); sendLocation would drop the name.
        if (name || address) return json(api('sendVenue'), { ...chat, latitude: lat, longitude: lng, title: name ?? address, address: address ?? name }, false);
        return json(api('sendLocation'), { ...chat, latitude: lat, longitude: lng }, false);
      }
      if (msg.kind === 'media' && msg.media) {
        const [method, field] = ({ image: ['sendPhoto', 'photo'], audio: ['sendAudio', 'audio'], video: ['sendVideo', 'video'], sticker: ['sendSticker', 'sticker'] } as Record<string, [string, string]>)[msg.media.kind] ?? ['sendDocument', 'document'];
        return json(api(method), { ...chat, [field]: msg.media.id ?? msg.media.url, ...(msg.media.caption ? { caption: msg.media.caption } : {}) }, false);
      }
      return { unsupported: msg.kind === 'template' ? 'template_not_supported' : 'message_invalid' };
    }
    case 'generic':
      return { unsupported: 'generic' };
  }
}

/** How long the provider asks us to wait (ms) by its Retry-After header; 0 when absent or unreadable. */
export const retryAfterMs = (headers: Record<string, string>): number => (parseRetryAfter(headers['retry-after']) ?? 0) * 1000;

const RATE = new Set([4, 17, 32, 613, 80007, 130429, 131048, 131056]);
const TEMPLATE = (code: number) => code >= 132000 && code < 133000;

/** Turns the provider's answer into sent / retry later / failed with a classified reason. */
export function classify(provider: ChannelRecord['provider'], status: number, body: Buffer, headers: Record<string, string>, to: string): SendOutcome {
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    /* not JSON: classified by status below */
  }
  if (provider === 'telegram') {
    if (status >= 200 && status < 300 && json.ok === true) {
      const result = json.result as { message_id?: number; chat?: { id?: number } } | undefined;
      return { kind: 'sent', providerMessageId: `${result?.chat?.id ?? to}:${result?.message_id ?? Date.now()}` };
    }
    const description = String(json.description ?? `HTTP ${status}`);
    const error = { code: String(json.error_code ?? status), title: description };
    if (status === 429) {
      const after = Number((json.parameters as { retry_after?: number } | undefined)?.retry_after ?? 5);
      return { kind: 'retry', reason: 'rate_limited', afterMs: after * 1000, error };
    }
    if (status >= 500) return { kind: 'retry', reason: 'provider_unavailable', afterMs: 5_000, error };
    if (status === 401 || status === 404) return { kind: 'failed', reason: 'authentication', error };
    if (status === 403) return { kind: 'failed', reason: /blocked/i.test(description) ? 'blocked_by_user' : 'recipient_unreachable', error };
    if (/chat not found|user not found|deactivated/i.test(description)) return { kind: 'failed', reason: 'recipient_unreachable', error };
    return { kind: 'failed', reason: 'invalid_request', error };
  }
  if (status >= 200 && status < 300) {
    const id = (json.messages as Array<{ id?: string }> | undefined)?.[0]?.id ?? (json.message_id as string | undefined);
    if (id) return { kind: 'sent', providerMessageId: id };
    return { kind: 'failed', reason: 'provider_error', error: { code: String(status), title: 'answer carried no message id' } };
  }
  const e = (json.error ?? {}) as { code?: number; error_subcode?: number; message?: string; error_data?: { details?: string } };
  const code = Number(e.code ?? 0);
  const error = { code: String(e.code ?? status), title: e.message, details: e.error_data?.details };
  if (!error.title) delete error.title;
  if (!error.details) delete error.details;
  const retryAfter = retryAfterMs(headers);
  if (status === 429 || RATE.has(code)) return { kind: 'retry', reason: 'rate_limited', afterMs: retryAfter || 30_000, error };
  if (code === 190 || status === 401) return { kind: 'failed', reason: 'authentication', error };
  // Messenger's and Instagram's answers to a send after the 24-hour window (the same code 10 as a missing permission).
  if (code === 10 && (e.error_subcode === 2018278 || e.error_subcode === 2534022)) return { kind: 'failed', reason: 'outside_window', error };
  if (code === 131047) return { kind: 'failed', reason: 'outside_window', error };
  if (code === 10 || (code >= 200 && code < 300) || status === 403) return { kind: 'failed', reason: 'no_access', error };
  if (TEMPLATE(code)) return { kind: 'failed', reason: 'template_not_supported', error };
  if (code === 131026 || code === 551 || code === 131030 || e.error_subcode === 2018001) return { kind: 'failed', reason: 'recipient_unreachable', error };
  if (status >= 500 || code === 1 || code === 2 || code === 131000 || code === 131016) return { kind: 'retry', reason: 'provider_unavailable', afterMs: retryAfter || 10_000, error };
  return { kind: 'failed', reason: 'invalid_request', error };
}
