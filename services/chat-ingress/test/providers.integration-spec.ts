import { Webhook } from 'standardwebhooks';
import { expectEventually } from '@elo/testing';
import { fixture, startHarness, type Harness } from './support/harness';

type Received = { providerMessageId: string; conversationId: string; contact: { providerUserId?: string; phone?: string; name?: string }; message: { kind: string; text?: string } };
type Status = { messageId?: string; providerMessageId?: string; status: string; providerTimestamp: string };

describe('chat-ingress: Messenger, Instagram, Telegram and generic inbound', () => {
  let h: Harness;
  let headers: Record<string, string>;
  const channels: Record<string, { id: string; secrets: Record<string, string> }> = {};

  beforeAll(async () => {
    h = await startHarness('chat_ingress_providers');
    ({ headers } = await h.tenantKey());
    for (const [provider, body] of Object.entries({
      messenger: { accountId: '1200000000000001', credentials: { accessToken: 'page-token-messenger', appSecret: 'messenger-secret' } },
      instagram: { accountId: '17840000000000001', credentials: { accessToken: 'page-token-instagram', appSecret: 'instagram-secret' } },
      telegram: { botName: 'elo_bot', credentials: { accessToken: '123456:telegram-bot-token' } },
      generic: {},
    })) {
      const res = await h.api<{ id: string; secrets: Record<string, string> }>('POST', '/channels', headers, { provider, name: provider, ...body });
      expect(res.status).toBe(201);
      channels[provider] = res.body;
    }
  });

  afterAll(async () => {
    await h?.close();
  });

  const received = () => h.probe.ofType<Received>('chat.message.received');
  const statuses = () => h.probe.ofType<Status>('chat.message.status');

  it.each(['messenger', 'instagram'])('%s: answers the Meta verification handshake with its own verify token only', async (provider) => {
    const ch = channels[provider]!;
    const other = channels[provider === 'messenger' ? 'instagram' : 'messenger']!;
    const handshake = (token: string | undefined, mode = 'subscribe') =>
      h.api('GET', `/webhooks/${provider}/${ch.id}?hub.mode=${mode}${token === undefined ? '' : `&hub.verify_token=${encodeURIComponent(token)}`}&hub.challenge=8675309`, {});
    expect(ch.secrets.verifyToken).not.toBe(other.secrets.verifyToken);
    expect(await handshake(ch.secrets.verifyToken)).toEqual({ status: 200, body: 8675309 });
    // Another channel's token, no token, or its own token without `subscribe`: refused.
    for (const [label, token, mode] of [['other', other.secrets.verifyToken, 'subscribe'], ['none', undefined, 'subscribe'], ['own', ch.secrets.verifyToken, 'unsubscribe']] as const) {
      expect({ label, status: (await handshake(token, mode)).status }).toEqual({ label, status: 403 });
    }
  });

  it('Messenger: message stored, delivery and read watermarks expanded to the messages we sent before them', async () => {
    const ch = channels.messenger;
    // Three messages sent to the customer first, so the watermarks have something to cover.
    const ids: string[] = [];
    for (const text of ['um', 'dois', 'tres']) {
      const r = await h.api<{ messageId: string }>('POST', '/messages', headers, { channelId: ch.id, contact: { providerUserId: '7100000000000001' }, message: { kind: 'text', text } });
      expect(r.status).toBe(202);
      ids.push(r.body.messageId);
    }
    const sent = await expectEventually(() => {
      const s = h.probe.ofType<{ messageId: string; providerMessageId: string }>('chat.message.sent').filter((e) => ids.includes(e.data.messageId));
      expect(s).toHaveLength(3);
      return s.map((e) => e.data);
    });
    expect(h.fakes.sent('/me/messages')[0]).toMatchObject({ body: { recipient: { id: '7100000000000001' }, message: { text: 'um' } }, headers: { authorization: 'Bearer page-token-messenger' } });
    // The first two were sent "long ago", the last after the watermarks.
    await h.ds.query(`UPDATE chat_ingress.messages SET sent_at = to_timestamp(1763800000) WHERE id = ANY($1::uuid[])`, [ids.slice(0, 2)]);
    await h.ds.query(`UPDATE chat_ingress.messages SET sent_at = to_timestamp(1763900000) WHERE id = $1`, [ids[2]]);
    const raw = fixture('messenger-message-delivery-read.json');
    const res = await h.postMeta('messenger', ch.id, raw, 'messenger-secret');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ stored: 1 });
    const inbound = await expectEventually(() => {
      const e = received().find((x) => x.data.providerMessageId === 'm_IN0001');
      expect(e).toBeDefined();
      return e!.data;
    });
    expect(inbound.contact.providerUserId).toBe('7100000000000001');
    await expectEventually(() => {
      const mine = statuses().filter((e) => e.data.messageId && ids.includes(e.data.messageId)).map((e) => `${ids.indexOf(e.data.messageId!)}:${e.data.status}`).sort();
      expect(mine).toEqual(['0:delivered', '0:read', '1:delivered', '1:read']);
    });
    // `mids` of the delivery: a message we do not know still gets its status published.
    expect(statuses().some((e) => e.data.providerMessageId === 'm_OUT0001' && e.data.status === 'delivered')).toBe(true);
    const rows = await h.ds.query('SELECT id, status FROM chat_ingress.messages WHERE id = ANY($1::uuid[])', [ids]);
    expect(Object.fromEntries(rows.map((r: { id: string; status: string }) => [ids.indexOf(r.id), r.status]))).toEqual({ 0: 'read', 1: 'read', 2: 'sent' });
    expect(sent).toHaveLength(3);
    // The same callbacks again change nothing.
    expect((await h.postMeta('messenger', ch.id, raw, 'messenger-secret')).body).toEqual({ stored: 0, duplicates: 1, statuses: 0 });
    expect((await h.postMeta('messenger', ch.id, raw, 'instagram-secret')).status).toBe(401);
  });

  it('Messenger: a delivery watermark just after Meta\'s time of our last message covers it, however long Meta took to answer the send', async () => {
    const ch = channels.messenger;
    const psid = '7100000000000009';
    // Meta stamps the message when it takes it; its answer reaches us later (here 300 ms).
    let metaTime = 0;
    h.fakes.respond((r) => {
      if (!r.path.endsWith('/me/messages') || (r.body.recipient as { id?: string }).id !== psid) return undefined;
      metaTime = Date.now();
      return { status: 200, body: { recipient_id: psid, message_id: 'm_WMARK1' }, delayMs: 300 };
    });
    const r = await h.api<{ messageId: string }>('POST', '/messages', headers, { channelId: ch.id, contact: { providerUserId: psid }, message: { kind: 'text', text: 'chegou?' } });
    expect(r.status).toBe(202);
    await expectEventually(() => expect(h.probe.ofType<{ messageId: string }>('chat.message.sent').some((e) => e.data.messageId === r.body.messageId)).toBe(true));
    // As in Meta's reference: the watermark a few ms after the message's own time, no mids.
    const raw = JSON.stringify({ object: 'page', entry: [{ id: '1200000000000001', time: metaTime + 40, messaging: [
      { sender: { id: psid }, recipient: { id: '1200000000000001' }, delivery: { watermark: metaTime + 35 } }] }] });
    expect(await h.postMeta('messenger', ch.id, raw, 'messenger-secret')).toEqual({ status: 200, body: { stored: 0, duplicates: 0, statuses: 1 } });
    await expectEventually(() => expect(statuses().find((e) => e.data.messageId === r.body.messageId)?.data.status).toBe('delivered'));
  });

  it('Instagram: message and per-message read receipt with millisecond timestamps', async () => {
    const ch = channels.instagram;
    const res = await h.postMeta('instagram', ch.id, fixture('instagram-message-seen.json'), 'instagram-secret');
    expect(res).toEqual({ status: 200, body: { stored: 1, duplicates: 0, statuses: 1 } });
    await expectEventually(() => {
      expect(received().find((x) => x.data.providerMessageId === 'ig_IN0001')?.data.contact.providerUserId).toBe('6200000000000001');
      expect(statuses().find((x) => x.data.providerMessageId === 'ig_OUT0001')?.data).toMatchObject({ status: 'read', providerTimestamp: new Date(1763800599000).toISOString() });
    });
  });

  it('Instagram: a seen receipt of a message we sent marks that message read (its status event names it); a repeat changes nothing', async () => {
    const ch = channels.instagram;
    const igsid = '6200000000000031';
    const r = await h.api<{ messageId: string }>('POST', '/messages', headers, { channelId: ch.id, contact: { providerUserId: igsid }, message: { kind: 'text', text: 'Seu plano foi ativado' } });
    expect(r.status).toBe(202);
    const sent = await expectEventually(() => {
      const e = h.probe.ofType<{ messageId: string; providerMessageId: string }>('chat.message.sent').find((x) => x.data.messageId === r.body.messageId);
      expect(e).toBeDefined();
      return e!.data;
    });
    const seenAt = Date.now();
    const raw = JSON.stringify({ object: 'instagram', entry: [{ id: '17840000000000001', time: seenAt, messaging: [
      { sender: { id: igsid }, recipient: { id: '17840000000000001' }, timestamp: seenAt, read: { mid: sent.providerMessageId } }] }] });
    expect(await h.postMeta('instagram', ch.id, raw, 'instagram-secret')).toEqual({ status: 200, body: { stored: 0, duplicates: 0, statuses: 1 } });
    await expectEventually(() => expect(statuses().find((e) => e.data.messageId === r.body.messageId)?.data).toMatchObject({ status: 'read', providerMessageId: sent.providerMessageId, providerTimestamp: new Date(seenAt).toISOString() }));
    expect((await h.ds.query('SELECT status FROM chat_ingress.messages WHERE id = $1', [r.body.messageId]))[0].status).toBe('read');
    expect(await h.postMeta('instagram', ch.id, raw, 'instagram-secret')).toEqual({ status: 200, body: { stored: 0, duplicates: 0, statuses: 0 } });
  });

  it('Messenger: every attachment of a message reaches chat.message.received (one event each); a repeat changes nothing', async () => {
    const ch = channels.messenger;
    const raw = fixture('messenger-message-attachments.json');
    expect(await h.postMeta('messenger', ch.id, raw, 'messenger-secret')).toEqual({ status: 200, body: { stored: 3, duplicates: 0, statuses: 0 } });
    const events = await expectEventually(() => {
      const e = received().filter((x) => x.data.providerMessageId.startsWith('m_ATT0001'));
      expect(e).toHaveLength(3);
      return e.map((x) => x.data as Received & { message: { media?: { url?: string }; location?: { lat: number } } });
    });
    expect(events.map((e) => e.message.media?.url ?? e.message.location?.lat).sort()).toEqual([-25.43, 'https://cdn.example.com/contrato.pdf', 'https://scontent.example.com/foto-1.jpg'].sort());
    expect(new Set(events.map((e) => e.conversationId)).size).toBe(1);
    expect(await h.postMeta('messenger', ch.id, raw, 'messenger-secret')).toEqual({ status: 200, body: { stored: 0, duplicates: 3, statuses: 0 } });
  });

  it('Telegram: secret token checked, update_id de-duplicates, chat id is the contact', async () => {
    const ch = channels.telegram;
    const raw = fixture('telegram-update-message.json');
    const post = (token?: string, body = raw) => h.api('POST', `/webhooks/telegram/${ch.id}`, { 'content-type': 'application/json', ...(token ? { 'x-telegram-bot-api-secret-token': token } : {}) }, body);
    expect((await post()).status).toBe(401);
    expect((await post('wrong')).status).toBe(401);
    expect(await post(ch.secrets.telegramSecretToken)).toEqual({ status: 200, body: { stored: 1, duplicates: 0, statuses: 0 } });
    expect(await post(ch.secrets.telegramSecretToken)).toEqual({ status: 200, body: { stored: 0, duplicates: 1, statuses: 0 } });
    const e = await expectEventually(() => {
      const x = received().find((r) => r.data.providerMessageId === '730000001');
      expect(x).toBeDefined();
      return x!.data;
    });
    expect(e).toMatchObject({ contact: { providerUserId: '880000001', name: 'Renata Lopes' }, message: { kind: 'text', text: '/start' } });
    // update_id is unique per bot, not across bots: another channel's update with the same id is its own message.
    const other = (await h.api<{ id: string; secrets: Record<string, string> }>('POST', '/channels', headers, { provider: 'telegram', name: 'outro bot', credentials: { accessToken: '654321:other-bot-token' } })).body;
    expect(await h.api('POST', `/webhooks/telegram/${other.id}`, { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': other.secrets.telegramSecretToken }, raw))
      .toEqual({ status: 200, body: { stored: 1, duplicates: 0, statuses: 0 } });
    await expectEventually(() => expect(received().filter((r) => r.data.providerMessageId === '730000001').map((r) => (r.data as Received & { channelId: string }).channelId).sort()).toEqual([ch.id, other.id].sort()));
    // An update kind we do not handle is stored and marked, never a crash.
    const poll = JSON.stringify({ update_id: 730000002, poll: { id: 'p1', question: '?' } });
    expect((await post(ch.secrets.telegramSecretToken, poll)).body).toEqual({ stored: 1, duplicates: 0, statuses: 0 });
    const row = await h.ds.query(`SELECT status FROM chat_ingress.messages WHERE channel_id = $1 AND provider_message_id = '730000002'`, [ch.id]);
    expect(row[0].status).toBe('unsupported');
  });

  it('Telegram: a customer who shares their own contact after writing gets that phone (on the event and the contact); another\'s contact does not', async () => {
    const ch = channels.telegram;
    const post = (update: unknown) => h.api('POST', `/webhooks/telegram/${ch.id}`, { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': ch.secrets.telegramSecretToken }, JSON.stringify(update));
    const from = { id: 880000021, first_name: 'Bia' };
    const msg = (update_id: number, more: Record<string, unknown>) => ({ update_id, message: { message_id: update_id, date: 1763800000, chat: { id: 880000021, type: 'private' }, from, ...more } });
    expect((await post(msg(730000021, { text: '/start' }))).body).toEqual({ stored: 1, duplicates: 0, statuses: 0 });
    // Someone else's card first: not the customer's phone.
    expect((await post(msg(730000022, { contact: { phone_number: '+55 41 98844-0000', first_name: 'Outra', user_id: 880000099 } }))).status).toBe(200);
    // Then their own (the reply to a request_contact button).
    expect((await post(msg(730000023, { contact: { phone_number: '5541988442121', first_name: 'Bia', user_id: 880000021 } }))).status).toBe(200);
    const phoneOf = (id: string) => received().find((r) => r.data.providerMessageId === id)?.data.contact.phone;
    await expectEventually(() => expect(phoneOf('730000023')).toBe('+5541988442121'));
    expect(phoneOf('730000022')).toBeUndefined();
    const [c] = await h.ds.query(`SELECT phone, phone_alt FROM chat_ingress.contacts WHERE channel_id = $1 AND contact_key = '880000021'`, [ch.id]);
    expect(c).toEqual({ phone: '+5541988442121', phone_alt: '+554188442121' });
  });

  it('generic: Standard Webhooks signature, documented schema, stale timestamps refused', async () => {
    const ch = channels.generic;
    const wh = new Webhook(ch.secrets.signingSecret);
    const post = (body: unknown, at = new Date(), id = `msg_${Math.random().toString(36).slice(2)}`, sig?: string) => {
      const raw = JSON.stringify(body);
      return h.api('POST', `/webhooks/generic/${ch.id}`, {
        'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': sig ?? wh.sign(id, at, raw),
      }, raw);
    };
    const events = { events: [
      { type: 'message', id: 'g-1', timestamp: '2026-11-22T10:00:00Z', contact: { id: 'cust-9', phone: '+55 41 98844-1234', name: 'Gi' }, message: { kind: 'text', text: 'olá' } },
      { type: 'message', id: 'g-2', timestamp: 'not a date', contact: { id: 'cust-9' }, message: { kind: 'text', text: 'x' } },
    ] };
    expect(await post(events)).toEqual({ status: 200, body: { stored: 2, duplicates: 0, statuses: 0 } });
    expect((await post(events, new Date(Date.now() - 6 * 60_000))).status).toBe(401);
    expect((await post(events, new Date(), 'msg_x', 'v1,AAAA')).status).toBe(401);
    expect((await post({ nope: true })).status).toBe(400);
    await expectEventually(() => expect(received().find((r) => r.data.providerMessageId === 'g-1')?.data.contact).toMatchObject({ phone: '+5541988441234', providerUserId: 'cust-9', name: 'Gi' }));
    const row = await h.ds.query(`SELECT status FROM chat_ingress.messages WHERE channel_id = $1 AND provider_message_id = 'g-2'`, [ch.id]);
    expect(row[0].status).toBe('invalid');
    const doc = await h.api<{ components: { schemas: Record<string, unknown> } }>('GET', '/docs/openapi.json', {});
    expect(Object.keys(doc.body.components.schemas)).toEqual(expect.arrayContaining(['GenericWebhookDto', 'GenericEventDto']));
  });

  it('generic: a location outside the event contract (name over 500 characters, coordinates as strings) is stored invalid; its neighbours are stored and published', async () => {
    const ch = channels.generic;
    const raw = JSON.stringify({ events: [
      { type: 'message', id: 'g-l1', timestamp: '2026-11-22T10:00:00Z', contact: { id: 'cust-l' }, message: { kind: 'text', text: 'segue' } },
      { type: 'message', id: 'g-l2', timestamp: '2026-11-22T10:00:01Z', contact: { id: 'cust-l' }, message: { kind: 'location', location: { lat: -25.43, lng: -49.27, name: 'x'.repeat(600) } } },
      { type: 'message', id: 'g-l3', timestamp: '2026-11-22T10:00:02Z', contact: { id: 'cust-l' }, message: { kind: 'location', location: { lat: '-25.43', lng: '-49.27' } } },
    ] });
    const now = new Date();
    const signed = { 'content-type': 'application/json', 'webhook-id': 'msg_l', 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)), 'webhook-signature': new Webhook(ch.secrets.signingSecret).sign('msg_l', now, raw) };
    expect(await h.api('POST', `/webhooks/generic/${ch.id}`, signed, raw)).toEqual({ status: 200, body: { stored: 3, duplicates: 0, statuses: 0 } });
    const rows: Array<{ pmid: string; status: string }> = await h.ds.query(
      `SELECT provider_message_id AS pmid, status FROM chat_ingress.messages WHERE channel_id = $1 AND provider_message_id LIKE 'g-l%' ORDER BY 1`, [ch.id]);
    expect(rows).toEqual([{ pmid: 'g-l1', status: 'received' }, { pmid: 'g-l2', status: 'invalid' }, { pmid: 'g-l3', status: 'invalid' }]);
    await expectEventually(() => expect(received().find((r) => r.data.providerMessageId === 'g-l1')?.data.message).toEqual({ kind: 'text', text: 'segue' }));
  });

  describe('a timestamp out of range: 200, the item and its neighbours stored', () => {
    const at = async (channelId: string, pmid: string) => (await h.ds.query(
      `SELECT status, provider_timestamp AS at FROM chat_ingress.messages WHERE channel_id = $1 AND provider_message_id = $2`, [channelId, pmid]))[0] as { status: string; at: Date };
    /** When the stored message says it was sent; it must have been stored as received. */
    const sentAt = async (channelId: string, pmid: string) => {
      const row = await at(channelId, pmid);
      expect(row.status).toBe('received');
      return new Date(row.at).getTime();
    };

    it.each([['messenger', 'page', 'messenger-secret'], ['instagram', 'instagram', 'instagram-secret']])('%s: taken as the time received, messages and statuses', async (provider, object, secret) => {
      const before = Date.now();
      const ch = channels[provider];
      const item = (mid: string, timestamp: number) => ({ sender: { id: '7100000000000009' }, recipient: { id: '1' }, timestamp, message: { mid, text: mid } });
      const body = { object, entry: [{ id: '1', time: 1763800200000, messaging: [
        item(`${provider}_T1`, 1763800199000), item(`${provider}_T2`, 1e20),
        { sender: { id: '7100000000000009' }, recipient: { id: '1' }, timestamp: 1e20, read: { mid: `${provider}_T_OUT` } },
      ] }] };
      expect(await h.postMeta(provider, ch.id, JSON.stringify(body), secret)).toEqual({ status: 200, body: { stored: 2, duplicates: 0, statuses: 1 } });
      expect(await sentAt(ch.id, `${provider}_T1`)).toBe(1763800199000);
      expect(await sentAt(ch.id, `${provider}_T2`)).toBeGreaterThanOrEqual(before);
      await expectEventually(() => expect(Date.parse(statuses().find((e) => e.data.providerMessageId === `${provider}_T_OUT`)!.data.providerTimestamp)).toBeGreaterThanOrEqual(before));
    });

    it('Telegram: taken as the time received', async () => {
      const before = Date.now();
      const ch = channels.telegram;
      const update = JSON.stringify({ update_id: 730000099, message: { message_id: 1, date: 99999999999999, chat: { id: 880000009, type: 'private' }, from: { id: 880000009, first_name: 'T' }, text: 'oi' } });
      expect(await h.api('POST', `/webhooks/telegram/${ch.id}`, { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': ch.secrets.telegramSecretToken }, update))
        .toEqual({ status: 200, body: { stored: 1, duplicates: 0, statuses: 0 } });
      expect(await sentAt(ch.id, '730000099')).toBeGreaterThanOrEqual(before);
    });

    it('generic: outside the documented schema, so the message is stored invalid and the status skipped', async () => {
      const ch = channels.generic;
      const raw = JSON.stringify({ events: [
        { type: 'message', id: 'g-t1', timestamp: '2026-11-22T10:00:00Z', contact: { id: 'cust-t' }, message: { kind: 'text', text: 'bom' } },
        { type: 'message', id: 'g-t2', timestamp: '0000-01-01T00:00:00Z', contact: { id: 'cust-t' }, message: { kind: 'text', text: 'ano zero' } },
        { type: 'status', id: 'g-t-out', timestamp: '0000-01-01T00:00:00Z', status: 'read' },
      ] });
      const now = new Date();
      const signed = { 'content-type': 'application/json', 'webhook-id': 'msg_t', 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)), 'webhook-signature': new Webhook(ch.secrets.signingSecret).sign('msg_t', now, raw) };
      expect(await h.api('POST', `/webhooks/generic/${ch.id}`, signed, raw)).toEqual({ status: 200, body: { stored: 2, duplicates: 0, statuses: 0 } });
      expect(await sentAt(ch.id, 'g-t1')).toBe(Date.parse('2026-11-22T10:00:00Z'));
      expect((await at(ch.id, 'g-t2')).status).toBe('invalid');
    });
  });
});
