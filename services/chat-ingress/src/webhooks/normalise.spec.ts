import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { normaliseGeneric } from './normalise-generic';
import { normaliseMessaging, normaliseWhatsApp } from './normalise-meta';
import { normaliseTelegram } from './normalise-telegram';

const FIXTURES = join(__dirname, '../../test/fixtures/providers');
const fixture = (name: string): unknown => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8'));

describe('provider normalisers', () => {
  it('WhatsApp text: E.164 phone with both Brazilian forms, name from contacts', () => {
    const n = normaliseWhatsApp(fixture('whatsapp-text-message.json'));
    expect(n.messages).toHaveLength(1);
    expect(n.messages[0]).toMatchObject({
      state: 'received',
      contact: { key: '+5541988445566', phone: '+5541988445566', phoneAlt: '+554188445566', name: 'Joana Prado' },
      message: { kind: 'text', text: 'Olá, quero a segunda via do boleto' },
    });
    expect(n.messages[0].providerTimestamp.toISOString()).toBe('2025-11-22T08:26:40.000Z');
  });

  it('WhatsApp location', () => {
    const n = normaliseWhatsApp(fixture('whatsapp-location-message.json'));
    expect(n.messages[0].message).toEqual({ kind: 'location', location: { lat: -25.4284, lng: -49.2733, name: 'Casa', address: 'Rua XV de Novembro, Curitiba' } });
  });

  it('WhatsApp statuses batch: every status, failure code, title and details', () => {
    const n = normaliseWhatsApp(fixture('whatsapp-statuses-batch.json'));
    expect(n.statuses.map((s) => `${s.providerMessageId}:${s.status}`)).toEqual([
      'wamid.OUT0001:read', 'wamid.OUT0001:delivered', 'wamid.OUT0002:failed', 'wamid.OUT0002:sent',
    ]);
    expect(n.statuses[2].error).toEqual({ code: '131047', title: 'Re-engagement message', details: expect.stringContaining('24 hours') });
  });

  it('WhatsApp batches: several entries, changes and messages; bad items marked, neighbours kept', () => {
    const value = (messages: unknown[]) => ({ field: 'messages', value: { metadata: {}, contacts: [{ wa_id: '5511987654321', user_id: 'BR.1', profile: { name: 'A' } }], messages } });
    const body = {
      entry: [
        { changes: [value([{ from: '5511987654321', id: 'w1', timestamp: '1', type: 'text', text: { body: 'a' } }, { from: '5511987654321', type: 'text' }]), value([{ from: '5511987654321', id: 'w2', timestamp: '1', type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'b1', title: 'Sim' } } }])] },
        { changes: [value([{ from: '5511987654321', id: 'w3', timestamp: '1', type: 'reaction', reaction: {} }, { id: 'w4', from_user_id: 'BR.9', timestamp: '1', type: 'image', image: { id: 'media1', mime_type: 'image/jpeg' } }])] },
      ],
    };
    const n = normaliseWhatsApp(body);
    expect(n.messages.map((m) => [m.providerMessageId.slice(0, 8), m.state, m.message.kind])).toEqual([
      ['w1', 'received', 'text'], [expect.stringMatching(/^invalid:/), 'invalid', 'unsupported'],
      ['w2', 'received', 'reply'], ['w3', 'unsupported', 'unsupported'], ['w4', 'received', 'media'],
    ]);
    expect(n.messages[0].contact).toEqual({ key: '+5511987654321', phone: '+5511987654321', phoneAlt: '+551187654321', providerUserId: 'BR.1', userId: 'BR.1', name: 'A' });
    expect(n.messages[4].contact).toEqual({ key: 'uid:BR.9', providerUserId: 'BR.9', userId: 'BR.9', name: undefined });
  });

  it('Messenger: message, delivery with mids and watermark, read watermark', () => {
    const n = normaliseMessaging(fixture('messenger-message-delivery-read.json'));
    expect(n.messages).toHaveLength(1);
    expect(n.messages[0]).toMatchObject({ providerMessageId: 'm_IN0001', contact: { key: '7100000000000001' }, message: { kind: 'text' } });
    expect(n.statuses).toEqual([
      { providerMessageId: 'm_OUT0001', status: 'delivered', providerTimestamp: expect.any(Date) },
      { status: 'delivered', providerTimestamp: new Date(1763800290000), watermark: { contactKey: '7100000000000001', upTo: new Date(1763800290000) } },
      { status: 'read', providerTimestamp: new Date(1763800395000), watermark: { contactKey: '7100000000000001', upTo: new Date(1763800395000) } },
    ]);
  });

  it('Messenger/Instagram: every attachment of a message is its own item (mid, then mid#1, mid#2), the text on the first', () => {
    const n = normaliseMessaging(fixture('messenger-message-attachments.json'));
    expect(n.messages.map((m) => [m.providerMessageId, m.state, m.message])).toEqual([
      ['m_ATT0001', 'received', { kind: 'media', media: { kind: 'image', url: 'https://scontent.example.com/foto-1.jpg' } }],
      ['m_ATT0001#1', 'received', { kind: 'media', media: { kind: 'document', url: 'https://cdn.example.com/contrato.pdf' } }],
      ['m_ATT0001#2', 'received', { kind: 'location', location: { lat: -25.43, lng: -49.27 } }],
    ]);
    const ig = normaliseMessaging({ entry: [{ messaging: [{ sender: { id: '1' }, timestamp: 1763800000000, message: { mid: 'ig1', text: 'veja', attachments: [
      { type: 'image', payload: { url: 'https://x/1.jpg' } }, { type: 'ig_reel', payload: { reel_video_id: '9' } }, { type: 'video', payload: { url: 'https://x/2.mp4' } }] } }] }] });
    expect(ig.messages.map((m) => [m.providerMessageId, m.state, m.message.kind, m.message.text])).toEqual([
      ['ig1', 'received', 'media', 'veja'], ['ig1#1', 'unsupported', 'unsupported', undefined], ['ig1#2', 'received', 'media', undefined],
    ]);
  });

  it('Messenger: a shared link (text with a `fallback` attachment) keeps its text as a text message; an attachment with no text stays unsupported', () => {
    const ev = (mid: string, message: Record<string, unknown>) => ({ sender: { id: '1' }, recipient: { id: '2' }, timestamp: 1763800000000, message: { mid, ...message } });
    const n = normaliseMessaging({ object: 'page', entry: [{ messaging: [
      ev('m_LINK', { text: 'https://www.example.com/fatura', attachments: [{ type: 'fallback', payload: { url: 'https://l.facebook.com/l.php?u=x', title: 'Fatura' } }] }),
      ev('m_TPL', { attachments: [{ type: 'template', payload: { product: { elements: [] } } }] }),
    ] }] });
    expect(n.messages.map((m) => [m.providerMessageId, m.state, m.message])).toEqual([
      ['m_LINK', 'received', { kind: 'text', text: 'https://www.example.com/fatura' }],
      ['m_TPL', 'unsupported', { kind: 'unsupported', providerType: 'template' }],
    ]);
  });

  it('Messenger: a standby item (the thread is another app\'s, e.g. the Page Inbox\'s, by the Handover Protocol) is marked standby; a primary one is not', () => {
    const ev = (mid: string, text: string) => ({ sender: { id: '1' }, recipient: { id: '2' }, timestamp: 1763800000000, message: { mid, text } });
    const n = normaliseMessaging({ object: 'page', entry: [{ id: '2', time: 1763800000000, messaging: [ev('m_PRIMARY', 'oi')], standby: [ev('m_STANDBY', 'ainda aí?')] }] });
    expect(n.messages.map((m) => [m.providerMessageId, m.state, m.message])).toEqual([
      ['m_PRIMARY', 'received', { kind: 'text', text: 'oi' }],
      ['m_STANDBY', 'received', { kind: 'text', text: 'ainda aí?', standby: true }],
    ]);
  });

  it('Messenger: a reaction is stored unsupported (providerType reaction), as on Instagram; an edit (message_edit) is its new text, edited', () => {
    const base = { sender: { id: '1' }, recipient: { id: '2' }, timestamp: 1763800000000 };
    const n = normaliseMessaging({ object: 'page', entry: [{ id: '2', time: 1763800000000, messaging: [
      { ...base, reaction: { mid: 'm_OUT1', action: 'react', reaction: 'like', emoji: '\u{1F44D}' } },
      { ...base, timestamp: 1763800060000, message_edit: { mid: 'm_IN1', text: '123.456.789-09', num_edit: 1 } },
    ] }] });
    expect(n.messages.map((m) => [m.providerMessageId, m.state, m.message])).toEqual([
      ['reaction:m_OUT1:1763800000000', 'unsupported', { kind: 'unsupported', providerType: 'reaction' }],
      ['edit:m_IN1:1', 'received', { kind: 'text', text: '123.456.789-09', edited: true }],
    ]);
    expect(n.messages[1]).toMatchObject({ contact: { key: '1' }, providerTimestamp: new Date(1763800060000) });
  });

  it('Instagram: message and per-message read (ms timestamps)', () => {
    const n = normaliseMessaging(fixture('instagram-message-seen.json'));
    expect(n.messages[0]).toMatchObject({ providerMessageId: 'ig_IN0001', contact: { key: '6200000000000001' } });
    expect(n.messages[0].providerTimestamp.toISOString()).toBe(new Date(1763800499000).toISOString());
    expect(n.statuses).toEqual([{ providerMessageId: 'ig_OUT0001', status: 'read', providerTimestamp: new Date(1763800599000) }]);
  });

  it('Telegram: update id is the message id, chat id the contact', () => {
    const n = normaliseTelegram(fixture('telegram-update-message.json'));
    expect(n.messages[0]).toMatchObject({ providerMessageId: '730000001', contact: { key: '880000001', name: 'Renata Lopes' }, message: { kind: 'text', text: '/start' } });
  });

  it('Telegram Business: the connection an item came through, none for a chat with the bot itself (also a button pressed there), unknown for a button on an inline message', () => {
    const chat = { id: 880000031, type: 'private' };
    const connection = (update: Record<string, unknown>) => normaliseTelegram({ update_id: 21, ...update }).messages[0].contact;
    expect(connection({ business_message: { business_connection_id: 'bc1', message_id: 1, date: 1763800000, chat, from: chat, text: 'oi' } })).toMatchObject({ businessConnectionId: 'bc1' });
    expect(connection({ message: { message_id: 2, date: 1763800000, chat, from: chat, text: 'oi' } })).toMatchObject({ businessConnectionId: null });
    expect(connection({ callback_query: { id: 'q', from: chat, data: 'b', message: { business_connection_id: 'bc2', message_id: 3, date: 1763800000, chat, text: 'Menu' } } })).toMatchObject({ businessConnectionId: 'bc2' });
    // A message without a connection is in the bot's own chat, also one too old to be shown (date 0).
    expect(connection({ callback_query: { id: 'q', from: chat, data: 'b', message: { message_id: 4, date: 1763800000, chat, text: 'Menu' } } })).toMatchObject({ businessConnectionId: null });
    expect(connection({ callback_query: { id: 'q', from: chat, data: 'b', message: { message_id: 4, date: 0, chat } } })).toMatchObject({ businessConnectionId: null });
    expect(connection({ callback_query: { id: 'q', from: chat, data: 'b', inline_message_id: 'AAQ1' } })).not.toHaveProperty('businessConnectionId');
  });

  it('Telegram Business: a customer\'s edited business message is an edit (edited, timed by edit_date) through its connection; the business\'s own edit is an echo, skipped', () => {
    const edit = (update_id: number, from: Record<string, unknown>) => normaliseTelegram({ update_id, edited_business_message: {
      business_connection_id: 'bc1', message_id: 5, date: 1763800000, edit_date: 1763800090, chat: { id: 880000031, type: 'private', first_name: 'Caio' }, from, text: '1' } });
    const n = edit(14, { id: 880000031, first_name: 'Caio' });
    expect(n.messages[0]).toMatchObject({ providerMessageId: '14', state: 'received', contact: { key: '880000031', businessConnectionId: 'bc1' }, message: { kind: 'text', text: '1', edited: true } });
    expect(n.messages[0].providerTimestamp).toEqual(new Date(1763800090000));
    expect(edit(15, { id: 990000001, first_name: 'Loja' }).messages).toEqual([]);
  });

  it('Telegram Business: a business_connection update is no message; it says whether sends through it may go. deleted_business_messages is no message', () => {
    const update = (connection: Record<string, unknown>) => normaliseTelegram({ update_id: 31, business_connection: {
      id: 'bc1', user: { id: 990000001, first_name: 'Loja' }, user_chat_id: 990000001, date: 1763800000, ...connection } });
    expect(update({ is_enabled: true, rights: { can_reply: true, can_read_messages: true } })).toEqual({ messages: [], statuses: [], businessConnection: { id: 'bc1', enabled: true, canReply: true } });
    expect(update({ is_enabled: false, rights: { can_reply: true } }).businessConnection).toEqual({ id: 'bc1', enabled: false, canReply: true });
    expect(update({ is_enabled: true, rights: { can_read_messages: true } }).businessConnection).toEqual({ id: 'bc1', enabled: true, canReply: false });
    // Before Bot API 9.0 the right to reply was can_reply on the connection itself.
    expect(update({ is_enabled: true, can_reply: true }).businessConnection).toEqual({ id: 'bc1', enabled: true, canReply: true });
    expect(update({ is_enabled: true, can_reply: false }).businessConnection).toEqual({ id: 'bc1', enabled: true, canReply: false });
    expect(normaliseTelegram({ update_id: 32, deleted_business_messages: { business_connection_id: 'bc1', chat: { id: 880000031, type: 'private' }, message_ids: [5, 6] } }))
      .toEqual({ messages: [], statuses: [] });
  });

  it('Telegram: a button press is a reply timed when it came, not when its menu was sent', () => {
    const before = Date.now();
    const n = normaliseTelegram({ update_id: 7, callback_query: { id: 'q1', from: { id: 880000001, first_name: 'Renata' }, data: 'boleto', message: { message_id: 5, date: 1763800000, chat: { id: 880000001 }, text: 'Menu' } } });
    expect(n.messages[0]).toMatchObject({ providerMessageId: '7', contact: { key: '880000001' }, message: { kind: 'reply', reply: { id: 'boleto' } } });
    expect(n.messages[0].providerTimestamp.getTime()).toBeGreaterThanOrEqual(before);
  });

  it('Telegram: an edited message (a corrected text, a live location moving) is marked edited and timed when it was edited', () => {
    const text = normaliseTelegram({ update_id: 8, edited_message: { message_id: 5, date: 1763800000, edit_date: 1763800090, chat: { id: 880000001 }, from: { id: 880000001, first_name: 'Renata' }, text: '123.456.789-09' } });
    expect(text.messages[0]).toMatchObject({ providerMessageId: '8', state: 'received', message: { kind: 'text', text: '123.456.789-09', edited: true } });
    expect(text.messages[0].providerTimestamp).toEqual(new Date(1763800090000));
    const live = normaliseTelegram({ update_id: 9, edited_message: { message_id: 6, date: 1763800000, edit_date: 1763800120, chat: { id: 880000001 }, location: { latitude: -25.43, longitude: -49.27, live_period: 900 } } });
    expect(live.messages[0]).toMatchObject({ state: 'received', message: { kind: 'location', location: { lat: -25.43, lng: -49.27 }, edited: true } });
    expect(normaliseTelegram({ update_id: 10, message: { message_id: 7, date: 1763800000, chat: { id: 880000001 }, text: 'oi' } }).messages[0].message.edited).toBeUndefined();
  });

  it('Telegram Business: the customer\'s business_message is theirs; the business\'s own (the owner by hand, or its bot) is an echo, skipped', () => {
    const biz = (update_id: number, from: Record<string, unknown>, more: Record<string, unknown> = {}) => ({ update_id, business_message: {
      business_connection_id: 'bc1', message_id: update_id, date: 1763800000, chat: { id: 880000031, type: 'private', first_name: 'Caio' }, from, text: 'oi', ...more } });
    expect(normaliseTelegram(biz(11, { id: 880000031, first_name: 'Caio' })).messages[0]).toMatchObject({ providerMessageId: '11', contact: { key: '880000031', name: 'Caio', businessConnectionId: 'bc1' }, message: { kind: 'text', text: 'oi' } });
    expect(normaliseTelegram(biz(12, { id: 990000001, first_name: 'Loja' })).messages).toEqual([]);
    expect(normaliseTelegram(biz(13, { id: 990000001, first_name: 'Loja' }, { sender_business_bot: { id: 700100, is_bot: true } })).messages).toEqual([]);
  });

  it('timestamps outside the years 1–9999 (what PostgreSQL stores): the time received for providers, invalid for generic', () => {
    const before = Date.now();
    const wa = normaliseWhatsApp({ entry: [{ changes: [{ value: { messages: [{ id: 'w1', from: '5511987654321', timestamp: '99999999999999', type: 'text', text: { body: 'a' } }], statuses: [{ id: 'o1', status: 'read', timestamp: '99999999999999' }] } }] }] });
    const ms = normaliseMessaging({ entry: [{ messaging: [{ sender: { id: '1' }, timestamp: 1e20, message: { mid: 'm1', text: 'a' } }] }] });
    const tg = normaliseTelegram({ update_id: 1, message: { date: 99999999999999, chat: { id: 2 }, text: 'a' } });
    for (const at of [wa.messages[0].providerTimestamp, wa.statuses[0].providerTimestamp, ms.messages[0].providerTimestamp, tg.messages[0].providerTimestamp]) {
      expect(at.getTime()).toBeGreaterThanOrEqual(before);
    }
    const g = normaliseGeneric({ events: [{ type: 'message', id: 'g0', timestamp: '0000-01-01T00:00:00Z', contact: { id: 'c1' }, message: { kind: 'text', text: 'a' } }] });
    if ('error' in g) throw new Error(g.error);
    expect(g.messages[0]).toMatchObject({ providerMessageId: 'g0', state: 'invalid', problem: expect.stringContaining('between the years 0001 and 9999') });
  });

  it('generic: valid events normalised, invalid ones marked', () => {
    const n = normaliseGeneric({ events: [
      { type: 'message', id: 'g1', timestamp: '2026-01-01T00:00:00Z', contact: { id: 'c1', phone: '+55 41 8844-5566' }, message: { kind: 'text', text: 'oi' } },
      { type: 'message', id: 'g2', timestamp: 'yesterday', contact: { id: 'c1' }, message: { kind: 'text' } },
      { type: 'status', id: 'o1', timestamp: '2026-01-01T00:00:00Z', status: 'read' },
    ] });
    if ('error' in n) throw new Error(n.error);
    expect(n.messages.map((m) => [m.providerMessageId, m.state])).toEqual([['g1', 'received'], ['g2', 'invalid']]);
    expect(n.messages[0].contact?.phone).toBe('+5541988445566');
    expect(n.statuses).toHaveLength(1);
    expect(normaliseGeneric({ nope: 1 })).toEqual({ error: expect.any(String) });
  });

  it('generic: a phone without country code is Brazilian, as POST /messages reads it (not +41, Switzerland); one with a code keeps it', () => {
    const ev = (id: string, phone: string) => ({ type: 'message', id, timestamp: '2026-01-01T00:00:00Z', contact: { id: `c-${id}`, phone }, message: { kind: 'text', text: 'oi' } });
    const n = normaliseGeneric({ events: [ev('p1', '41988445566'), ev('p2', '(41) 98844-5566'), ev('p3', '5541988445566'), ev('p4', '+1 415 555 0123')] });
    if ('error' in n) throw new Error(n.error);
    expect(n.messages.map((m) => m.contact?.phone)).toEqual(['+5541988445566', '+5541988445566', '+5541988445566', '+14155550123']);
  });
});
