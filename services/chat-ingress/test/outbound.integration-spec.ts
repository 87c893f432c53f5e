import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { createEvent } from '@elo/contracts';
import { Outbox } from '@elo/messaging';
import { expectEventually } from '@elo/testing';
import { SenderService } from '../src/outbound/sender.service';
import { TokenCheckService } from '../src/tokens/token-check.service';
import { startHarness, type Harness } from './support/harness';

/** Text of a recorded provider call: WhatsApp `text.body`, Telegram and Messenger `text`. */
const textOf = (r: { body: Record<string, unknown> }): unknown => (r.body.text as { body?: string } | undefined)?.body ?? r.body.text ?? (r.body.message as { text?: string } | undefined)?.text;

type Failed = { messageId?: string; status: string; reason?: string; error?: { code: string } };

describe('chat-ingress: outbound through fake provider APIs, and the token check', () => {
  let h: Harness;
  let headers: Record<string, string>;
  let tenantId: string;
  let wa: { id: string };
  let tg: { id: string };
  let ms: { id: string };

  beforeAll(async () => {
    h = await startHarness('chat_ingress_outbound');
    ({ headers, tenantId } = await h.tenantKey());
    wa = (await h.api<{ id: string }>('POST', '/channels', headers, { provider: 'whatsapp', name: 'wa', phoneNumberId: 'PN1', credentials: { accessToken: 'wa-token', appSecret: 's', refreshAppId: 'app1' }, settings: { maxAttachmentMb: 1 } })).body;
    tg = (await h.api<{ id: string }>('POST', '/channels', headers, { provider: 'telegram', name: 'tg', credentials: { accessToken: '42:tg-token' } })).body;
    ms = (await h.api<{ id: string }>('POST', '/channels', headers, { provider: 'messenger', name: 'ms', credentials: { accessToken: 'page' } })).body;
  });

  afterAll(async () => {
    await h?.close();
  });

  const sentOf = (id: string) => h.probe.ofType<{ messageId: string; providerMessageId: string }>('chat.message.sent').find((e) => e.data.messageId === id)?.data;
  const failedOf = (id: string) => h.probe.ofType<Failed>('chat.message.status').find((e) => e.data.messageId === id && e.data.status === 'failed')?.data;
  const send = (body: unknown) => h.api<{ messageId: string; status: string; reason?: string; detail?: string }>('POST', '/messages', headers, body);

  it('documents the body of POST /messages in OpenAPI: the message kinds and their fields, the contact', async () => {
    type Schema = { properties?: Record<string, Schema & { enum?: string[] }>; $ref?: string };
    const doc = (await h.api<{ components: { schemas: Record<string, Schema> } }>('GET', '/docs/openapi.json', {})).body;
    const body = doc.components.schemas['SendMessageDto']!.properties!;
    expect(body['message']!.properties!['kind']!.enum).toEqual(['text', 'template', 'media', 'location']);
    expect(Object.keys(body['message']!.properties!)).toEqual(expect.arrayContaining(['text', 'template', 'media', 'location', 'buttons']));
    expect(Object.keys(body['contact']!.properties!)).toEqual(expect.arrayContaining(['phone', 'providerUserId', 'name', 'attributes']));
  });

  it('sends text, template, media and location through WhatsApp Cloud /{phone-number-id}/messages', async () => {
    const msgs = [
      { kind: 'text', text: 'Olá' },
      { kind: 'template', template: { name: 'boleto_disponivel', language: 'pt_BR', components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ana' }] }] } },
      { kind: 'media', media: { kind: 'document', url: `${h.fakes.origin}/files/boleto.pdf`, filename: 'boleto.pdf', caption: 'Seu boleto' } },
      { kind: 'location', location: { lat: -25.43, lng: -49.27, name: 'Loja' } },
    ];
    const ids: string[] = [];
    for (const message of msgs) {
      const r = await send({ channelId: wa.id, contact: { phone: '41 98844-5566' }, message });
      expect(r.status).toBe(202);
      ids.push(r.body.messageId);
    }
    await expectEventually(() => ids.forEach((id) => expect(sentOf(id)?.providerMessageId).toMatch(/^wamid\.OUT/)));
    const calls = h.fakes.sent('/graph/PN1/messages');
    expect(calls.map((c) => c.body.type)).toEqual(['text', 'template', 'document', 'location']);
    expect(calls[0]).toMatchObject({ headers: { authorization: 'Bearer wa-token' }, body: { messaging_product: 'whatsapp', to: '5541988445566', text: { body: 'Olá' } } });
    expect(calls[1].body.template).toEqual({ name: 'boleto_disponivel', language: { code: 'pt_BR' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ana' }] }] });
    expect(calls[2].body.document).toEqual({ link: `${h.fakes.origin}/files/boleto.pdf`, caption: 'Seu boleto', filename: 'boleto.pdf' });
    // message-status can track each from `queued`: POST /messages also announces the request.
    await expectEventually(() => expect(h.probe.ofType<{ messageId: string }>('chat.message.send.requested').filter((e) => ids.includes(e.data.messageId))).toHaveLength(4));

    // A customer who shares no phone (a username), known by the business-scoped user id: it goes in `recipient`.
    const bsuid = await send({ channelId: wa.id, contact: { providerUserId: 'BR.13491208655302741918' }, message: { kind: 'text', text: 'Oi' } });
    await expectEventually(() => expect(sentOf(bsuid.body.messageId)).toBeDefined());
    const toUser = h.fakes.sent('/graph/PN1/messages').find((c) => c.body.recipient === 'BR.13491208655302741918');
    expect(toUser?.body).toMatchObject({ messaging_product: 'whatsapp', recipient_type: 'individual', text: { body: 'Oi' } });
    expect(toUser?.body).not.toHaveProperty('to');
  });

  it('Telegram: sendMessage with buttons, sendLocation, sendVenue, sendPhoto; blocked by the user fails for good', async () => {
    const a = await send({ channelId: tg.id, contact: { providerUserId: '880000001' }, message: { kind: 'text', text: 'Menu', buttons: [{ id: 'b1', title: 'Boleto' }] } });
    const b = await send({ channelId: tg.id, contact: { providerUserId: '880000001' }, message: { kind: 'location', location: { lat: 1, lng: 2 } } });
    const v = await send({ channelId: tg.id, contact: { providerUserId: '880000001' }, message: { kind: 'location', location: { lat: -25.43, lng: -49.27, name: 'Loja Centro', address: 'Rua XV, 700' } } });
    const c = await send({ channelId: tg.id, contact: { providerUserId: '880000001' }, message: { kind: 'media', media: { kind: 'image', id: 'file-1', caption: 'foto' } } });
    await expectEventually(() => [a, b, v, c].forEach((r) => expect(sentOf(r.body.messageId)).toBeDefined()));
    // setWebhook: the channel's creation registered its webhook first.
    expect(h.fakes.sent('/tg/bot42:tg-token/').map((r) => r.path.split('/').pop())).toEqual(['setWebhook', 'sendMessage', 'sendLocation', 'sendVenue', 'sendPhoto']);
    // A named place keeps its name and address.
    expect(h.fakes.sent('/sendVenue')[0].body).toEqual({ chat_id: '880000001', latitude: -25.43, longitude: -49.27, title: 'Loja Centro', address: 'Rua XV, 700' });
    expect(h.fakes.sent('/sendMessage')[0].body).toEqual({ chat_id: '880000001', text: 'Menu', reply_markup: { inline_keyboard: [[{ text: 'Boleto', callback_data: 'b1' }]] } });
    h.fakes.respond((r) => (r.path.endsWith('/sendMessage') && r.body.text === 'bloqueado' ? { status: 403, body: { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' } } : undefined));
    const d = await send({ channelId: tg.id, contact: { providerUserId: '880000001' }, message: { kind: 'text', text: 'bloqueado' } });
    await expectEventually(() => expect(failedOf(d.body.messageId)).toMatchObject({ reason: 'blocked_by_user', error: { code: '403' } }));
    expect(h.fakes.requests.filter((r) => r.body.text === 'bloqueado')).toHaveLength(1);
  });

  it('Instagram: a text reaches the Send API (/me/messages) with the page token and the IGSID, and is sent with Instagram\'s message id', async () => {
    const ig = (await h.api<{ id: string }>('POST', '/channels', headers, { provider: 'instagram', name: 'ig', accountId: '17840000000000009', credentials: { accessToken: 'ig-page-token' } })).body;
    const r = await send({ channelId: ig.id, contact: { providerUserId: '6200000000000009' }, message: { kind: 'text', text: 'Oi pelo Instagram', buttons: [{ id: 'plano', title: 'Ver planos' }] } });
    expect(r.status).toBe(202);
    const sent = await expectEventually(() => {
      const e = h.probe.ofType<{ messageId: string; providerMessageId: string; provider: string; channelId: string }>('chat.message.sent').find((x) => x.data.messageId === r.body.messageId);
      expect(e).toBeDefined();
      return e!.data;
    });
    expect(sent).toMatchObject({ provider: 'instagram', channelId: ig.id, providerMessageId: expect.stringMatching(/^m_OUT/) });
    const call = h.fakes.requests.find((x) => x.path === '/graph/me/messages' && (x.body.recipient as { id?: string })?.id === '6200000000000009')!;
    expect(call.headers.authorization).toBe('Bearer ig-page-token');
    expect(call.body).toEqual({ recipient: { id: '6200000000000009' }, messaging_type: 'RESPONSE', message: { text: 'Oi pelo Instagram', quick_replies: [{ content_type: 'text', title: 'Ver planos', payload: 'plano' }] } });
    expect((await h.ds.query('SELECT status, provider_message_id FROM chat_ingress.messages WHERE id = $1', [r.body.messageId]))[0]).toEqual({ status: 'sent', provider_message_id: sent.providerMessageId });
  });

  it('generic: the message is POSTed to the channel\'s callbackUrl signed with its whsec_ secret (Standard Webhooks); the platform\'s id is the provider id', async () => {
    const gen = (await h.api<{ id: string; secrets: { signingSecret: string } }>('POST', '/channels', headers, { provider: 'generic', name: 'plataforma', callbackUrl: `${h.fakes.origin}/platform/inbox` })).body;
    expect(gen.secrets.signingSecret).toMatch(/^whsec_/);
    h.fakes.respond((x) => (x.path === '/platform/inbox' ? { status: 200, body: { id: 'plat-msg-1' } } : undefined));
    const r = await send({ channelId: gen.id, contact: { providerUserId: 'cliente-42' }, message: { kind: 'text', text: 'Olá, plataforma ✓' } });
    expect(r.status).toBe(202);
    await expectEventually(() => expect(sentOf(r.body.messageId)?.providerMessageId).toBe('plat-msg-1'));
    const call = h.fakes.sent('/platform/inbox').find((x) => x.body.id === r.body.messageId)!;
    const hdr = (k: string) => String(call.headers[k]);
    // Verified as the platform would: its secret, the raw bytes, the three headers, a fresh timestamp.
    const verified = new Webhook(gen.secrets.signingSecret).verify(call.raw, { 'webhook-id': hdr('webhook-id'), 'webhook-timestamp': hdr('webhook-timestamp'), 'webhook-signature': hdr('webhook-signature') });
    expect(verified).toEqual({ type: 'message.send', id: r.body.messageId, to: 'cliente-42', conversationId: null, message: { kind: 'text', text: 'Olá, plataforma ✓' } });
    expect(hdr('webhook-id')).toBe(r.body.messageId);
    expect(() => new Webhook(gen.secrets.signingSecret).verify(call.raw.replace('plataforma', 'plataformA'), { 'webhook-id': hdr('webhook-id'), 'webhook-timestamp': hdr('webhook-timestamp'), 'webhook-signature': hdr('webhook-signature') })).toThrow();
    expect(() => new Webhook(`whsec_${Buffer.alloc(24, 1).toString('base64')}`).verify(call.raw, { 'webhook-id': hdr('webhook-id'), 'webhook-timestamp': hdr('webhook-timestamp'), 'webhook-signature': hdr('webhook-signature') })).toThrow();
  });

  it('generic: the platform\'s status events (the documented schema) become the statuses of the messages Elo sent, forward only; a failure carries its error', async () => {
    const gen = (await h.api<{ id: string; secrets: { signingSecret: string } }>('POST', '/channels', headers, { provider: 'generic', name: 'plataforma com status', callbackUrl: `${h.fakes.origin}/platform/status` })).body;
    let n = 0;
    h.fakes.respond((x) => (x.path === '/platform/status' ? { status: 200, body: { id: `plat-st-${++n}` } } : undefined));
    const read = await send({ channelId: gen.id, contact: { providerUserId: 'cliente-st' }, message: { kind: 'text', text: 'lido?' } });
    await expectEventually(() => expect(sentOf(read.body.messageId)?.providerMessageId).toBe('plat-st-1'));
    const lost = await send({ channelId: gen.id, contact: { providerUserId: 'cliente-st' }, message: { kind: 'text', text: 'perdido' } });
    await expectEventually(() => expect(sentOf(lost.body.messageId)?.providerMessageId).toBe('plat-st-2'));
    const post = (events: unknown[]) => {
      const raw = JSON.stringify({ events });
      const at = new Date();
      const id = `msg_${randomUUID()}`;
      return h.api('POST', `/webhooks/generic/${gen.id}`, { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(gen.secrets.signingSecret).sign(id, at, raw) }, raw);
    };
    // Read, then a late "delivered" from before it: the message stays read.
    expect(await post([
      { type: 'status', id: 'plat-st-1', timestamp: new Date(Date.now() - 1000).toISOString(), status: 'read' },
      { type: 'status', id: 'plat-st-2', timestamp: new Date().toISOString(), status: 'failed', error: { code: 'blocked', title: 'o cliente bloqueou a plataforma' } },
    ])).toEqual({ status: 200, body: { stored: 0, duplicates: 0, statuses: 2 } });
    expect(await post([{ type: 'status', id: 'plat-st-1', timestamp: new Date(Date.now() - 5000).toISOString(), status: 'delivered' }])).toMatchObject({ status: 200, body: { statuses: 1 } });
    const mine = (id: string) => h.probe.ofType<Failed & { providerMessageId: string; error?: { code: string; title?: string } }>('chat.message.status').filter((e) => e.data.messageId === id).map((e) => e.data);
    await expectEventually(() => {
      expect(mine(read.body.messageId).map((s) => s.status).sort()).toEqual(['delivered', 'read']);
      expect(mine(lost.body.messageId)).toEqual([expect.objectContaining({ status: 'failed', providerMessageId: 'plat-st-2', error: { code: 'blocked', title: 'o cliente bloqueou a plataforma' } })]);
    });
    const rows = await h.ds.query('SELECT id, status FROM chat_ingress.messages WHERE id = ANY($1::uuid[])', [[read.body.messageId, lost.body.messageId]]);
    expect(Object.fromEntries(rows.map((r: { id: string; status: string }) => [r.id, r.status]))).toEqual({ [read.body.messageId]: 'read', [lost.body.messageId]: 'failed' });
  });

  it('generic: a 429 or 5xx from the platform is retried no sooner than its Retry-After asks (seconds or an HTTP date)', async () => {
    const gen = (await h.api<{ id: string }>('POST', '/channels', headers, { provider: 'generic', name: 'plataforma lenta', callbackUrl: `${h.fakes.origin}/platform/busy` })).body;
    h.fakes.respond((x) => {
      if (x.path !== '/platform/busy') return undefined;
      return (x.body.message as { text?: string }).text === 'ocupada'
        ? { status: 429, body: { error: 'slow down' }, headers: { 'retry-after': '120' } }
        : { status: 503, body: { error: 'maintenance' }, headers: { 'retry-after': new Date(Date.now() + 300_000).toUTCString() } };
    });
    const busy = await send({ channelId: gen.id, contact: { providerUserId: 'cliente-ra-1' }, message: { kind: 'text', text: 'ocupada' } });
    const down = await send({ channelId: gen.id, contact: { providerUserId: 'cliente-ra-2' }, message: { kind: 'text', text: 'em manutenção' } });
    const waits = await expectEventually(async () => {
      const rows: Array<{ id: string; status: string; reason: string; wait_s: number }> = await h.ds.query(
        `SELECT id, status, reason, extract(epoch FROM next_attempt_at - now())::float8 AS wait_s FROM chat_ingress.messages WHERE id = ANY($1) ORDER BY created_at`,
        [[busy.body.messageId, down.body.messageId]],
      );
      expect(rows.map((r) => [r.status, r.reason])).toEqual([['queued', 'rate_limited'], ['queued', 'provider_unavailable']]);
      return rows.map((r) => r.wait_s);
    });
    expect(waits[0]).toBeGreaterThan(100);
    expect(waits[1]).toBeGreaterThan(280);
    expect(h.fakes.sent('/platform/busy')).toHaveLength(2);
  });

  it('generic: a platform answering an empty id is sent once, with Elo\'s id as the provider id (not resent every lease)', async () => {
    const gen = (await h.api<{ id: string }>('POST', '/channels', headers, { provider: 'generic', name: 'plataforma sem id', callbackUrl: `${h.fakes.origin}/platform/noid` })).body;
    h.fakes.respond((x) => (x.path === '/platform/noid' ? { status: 200, body: { id: '' } } : undefined));
    const r = await send({ channelId: gen.id, contact: { providerUserId: 'cliente-sem-id' }, message: { kind: 'text', text: 'sem id' } });
    await expectEventually(() => expect(sentOf(r.body.messageId)?.providerMessageId).toBe(r.body.messageId));
    expect((await h.ds.query('SELECT status, provider_message_id FROM chat_ingress.messages WHERE id = $1', [r.body.messageId]))[0]).toEqual({ status: 'sent', provider_message_id: r.body.messageId });
    expect(h.fakes.sent('/platform/noid')).toHaveLength(1);
  });

  it('rate limits are retried later; permanent failures are classified and not retried', async () => {
    let limited = 0;
    h.fakes.respond((r) => {
      if (textOf(r) === 'limitado' && limited++ < 1) return { status: 429, body: { error: { code: 130429, message: 'Rate limit hit' } }, headers: { 'retry-after': '1' } };
      if (textOf(r) === 'janela') return { status: 400, body: { error: { code: 131047, message: 'Re-engagement message' } } };
      if (textOf(r) === 'token') return { status: 401, body: { error: { code: 190, message: 'Error validating access token' } } };
      if (r.body.type === 'template' && (r.body.template as { name: string }).name === 'nao_existe') return { status: 404, body: { error: { code: 132001, message: 'Template name does not exist in the translation' } } };
      return undefined;
    });
    const limitedMsg = await send({ channelId: wa.id, contact: { phone: '+5541988445566' }, message: { kind: 'text', text: 'limitado' } });
    const window = await send({ channelId: wa.id, contact: { phone: '+5541988445566' }, message: { kind: 'text', text: 'janela' } });
    const token = await send({ channelId: wa.id, contact: { phone: '+5541988445566' }, message: { kind: 'text', text: 'token' } });
    const tpl = await send({ channelId: wa.id, contact: { phone: '+5541988445566' }, message: { kind: 'template', template: { name: 'nao_existe', language: 'pt_BR' } } });
    await expectEventually(() => {
      expect(failedOf(window.body.messageId)?.reason).toBe('outside_window');
      expect(failedOf(token.body.messageId)?.reason).toBe('authentication');
      expect(failedOf(tpl.body.messageId)?.reason).toBe('template_not_supported');
    });
    await expectEventually(() => expect(sentOf(limitedMsg.body.messageId)).toBeDefined(), { timeoutMs: 15_000 });
    expect(h.fakes.requests.filter((r) => textOf(r) === 'limitado')).toHaveLength(2);
    await h.app.get(SenderService).drain();
    expect(h.fakes.requests.filter((r) => textOf(r) === 'janela')).toHaveLength(1);
  });

  it('the provider\'s refusals a tenant must act on fail for good with their own reason: no access, recipient unreachable (WhatsApp and Telegram)', async () => {
    h.fakes.respond((r) => {
      const text = textOf(r);
      if (text === 'sem permissão') return { status: 403, body: { error: { code: 200, message: '(#200) Permissions error', type: 'OAuthException' } } };
      if (text === 'acesso negado') return { status: 403, body: { error: { code: 131005, message: 'Access denied' } } };
      if (text === 'inalcançável') return { status: 400, body: { error: { code: 131026, message: 'Message undeliverable' } } };
      if (text === 'chat sumiu') return { status: 400, body: { ok: false, error_code: 400, description: 'Bad Request: chat not found' } };
      if (text === 'conta desativada') return { status: 403, body: { ok: false, error_code: 403, description: 'Forbidden: user is deactivated' } };
      return undefined;
    });
    const cases: Array<[unknown, string, string]> = [
      [{ channelId: wa.id, contact: { phone: '+5541977120001' }, message: { kind: 'text', text: 'sem permissão' } }, 'no_access', '200'],
      [{ channelId: wa.id, contact: { phone: '+5541977120002' }, message: { kind: 'text', text: 'acesso negado' } }, 'no_access', '131005'],
      [{ channelId: wa.id, contact: { phone: '+5541977120003' }, message: { kind: 'text', text: 'inalcançável' } }, 'recipient_unreachable', '131026'],
      [{ channelId: tg.id, contact: { providerUserId: '880000121' }, message: { kind: 'text', text: 'chat sumiu' } }, 'recipient_unreachable', '400'],
      [{ channelId: tg.id, contact: { providerUserId: '880000122' }, message: { kind: 'text', text: 'conta desativada' } }, 'recipient_unreachable', '403'],
    ];
    const ids: string[] = [];
    for (const [body] of cases) {
      const r = await send(body);
      expect(r.status).toBe(202);
      ids.push(r.body.messageId);
    }
    await expectEventually(() => expect(ids.map((id) => failedOf(id))).toEqual(cases.map(([, reason, code]) => expect.objectContaining({ status: 'failed', reason, error: expect.objectContaining({ code }) }))));
    await h.app.get(SenderService).drain();
    for (const [body] of cases) expect(h.fakes.requests.filter((r) => textOf(r) === (body as { message: { text: string } }).message.text)).toHaveLength(1);
  });

  it('a rate limit is retried, not failed, until the last attempt; still limited then, it fails with rate_limited', async () => {
    h.fakes.respond((r) => (textOf(r) === 'sempre limitado' ? { status: 429, body: { error: { code: 130429, message: 'Rate limit hit' } }, headers: { 'retry-after': '3600' } } : undefined));
    const r = await send({ channelId: wa.id, contact: { phone: '+5541977120011' }, message: { kind: 'text', text: 'sempre limitado' } });
    await expectEventually(async () => expect((await h.ds.query('SELECT status, attempts, reason FROM chat_ingress.messages WHERE id = $1', [r.body.messageId]))[0]).toEqual({ status: 'queued', attempts: 1, reason: 'rate_limited' }));
    expect(failedOf(r.body.messageId)).toBeUndefined();
    // Seven tries later (each limited), the retry's time comes: the eighth and last.
    await h.ds.query(`UPDATE chat_ingress.messages SET attempts = 7, next_attempt_at = now() WHERE id = $1 AND status = 'queued'`, [r.body.messageId]);
    await expectEventually(() => expect(failedOf(r.body.messageId)).toMatchObject({ reason: 'rate_limited', error: { code: '130429' } }));
    expect(h.fakes.requests.filter((x) => textOf(x) === 'sempre limitado')).toHaveLength(2);
  });

  it('Telegram: a 429 is retried no sooner than its retry_after asks', async () => {
    h.fakes.respond((r) => (r.path.endsWith('/sendMessage') && r.body.text === 'devagar' ? { status: 429, body: { ok: false, error_code: 429, description: 'Too Many Requests: retry after 120', parameters: { retry_after: 120 } } } : undefined));
    const r = await send({ channelId: tg.id, contact: { providerUserId: '880000131' }, message: { kind: 'text', text: 'devagar' } });
    const row = await expectEventually(async () => {
      const [m] = await h.ds.query(`SELECT status, reason, extract(epoch FROM next_attempt_at - now())::float8 AS wait_s FROM chat_ingress.messages WHERE id = $1`, [r.body.messageId]);
      expect(m).toMatchObject({ status: 'queued', reason: 'rate_limited' });
      return m as { wait_s: number };
    });
    expect(row.wait_s).toBeGreaterThan(100);
    expect(failedOf(r.body.messageId)).toBeUndefined();
    expect(h.fakes.requests.filter((x) => x.body.text === 'devagar')).toHaveLength(1);
  });

  it('Messenger: media goes as an attachment by URL and a location as a text with its map link, through the Send API', async () => {
    const psid = '7100000000000141';
    const media = await send({ channelId: ms.id, contact: { providerUserId: psid }, message: { kind: 'media', media: { kind: 'document', url: `${h.fakes.origin}/files/contrato.pdf` } } });
    const place = await send({ channelId: ms.id, contact: { providerUserId: psid }, message: { kind: 'location', location: { lat: -25.43, lng: -49.27, name: 'Loja Centro' } } });
    expect([media.status, place.status]).toEqual([202, 202]);
    await expectEventually(() => [media, place].forEach((r) => expect(sentOf(r.body.messageId)?.providerMessageId).toMatch(/^m_OUT/)));
    const calls = h.fakes.sent('/graph/me/messages').filter((c) => (c.body.recipient as { id?: string }).id === psid);
    expect(calls.map((c) => c.body)).toEqual([
      { recipient: { id: psid }, messaging_type: 'RESPONSE', message: { attachment: { type: 'file', payload: { url: `${h.fakes.origin}/files/contrato.pdf`, is_reusable: true } } } },
      { recipient: { id: psid }, messaging_type: 'RESPONSE', message: { text: 'Loja Centro: https://maps.google.com/?q=-25.43,-49.27' } },
    ]);
    expect(calls[0]!.headers.authorization).toBe('Bearer page');
  });

  it('one recipient\'s messages go out in order: a message the provider answered 503 holds the later ones back until it is sent', async () => {
    let unavailable = 0;
    h.fakes.respond((r) => (textOf(r) === 'ordem A' && unavailable++ < 1 ? { status: 503, body: { error: { code: 2, message: 'Service temporarily unavailable' } }, headers: { 'retry-after': '1' } } : undefined));
    const ids: string[] = [];
    for (const text of ['ordem A', 'ordem B', 'ordem C']) {
      const r = await send({ channelId: wa.id, contact: { phone: '+5541977007788' }, message: { kind: 'text', text } });
      expect(r.status).toBe(202);
      ids.push(r.body.messageId);
    }
    await expectEventually(() => ids.forEach((id) => expect(sentOf(id)).toBeDefined()), { timeoutMs: 15_000 });
    expect(h.fakes.requests.map(textOf).filter((t) => typeof t === 'string' && t.startsWith('ordem '))).toEqual(['ordem A', 'ordem A', 'ordem B', 'ordem C']);
  });

  it('a message sent after a retry keeps no failure: the first try\'s reason and error are cleared', async () => {
    let unavailable = 0;
    h.fakes.respond((r) => (textOf(r) === 'depois da falha' && unavailable++ < 1 ? { status: 503, body: { error: { code: 2, message: 'Service temporarily unavailable' } }, headers: { 'retry-after': '1' } } : undefined));
    const r = await send({ channelId: wa.id, contact: { phone: '+5541977003344' }, message: { kind: 'text', text: 'depois da falha' } });
    expect(r.status).toBe(202);
    await expectEventually(() => expect(sentOf(r.body.messageId)).toBeDefined(), { timeoutMs: 15_000 });
    expect((await h.ds.query('SELECT status, attempts, reason, error FROM chat_ingress.messages WHERE id = $1', [r.body.messageId]))[0])
      .toEqual({ status: 'sent', attempts: 2, reason: null, error: null });
  });

  it('a message queued before its channel was disabled is not sent: it fails for good with channel_disabled', async () => {
    const off = (await h.api<{ id: string }>('POST', '/channels', headers, { provider: 'whatsapp', name: 'wa-off', phoneNumberId: 'PNOFF', credentials: { accessToken: 'off-token', appSecret: 's' } })).body;
    let unavailable = 0;
    h.fakes.respond((r) => (r.path.includes('/PNOFF/') && unavailable++ < 1 ? { status: 503, body: { error: { code: 2, message: 'Service temporarily unavailable' } }, headers: { 'retry-after': '3600' } } : undefined));
    const r = await send({ channelId: off.id, contact: { phone: '+5541977001199' }, message: { kind: 'text', text: 'antes de desligar' } });
    expect(r.status).toBe(202);
    // The first try meets a provider outage; the channel is disabled while the retry waits (an hour: a retry due in a
    // second or two went out before a slow disable landed), then the retry's time comes.
    await expectEventually(async () => expect((await h.ds.query('SELECT status, attempts FROM chat_ingress.messages WHERE id = $1', [r.body.messageId]))[0]).toEqual({ status: 'queued', attempts: 1 }));
    expect(h.fakes.sent('/PNOFF/messages')).toHaveLength(1);
    expect((await h.api('POST', `/channels/${off.id}/disable`, headers)).status).toBe(200);
    await h.ds.query(`UPDATE chat_ingress.messages SET next_attempt_at = now() WHERE id = $1 AND status = 'queued'`, [r.body.messageId]);
    await expectEventually(() => expect(failedOf(r.body.messageId)?.reason).toBe('channel_disabled'), { timeoutMs: 15_000 });
    expect(h.fakes.sent('/PNOFF/messages')).toHaveLength(1);
    expect((await h.ds.query('SELECT status, reason FROM chat_ingress.messages WHERE id = $1', [r.body.messageId]))[0]).toEqual({ status: 'failed', reason: 'channel_disabled' });
  });

  it('refuses attachments over the channel limit, templates on Messenger, unknown conversations', async () => {
    const big = await send({ channelId: wa.id, contact: { phone: '+5541988445566' }, message: { kind: 'media', media: { kind: 'video', url: 'https://cdn.example.com/v.mp4', sizeBytes: 2 * 1024 * 1024 } } });
    expect(big.status).toBe(422);
    expect(big.body).toMatchObject({ reason: 'attachment_too_large', detail: expect.stringContaining('1 MB') });
    // Size learned from the file's own headers at send time.
    h.fakes.respond((r) => (r.method === 'HEAD' && r.path === '/files/huge.mp4' ? { status: 200, body: '', headers: { 'content-length': String(3 * 1024 * 1024) } } : undefined));
    const huge = await send({ channelId: wa.id, contact: { phone: '+5541988445566' }, message: { kind: 'media', media: { kind: 'video', url: `${h.fakes.origin}/files/huge.mp4` } } });
    expect(huge.status).toBe(202);
    await expectEventually(() => expect(failedOf(huge.body.messageId)?.reason).toBe('attachment_too_large'));
    const tpl = await send({ channelId: ms.id, contact: { providerUserId: '1' }, message: { kind: 'template', template: { name: 'x', language: 'pt_BR' } } });
    expect(tpl).toMatchObject({ status: 422, body: { reason: 'template_not_supported' } });
    // What a provider would refuse as a bare invalid request is refused here, with the limit.
    const long = await send({ channelId: ms.id, contact: { providerUserId: '1' }, message: { kind: 'text', text: 'a'.repeat(2_001) } });
    expect(long).toMatchObject({ status: 422, body: { reason: 'message_invalid', detail: expect.stringContaining('at most 2000 characters') } });
    const accented = 'opção'.repeat(13); // 65 characters, 91 bytes
    const tgButton = await send({ channelId: tg.id, contact: { providerUserId: '5' }, message: { kind: 'text', text: 'Escolha', buttons: [{ id: accented, title: 'Opção' }] } });
    expect(tgButton).toMatchObject({ status: 422, body: { reason: 'message_invalid', detail: expect.stringContaining('64 bytes') } });
    expect((await send({ conversationId: randomUUID(), message: { kind: 'text', text: 'x' } })).status).toBe(404);
    expect((await send({ channelId: wa.id, message: { kind: 'text', text: 'x' } })).status).toBe(400);
    expect((await send({ channelId: wa.id, contact: { phone: '1' }, message: { kind: 'text' } })).status).toBe(400);
    // No message at all (the fuzz test's `{}`): 400 naming it, not a crash further on.
    for (const body of [{}, { channelId: wa.id, contact: { phone: '+5541988445566' } }, { conversationId: randomUUID(), message: 'oi' }]) {
      const r = await send(body);
      expect({ status: r.status, detail: r.body.detail }).toEqual({ status: 400, detail: expect.stringContaining('message') });
    }
    // Telegram and Messenger know a customer by their own id: a phone alone could never be delivered.
    const sentBefore = h.fakes.requests.length;
    for (const channelId of [tg.id, ms.id]) {
      const byPhone = await send({ channelId, contact: { phone: '+5541999990001' }, message: { kind: 'text', text: 'oi' } });
      expect(byPhone).toMatchObject({ status: 422, body: { reason: 'recipient_required', detail: expect.stringContaining('providerUserId') } });
    }
    expect(await h.ds.query(`SELECT 1 FROM chat_ingress.contacts WHERE phone = '+5541999990001'`)).toEqual([]);
    expect(h.fakes.requests.length).toBe(sentBefore);
  });

  it('refuses up front what a provider would refuse or cut after queueing: a long text over reply buttons, more buttons than the channel shows, a caption on Messenger', async () => {
    const buttons = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `op${i + 1}`, title: `Opção ${i + 1}` }));
    const before = h.fakes.requests.length;
    // WhatsApp's reply buttons (one to three) take a body of at most 1,024 characters; its list (four to ten rows) 4,096.
    const longOverButtons = await send({ channelId: wa.id, contact: { phone: '+5541988440081' }, message: { kind: 'text', text: 'a'.repeat(1_025), buttons: buttons(2) } });
    expect(longOverButtons).toMatchObject({ status: 422, body: { reason: 'message_invalid', detail: expect.stringContaining('at most 1024 characters') } });
    const manyRows = await send({ channelId: wa.id, contact: { phone: '+5541988440081' }, message: { kind: 'text', text: 'Escolha', buttons: buttons(11) } });
    expect(manyRows).toMatchObject({ status: 422, body: { reason: 'message_invalid', detail: expect.stringContaining('at most 10 buttons') } });
    const manyQuickReplies = await send({ channelId: ms.id, contact: { providerUserId: '1' }, message: { kind: 'text', text: 'Escolha', buttons: buttons(14) } });
    expect(manyQuickReplies).toMatchObject({ status: 422, body: { reason: 'message_invalid', detail: expect.stringContaining('at most 13 buttons') } });
    const caption = await send({ channelId: ms.id, contact: { providerUserId: '1' }, message: { kind: 'media', media: { kind: 'image', url: 'https://cdn.example.com/a.png', caption: 'Seu boleto' } } });
    expect(caption).toMatchObject({ status: 422, body: { reason: 'message_invalid', detail: expect.stringContaining('caption') } });
    expect(h.fakes.requests.length).toBe(before);
    // What the providers take still goes: a list of ten rows under a long text, three buttons under 1,024 characters.
    for (const message of [{ kind: 'text', text: 'b'.repeat(4_000), buttons: buttons(10) }, { kind: 'text', text: 'c'.repeat(1_024), buttons: buttons(3) }]) {
      const ok = await send({ channelId: wa.id, contact: { phone: '+5541988440081' }, message });
      expect(ok.status).toBe(202);
      await expectEventually(() => expect(sentOf(ok.body.messageId)).toBeDefined());
    }
  });

  it('Telegram: refuses up front an inline keyboard Telegram refuses (more than 100 buttons, a button id empty or over 64 bytes); what it takes goes', async () => {
    const buttons = (n: number, id = (i: number) => `op${i + 1}`) => Array.from({ length: n }, (_, i) => ({ id: id(i), title: `Opção ${i + 1}` }));
    const to = { channelId: tg.id, contact: { providerUserId: '880000101' } };
    const before = h.fakes.requests.length;
    const many = await send({ ...to, message: { kind: 'text', text: 'Escolha', buttons: buttons(101) } });
    expect(many).toMatchObject({ status: 422, body: { status: 422, reason: 'message_invalid', detail: 'telegram shows at most 100 buttons under a text; this one has 101' } });
    const empty = await send({ ...to, message: { kind: 'text', text: 'Escolha', buttons: [{ id: 'ok', title: 'Sim' }, { id: '', title: 'Não' }] } });
    expect(empty).toMatchObject({ status: 422, body: { reason: 'message_invalid', detail: 'button id "" is not 1 to 64 bytes, what Telegram takes as callback_data' } });
    const long = await send({ ...to, message: { kind: 'text', text: 'Escolha', buttons: buttons(1, () => `${'ç'.repeat(30)}00001`) } });
    expect(long).toMatchObject({ status: 422, body: { reason: 'message_invalid', detail: expect.stringContaining('is not 1 to 64 bytes') } });
    expect(h.fakes.requests.length).toBe(before);
    // A hundred buttons, and an id of 64 bytes (30 two-byte characters and 4 digits), are what Telegram takes.
    const most = await send({ ...to, message: { kind: 'text', text: 'Escolha', buttons: buttons(100) } });
    const longest = await send({ ...to, message: { kind: 'text', text: 'Confirma?', buttons: buttons(1, () => `${'ç'.repeat(30)}0001`) } });
    expect([most.status, longest.status]).toEqual([202, 202]);
    await expectEventually(() => [most, longest].forEach((r) => expect(sentOf(r.body.messageId)).toBeDefined()));
    const keyboards = h.fakes.sent('/sendMessage').filter((r) => r.body.chat_id === '880000101').map((r) => (r.body.reply_markup as { inline_keyboard: Array<Array<{ callback_data: string }>> }).inline_keyboard);
    expect(keyboards.map((k) => k.length)).toEqual([100, 1]);
    expect(Buffer.byteLength(keyboards[1]![0]![0]!.callback_data)).toBe(64);
  });

  it('Telegram Business: a connection the business disabled, or through which the bot may no longer reply: POST /messages into its chats is refused (422 no_access, nothing queued), a send from the bus fails with a clear reason and calls nothing; enabled again with the right to reply, they go', async () => {
    const biz = (await h.api<{ id: string; secrets: Record<string, string> }>('POST', '/channels', headers, { provider: 'telegram', name: 'tg business', credentials: { accessToken: '44:tg-business' } })).body;
    const post = async (update: Record<string, unknown>) => {
      const res = await h.api('POST', `/webhooks/telegram/${biz.id}`, { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': biz.secrets.telegramSecretToken }, update);
      expect(res.status).toBe(200);
      return res.body;
    };
    const chat = { id: 880000401, type: 'private', first_name: 'Lia' };
    expect(await post({ update_id: 501, business_message: { business_connection_id: 'bc-401', message_id: 1, date: Math.floor(Date.now() / 1000), chat, from: chat, text: 'oi' } })).toMatchObject({ stored: 1 });
    const [{ conversation_id: conversationId }] = await h.ds.query(`SELECT conversation_id FROM chat_ingress.messages WHERE channel_id = $1 AND direction = 'in'`, [biz.id]);
    const connection = (update_id: number, more: Record<string, unknown>) =>
      post({ update_id, business_connection: { id: 'bc-401', user: { id: 990000401, first_name: 'Loja' }, user_chat_id: 990000401, date: 1763800000, ...more } });
    const to = { channelId: biz.id, contact: { providerUserId: '880000401' } };
    const calls = () => h.fakes.sent('/tg/bot44:tg-business/sendMessage');
    const queued = async (ids: string[]) => (await h.ds.query(`SELECT id FROM chat_ingress.messages WHERE id = ANY($1::uuid[])`, [ids])).length;
    /** POST /messages to the chat (by contact and by conversation) and the same send from the bus; the bus's message ids. */
    const sendAllWays = async (refused: { detail: string }): Promise<string> => {
      const ids = [randomUUID(), randomUUID()];
      for (const [messageId, target] of [[ids[0], to], [ids[1], { conversationId }]] as const) {
        const r = await send({ messageId, ...target, message: { kind: 'text', text: 'Olá?' } });
        expect(r).toMatchObject({ status: 422, body: { status: 422, reason: 'no_access', detail: refused.detail } });
      }
      expect(await queued(ids)).toBe(0);
      const viaBus = randomUUID();
      await h.probe.publish(createEvent({ type: 'chat.message.send.requested', source: 'elo://test', tenantId, data: { messageId: viaBus, ...to, message: { kind: 'text', text: 'Olá?' } } }));
      return viaBus;
    };

    // The business disconnects the bot: the update is accepted (no message), and a send into that chat is not tried.
    expect(await connection(502, { is_enabled: false, rights: { can_reply: true } })).toEqual({ stored: 0, duplicates: 0, statuses: 0 });
    const off = await sendAllWays({ detail: 'the business account disconnected the bot (Telegram Business connection bc-401)' });
    await expectEventually(() => expect(failedOf(off)).toMatchObject({ reason: 'no_access', error: { code: 'business_connection_disabled' } }));
    // Connected again, but without the right to reply.
    await connection(503, { is_enabled: true, rights: { can_read_messages: true } });
    const mute = await sendAllWays({ detail: 'the business account does not let the bot reply (Telegram Business connection bc-401)' });
    await expectEventually(() => expect(failedOf(mute)).toMatchObject({ reason: 'no_access', error: { code: 'business_connection_cannot_reply' } }));
    expect(calls()).toHaveLength(0);

    await connection(504, { is_enabled: true, rights: { can_reply: true, can_read_messages: true } });
    const on = await send({ ...to, message: { kind: 'text', text: 'Olá!' } });
    expect(on.status).toBe(202);
    await expectEventually(() => expect(sentOf(on.body.messageId)).toBeDefined());
    expect(calls().map((r) => r.body)).toEqual([expect.objectContaining({ chat_id: '880000401', business_connection_id: 'bc-401', text: 'Olá!' })]);
  });

  it('a send the provider took is recorded even when the first try to record it fails (a database blip): it is not sent again', async () => {
    const messageId = randomUUID();
    const outbox = h.app.get(Outbox);
    const publish = outbox.publish.bind(outbox);
    let blips = 0;
    const spy = jest.spyOn(outbox, 'publish').mockImplementation(async (m, ...specs) => {
      if (blips === 0 && specs.some((s) => s.type === 'chat.message.sent' && (s.data as { messageId?: string }).messageId === messageId)) {
        blips++;
        throw new Error('Connection terminated unexpectedly');
      }
      return publish(m, ...specs);
    });
    try {
      expect((await send({ messageId, channelId: wa.id, contact: { phone: '+5541988440082' }, message: { kind: 'text', text: 'uma só vez' } })).status).toBe(202);
      await expectEventually(() => expect(sentOf(messageId)).toBeDefined(), { timeoutMs: 10_000 });
    } finally {
      spy.mockRestore();
    }
    expect(blips).toBe(1);
    // The lease of a message still `sending` runs out: it would be taken again. This one is sent.
    await h.ds.query(`UPDATE chat_ingress.messages SET next_attempt_at = now() WHERE id = $1 AND status = 'sending'`, [messageId]);
    await h.app.get(SenderService).drain();
    expect(h.fakes.requests.filter((r) => textOf(r) === 'uma só vez')).toHaveLength(1);
  });

  it('a message taken again after its lease more often than a send is tried fails for good instead of going out again', async () => {
    // The provider asks for an hour: the message waits queued, then looks claimed by a sender that never recorded an outcome.
    let unavailable = 0;
    h.fakes.respond((r) => (textOf(r) === 'sem fim' && unavailable++ < 1 ? { status: 503, body: { error: { code: 2, message: 'Service temporarily unavailable' } }, headers: { 'retry-after': '3600' } } : undefined));
    const r = await send({ channelId: wa.id, contact: { phone: '+5541988440083' }, message: { kind: 'text', text: 'sem fim' } });
    await expectEventually(async () => expect((await h.ds.query('SELECT status, attempts FROM chat_ingress.messages WHERE id = $1', [r.body.messageId]))[0]).toEqual({ status: 'queued', attempts: 1 }));
    await h.ds.query(`UPDATE chat_ingress.messages SET status = 'sending', attempts = 8, next_attempt_at = now() WHERE id = $1`, [r.body.messageId]);
    await expectEventually(() => expect(failedOf(r.body.messageId)?.reason).toBe('internal_error'));
    expect(h.fakes.requests.filter((x) => textOf(x) === 'sem fim')).toHaveLength(1);
  });

  it('handles chat.message.send.requested from the bus, once per messageId', async () => {
    const messageId = randomUUID();
    const ev = createEvent({ type: 'chat.message.send.requested', source: 'elo://test', tenantId, data: { messageId, channelId: wa.id, contact: { phone: '+5541977001122' }, message: { kind: 'text', text: 'via evento' }, origin: 'integration:x' } });
    await h.probe.publish(ev);
    await h.probe.publish({ ...ev, id: randomUUID() });
    await expectEventually(() => expect(sentOf(messageId)).toBeDefined());
    await h.app.get(SenderService).drain();
    expect(h.fakes.requests.filter((r) => textOf(r) === 'via evento')).toHaveLength(1);
    const bad = randomUUID();
    await h.probe.publish(createEvent({ type: 'chat.message.send.requested', source: 'elo://test', tenantId, data: { messageId: bad, channelId: wa.id, contact: { phone: '+5541977001122' }, message: { kind: 'media', media: { kind: 'image', url: 'https://x/y.png', sizeBytes: 5e6 } } } }));
    await expectEventually(() => expect(failedOf(bad)?.reason).toBe('attachment_too_large'));
  });

  it('the same new messageId posted many times at once: one message queued, every answer a 202', async () => {
    const messageId = randomUUID();
    const answers = await Promise.all(Array.from({ length: 8 }, () =>
      send({ messageId, channelId: wa.id, contact: { phone: '+5541988440077' }, message: { kind: 'text', text: 'uma vez' } })));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(202));
    expect(answers.filter((a) => a.body.status === 'duplicate')).toHaveLength(7);
    expect(await h.ds.query(`SELECT count(*)::int AS n FROM chat_ingress.messages WHERE id = $1`, [messageId])).toEqual([{ n: 1 }]);
  });

  it('a text with U+0000 is queued with U+FFFD in its place (PostgreSQL cannot store it), not refused with a 500', async () => {
    const r = await send({ channelId: wa.id, contact: { phone: '+5541988440078' }, message: { kind: 'text', text: 'a\u0000b' } });
    expect(r.status).toBe(202);
    const [row] = await h.ds.query(`SELECT body FROM chat_ingress.messages WHERE id = $1`, [r.body.messageId]);
    expect(row.body.message.text).toBe('a\uFFFDb');
  });

  it('a text with a lone surrogate is queued with U+FFFD in its place (jsonb refuses it), not refused with a 500', async () => {
    const r = await send({ channelId: wa.id, contact: { phone: '+5541988440079', name: 'Lu\udfff' }, message: { kind: 'text', text: 'a\ud800b' } });
    expect(r.status).toBe(202);
    const [row] = await h.ds.query(`SELECT body FROM chat_ingress.messages WHERE id = $1`, [r.body.messageId]);
    expect(row.body.message.text).toBe('a\uFFFDb');
  });

  it('a messageId is idempotent within its tenant; another tenant giving it gets 409 and learns nothing of the first message', async () => {
    const messageId = randomUUID();
    const first = await send({ messageId, channelId: wa.id, contact: { phone: '+5541977003344' }, message: { kind: 'text', text: 'do tenant A' } });
    expect(first).toMatchObject({ status: 202, body: { messageId, status: 'queued', channelId: wa.id } });
    expect(await send({ messageId, channelId: wa.id, contact: { phone: '+5541977003344' }, message: { kind: 'text', text: 'do tenant A' } })).toMatchObject({ status: 202, body: { status: 'duplicate', channelId: wa.id } });

    const b = await h.tenantKey();
    const bChannel = (await h.api<{ id: string }>('POST', '/channels', b.headers, { provider: 'whatsapp', name: 'wa-b', phoneNumberId: 'PNB', credentials: { accessToken: 'b-token', appSecret: 's' } })).body;
    const taken = await h.api('POST', '/messages', b.headers, { messageId, channelId: bChannel.id, contact: { phone: '+5541977005566' }, message: { kind: 'text', text: 'do tenant B' } });
    expect(taken).toMatchObject({ status: 409, body: { status: 409, reason: 'message_id_taken', detail: expect.stringContaining('already used') } });
    expect(JSON.stringify(taken.body)).not.toContain(wa.id);
    expect(await h.ds.query('SELECT tenant_id, channel_id FROM chat_ingress.messages WHERE id = $1', [messageId])).toEqual([{ tenant_id: tenantId, channel_id: wa.id }]);

    // The same through the bus: refused with a failed status to tenant B, tenant A's message untouched.
    await h.probe.publish(createEvent({ type: 'chat.message.send.requested', source: 'elo://test', tenantId: b.tenantId, data: { messageId, channelId: bChannel.id, contact: { phone: '+5541977005566' }, message: { kind: 'text', text: 'do tenant B' } } }));
    await expectEventually(() => expect(h.probe.ofType<Failed & { channelId: string }>('chat.message.status').find((e) => e.tenantid === b.tenantId && e.data.messageId === messageId)?.data)
      .toMatchObject({ status: 'failed', reason: 'message_id_taken', channelId: bChannel.id }));
    await expectEventually(() => expect(sentOf(messageId)).toBeDefined());
    expect(h.fakes.sent('/graph/PNB/messages')).toHaveLength(0);
    expect(await h.ds.query('SELECT tenant_id, status FROM chat_ingress.messages WHERE id = $1', [messageId])).toEqual([{ tenant_id: tenantId, status: 'sent' }]);
  });

  it('token check: refreshes Meta tokens with refresh credentials, records the check, raises invalid tokens', async () => {
    const svc = h.app.get(TokenCheckService);
    const results = await svc.checkAll(true);
    expect(results.find((r) => r.channelId === wa.id)).toMatchObject({ status: 'valid', refreshed: true });
    expect(results.find((r) => r.channelId === tg.id)).toMatchObject({ status: 'valid', refreshed: false });
    const view = await h.api<{ token: { status: string; checkedAt: string; expiresAt: string }; credentials: { accessToken: string } }>('GET', `/channels/${wa.id}`, headers);
    expect(view.body.token).toMatchObject({ status: 'valid', checkedAt: expect.any(String), expiresAt: expect.any(String) });
    expect(view.body.credentials.accessToken).not.toContain('refreshed-');
    // The refreshed token is the one used from now on.
    const r = await send({ channelId: wa.id, contact: { phone: '+5541988445566' }, message: { kind: 'text', text: 'novo token' } });
    await expectEventually(() => expect(sentOf(r.body.messageId)).toBeDefined());
    expect(h.fakes.requests.find((x) => textOf(x) === 'novo token')?.headers.authorization).toMatch(/^Bearer refreshed-/);

    h.fakes.respond((x) => (x.path.includes('/getMe') ? { status: 401, body: { ok: false, error_code: 401, description: 'Unauthorized' } } : undefined));
    h.fakes.respond((x) => (x.path.startsWith('/graph/debug_token') ? { status: 200, body: { data: { is_valid: true, expires_at: Math.floor(Date.now() / 1000) + 2 * 86400 } } } : undefined));
    const manual = await h.api<{ token: { status: string } }>('POST', `/channels/${tg.id}/refresh-token`, headers);
    expect(manual).toMatchObject({ status: 200, body: { token: { status: 'invalid' } } });
    const again = await h.api<{ token: { status: string } }>('POST', `/channels/${wa.id}/refresh-token`, headers);
    expect(again.body.token.status).toBe('expiring');
    await expectEventually(() => {
      expect(h.probe.ofType<{ channelId: string }>('chat.channel.token.invalid').map((e) => e.data.channelId)).toContain(tg.id);
      expect(h.probe.ofType<{ channelId: string }>('chat.channel.token.expiring').map((e) => e.data.channelId)).toContain(wa.id);
    });
  });
});
