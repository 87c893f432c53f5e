import { Webhook } from 'standardwebhooks';
import { expectEventually } from '@elo/testing';
import { metaSignature } from '../src/webhooks/signatures';
import { fixture, startHarness, type Harness } from './support/harness';

/*
 * Forged webhooks on every inbound type: wrong, missing, truncated and replayed signatures (Meta's
 * X-Hub-Signature-256 on WhatsApp, Messenger and Instagram; Telegram's secret token; Standard Webhooks
 * on the generic channel). Each is answered 401, and nothing is stored (no receipt, contact,
 * conversation, message or status) and nothing is published (no event on the bus once all written is there).
 * A genuine request at the end proves the same channels and probe do see what gets through.
 */

type Forgery = { id: string; status: number };

describe('chat-ingress: forged webhooks are refused and leave no trace', () => {
  let h: Harness;
  const channels: Record<string, { id: string; secrets: Record<string, string> }> = {};
  const APP_SECRETS = { whatsapp: 'wa-app-secret-forgery', messenger: 'ms-app-secret-forgery', instagram: 'ig-app-secret-forgery' };
  const META_FIXTURES = { whatsapp: 'whatsapp-text-message.json', messenger: 'messenger-message-delivery-read.json', instagram: 'instagram-message-seen.json' };

  beforeAll(async () => {
    h = await startHarness('chat_ingress_forgery');
    const { headers } = await h.tenantKey();
    for (const [provider, body] of Object.entries({
      whatsapp: { phoneNumberId: '109876543210987', credentials: { accessToken: 'wa-token', appSecret: APP_SECRETS.whatsapp } },
      messenger: { accountId: '1200000000000001', credentials: { accessToken: 'page-token', appSecret: APP_SECRETS.messenger } },
      instagram: { accountId: '17840000000000001', credentials: { accessToken: 'ig-token', appSecret: APP_SECRETS.instagram } },
      telegram: { botName: 'elo_bot', credentials: { accessToken: '123456:telegram-bot-token' } },
      telegramOther: { botName: 'other_bot', credentials: { accessToken: '654321:other-bot-token' } },
      generic: {},
      genericOther: {},
    })) {
      const res = await h.api<{ id: string; secrets: Record<string, string> }>('POST', '/channels', headers, {
        provider: provider.replace('Other', ''), name: provider, ...body,
      });
      expect(res.status).toBe(201);
      channels[provider] = res.body;
    }
  });

  afterAll(async () => {
    await h?.close();
  });

  const traces = async (): Promise<Record<string, number>> => {
    const counts: Record<string, number> = {};
    for (const table of ['webhook_receipts', 'contacts', 'conversations', 'messages', 'status_receipts']) {
      const [r] = await h.ds.query(`SELECT count(*)::int AS n FROM chat_ingress.${table}`);
      counts[table] = r.n;
    }
    // The outbox keeps only what the relay has yet to publish: what was published is counted on the bus, once
    // everything written so far is there.
    await h.settled();
    return { ...counts, published: h.published().length };
  };

  const post = (provider: string, channelId: string, raw: string, headers: Record<string, string>) =>
    h.api('POST', `/webhooks/${provider}/${channelId}`, { 'content-type': 'application/json', ...headers }, raw);

  it('Meta (WhatsApp, Messenger, Instagram): wrong, missing, malformed, truncated and replayed X-Hub-Signature-256 → 401, nothing stored or published', async () => {
    const before = await traces();
    const results: Forgery[] = [];
    for (const provider of ['whatsapp', 'messenger', 'instagram'] as const) {
      const ch = channels[provider]!;
      const raw = fixture(META_FIXTURES[provider]);
      const good = metaSignature(raw, APP_SECRETS[provider]);
      const otherBody = raw.replace(/"(\d{6,})"/, '"$19"');
      expect(otherBody).not.toBe(raw);
      const forgeries: Array<[string, Record<string, string>, string?]> = [
        ['missing', {}],
        ['empty', { 'x-hub-signature-256': '' }],
        ['wrong secret', { 'x-hub-signature-256': metaSignature(raw, 'not-the-app-secret') }],
        ["another channel's secret", { 'x-hub-signature-256': metaSignature(raw, APP_SECRETS[provider === 'whatsapp' ? 'messenger' : 'whatsapp']) }],
        ['malformed', { 'x-hub-signature-256': 'sha256=zz' }],
        ['no algorithm prefix', { 'x-hub-signature-256': good.slice('sha256='.length) }],
        ['sha1 prefix', { 'x-hub-signature-256': good.replace('sha256=', 'sha1=') }],
        ['truncated to half', { 'x-hub-signature-256': good.slice(0, 'sha256='.length + 32) }],
        ['truncated by one', { 'x-hub-signature-256': good.slice(0, -1) }],
        ['extended by one hex digit', { 'x-hub-signature-256': `${good}0` }],
        ['extended by junk', { 'x-hub-signature-256': `${good}zz` }],
        ['replayed on another body', { 'x-hub-signature-256': good }, otherBody],
        ['replayed on re-serialised JSON', { 'x-hub-signature-256': good }, JSON.stringify(JSON.parse(raw), null, 1)],
      ];
      for (const [id, headers, body] of forgeries) {
        results.push({ id: `${provider}: ${id}`, status: (await post(provider, ch.id, body ?? raw, headers)).status });
      }
    }
    expect(results.filter((r) => r.status !== 401)).toEqual([]);
    expect(await traces()).toEqual(before);
  });

  it('Telegram: missing, wrong, truncated, padded and another bot\'s secret token → 401, nothing stored or published', async () => {
    const before = await traces();
    const ch = channels.telegram!;
    const token = ch.secrets.telegramSecretToken!;
    const raw = fixture('telegram-update-message.json');
    const forgeries: Array<[string, Record<string, string>]> = [
      ['missing', {}],
      ['empty', { 'x-telegram-bot-api-secret-token': '' }],
      ['wrong', { 'x-telegram-bot-api-secret-token': 'not-the-secret-token' }],
      ['truncated by one', { 'x-telegram-bot-api-secret-token': token.slice(0, -1) }],
      ['truncated to half', { 'x-telegram-bot-api-secret-token': token.slice(0, token.length / 2) }],
      ['padded', { 'x-telegram-bot-api-secret-token': `${token}x` }],
      ["another bot's token (replayed across channels)", { 'x-telegram-bot-api-secret-token': channels.telegramOther!.secrets.telegramSecretToken! }],
      ['in another header', { authorization: `Bearer ${token}` }],
    ];
    const results: Forgery[] = [];
    for (const [id, headers] of forgeries) results.push({ id, status: (await post('telegram', ch.id, raw, headers)).status });
    expect(results.filter((r) => r.status !== 401)).toEqual([]);
    expect(await traces()).toEqual(before);
  });

  it('Standard Webhooks (generic channel): missing headers, wrong and truncated signatures, stale, future and replayed requests → 401, nothing stored or published', async () => {
    const before = await traces();
    const ch = channels.generic!;
    const wh = new Webhook(ch.secrets.signingSecret!);
    const other = new Webhook(channels.genericOther!.secrets.signingSecret!);
    const raw = JSON.stringify({ events: [{ type: 'message', id: 'forged-1', timestamp: '2026-11-22T10:00:00Z', contact: { id: 'c-1' }, message: { kind: 'text', text: 'oi' } }] });
    const anotherRaw = raw.replace('forged-1', 'forged-2');
    const now = new Date();
    const ts = (d: Date) => String(Math.floor(d.getTime() / 1000));
    const good = wh.sign('msg_1', now, raw);
    const signed = (id: string, at: Date, body: string, sig: string) => ({ 'webhook-id': id, 'webhook-timestamp': ts(at), 'webhook-signature': sig, body });
    const forgeries: Array<[string, Record<string, string>]> = [
      ['no headers', { body: raw }],
      ['no signature', { 'webhook-id': 'msg_1', 'webhook-timestamp': ts(now), body: raw }],
      ['no id', { 'webhook-timestamp': ts(now), 'webhook-signature': good, body: raw }],
      ['no timestamp', { 'webhook-id': 'msg_1', 'webhook-signature': good, body: raw }],
      ['garbage signature', signed('msg_1', now, raw, 'v1,AAAA')],
      ['wrong secret', signed('msg_1', now, raw, other.sign('msg_1', now, raw))],
      ['truncated signature', signed('msg_1', now, raw, good.slice(0, good.length - 8))],
      ['unknown version', signed('msg_1', now, raw, good.replace('v1,', 'v2,'))],
      ['signature replayed on another body', signed('msg_1', now, anotherRaw, good)],
      ['signature replayed under another id', signed('msg_2', now, raw, good)],
      ['signature replayed at another time', signed('msg_1', new Date(now.getTime() + 60_000), raw, good)],
      ['replayed after six minutes (stale, correctly signed)', signed('msg_3', new Date(now.getTime() - 6 * 60_000), raw, wh.sign('msg_3', new Date(now.getTime() - 6 * 60_000), raw))],
      ['six minutes in the future (correctly signed)', signed('msg_4', new Date(now.getTime() + 6 * 60_000), raw, wh.sign('msg_4', new Date(now.getTime() + 6 * 60_000), raw))],
    ];
    const results: Forgery[] = [];
    for (const [id, { body, ...headers }] of forgeries) results.push({ id, status: (await post('generic', ch.id, body!, headers)).status });
    expect(results.filter((r) => r.status !== 401)).toEqual([]);
    expect(await traces()).toEqual(before);
  });

  it('a genuine request on the same channels gets through and is seen (the probe and counters are live); its exact replay is a duplicate: no new contact, conversation, message, status or published event', async () => {
    const ch = channels.generic!;
    const wh = new Webhook(ch.secrets.signingSecret!);
    const raw = JSON.stringify({ events: [{ type: 'message', id: 'genuine-1', timestamp: '2026-11-22T10:00:00Z', contact: { id: 'c-2' }, message: { kind: 'text', text: 'oi' } }] });
    const at = new Date();
    const headers = { 'webhook-id': 'msg_genuine', 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': wh.sign('msg_genuine', at, raw) };
    expect(await post('generic', ch.id, raw, headers)).toEqual({ status: 200, body: { stored: 1, duplicates: 0, statuses: 0 } });
    await expectEventually(() => expect(h.probe.ofType<{ providerMessageId: string }>('chat.message.received').filter((e) => e.data.providerMessageId === 'genuine-1')).toHaveLength(1));
    // The raw receipt log is left out: the effects (what is stored, and what is published, counted on the bus
    // once all written is there) are what must not repeat.
    const effects = ({ webhook_receipts: _receipts, ...rest }: Record<string, number>) => rest;
    const after = effects(await traces());
    expect(await post('generic', ch.id, raw, headers)).toEqual({ status: 200, body: { stored: 0, duplicates: 1, statuses: 0 } });
    expect(effects(await traces())).toEqual(after);
    expect(h.published<{ providerMessageId: string }>('chat.message.received').filter((e) => e.data.providerMessageId === 'genuine-1')).toHaveLength(1);
  });
});
