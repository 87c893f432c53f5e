import { fixture, startHarness, type Harness } from './support/harness';

type Registration = { status: 'registered' | 'failed'; url: string; at: string; error?: string };
type View = { id: string; provider: string; webhookUrl: string; webhookRegistration?: Registration; secrets?: Record<string, string> };

const BOT_TOKEN = '700100:telegram-bot-token-secret';

describe('chat-ingress: Telegram webhook registration (setWebhook)', () => {
  let h: Harness;
  let headers: Record<string, string>;

  beforeAll(async () => {
    h = await startHarness('chat_ingress_tg_webhook');
    ({ headers } = await h.tenantKey());
  });

  afterAll(async () => {
    await h?.close();
  });

  afterEach(() => h.fakes.reset());

  const setWebhookCalls = () => h.fakes.sent('/setWebhook');
  const create = (accessToken = BOT_TOKEN) =>
    h.api<View>('POST', '/channels', headers, { provider: 'telegram', name: 'bot', botName: 'elo_bot', credentials: { accessToken } });
  const postUpdate = (channelId: string, secret: string) =>
    h.api('POST', `/webhooks/telegram/${channelId}`, { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret }, fixture('telegram-update-message.json'));

  it('creating a Telegram channel calls setWebhook with its webhook URL and secret token and records the outcome', async () => {
    const before = setWebhookCalls().length;
    const res = await create();
    expect(res.status).toBe(201);
    const calls = setWebhookCalls().slice(before);
    expect(calls).toHaveLength(1);
    expect(calls[0].method).toBe('POST');
    expect(calls[0].path).toBe(`/tg/bot${BOT_TOKEN}/setWebhook`);
    expect(calls[0].body).toMatchObject({ url: `https://elo.example.com/webhooks/telegram/${res.body.id}`, secret_token: res.body.secrets!.telegramSecretToken });
    // The update types the normaliser understands, Telegram Business's edits and connection changes among them.
    expect([...(calls[0].body.allowed_updates as string[])].sort()).toEqual(['business_connection', 'business_message', 'callback_query', 'edited_business_message', 'edited_message', 'message']);
    expect(res.body.webhookUrl).toBe(`https://elo.example.com/webhooks/telegram/${res.body.id}`);
    expect(res.body.webhookRegistration).toMatchObject({ status: 'registered', url: res.body.webhookUrl });
    expect(res.body.webhookRegistration!.error).toBeUndefined();

    const got = await h.api<View>('GET', `/channels/${res.body.id}`, headers);
    expect(got.body.webhookRegistration).toMatchObject({ status: 'registered', url: res.body.webhookUrl });
    expect(new Date(got.body.webhookRegistration!.at).getTime()).toBeGreaterThan(Date.now() - 60_000);
  });

  it('a refused setWebhook is visible on the channel, does not fail the creation, and the manual action retries it', async () => {
    h.fakes.respond((r) => (r.path.endsWith('/setWebhook') ? { status: 400, body: { ok: false, error_code: 400, description: 'Bad Request: bad webhook: HTTPS url must be provided for webhook' } } : undefined));
    const res = await create();
    expect(res.status).toBe(201);
    expect(res.body.webhookRegistration).toMatchObject({ status: 'failed', error: 'setWebhook answered 400: Bad Request: bad webhook: HTTPS url must be provided for webhook' });
    expect(JSON.stringify(res.body)).not.toContain(BOT_TOKEN);
    // The channel works regardless: updates posted with the secret token are accepted.
    expect((await postUpdate(res.body.id, res.body.secrets!.telegramSecretToken)).status).toBe(200);
    expect((await h.api<View>('GET', `/channels/${res.body.id}`, headers)).body.webhookRegistration?.status).toBe('failed');

    h.fakes.reset();
    const before = setWebhookCalls().length;
    const again = await h.api<View>('POST', `/channels/${res.body.id}/register-webhook`, headers);
    expect(again.status).toBe(200);
    expect(setWebhookCalls().slice(before)).toHaveLength(1);
    expect(again.body.webhookRegistration).toMatchObject({ status: 'registered', url: res.body.webhookUrl });
    expect(again.body.webhookRegistration!.error).toBeUndefined();
  });

  it('a refused bot token (401) and an answer that is not the Bot API\'s are recorded as failed, without the token', async () => {
    h.fakes.respond((r) => (r.path.endsWith('/setWebhook') ? { status: 401, body: { ok: false, error_code: 401, description: 'Unauthorized' } } : undefined));
    const res = await create('700101:revoked-bot-token');
    expect(res.body.webhookRegistration).toMatchObject({ status: 'failed', error: 'setWebhook answered 401: Unauthorized' });
    h.fakes.respond((r) => (r.path.endsWith('/setWebhook') ? { status: 200, body: 'not json' } : undefined));
    const again = await h.api<View>('POST', `/channels/${res.body.id}/register-webhook`, headers);
    expect(again.status).toBe(200);
    expect(again.body.webhookRegistration).toMatchObject({ status: 'failed', error: 'setWebhook answered 200' });
    expect(JSON.stringify(again.body)).not.toContain('revoked-bot-token');
  });

  it('a new secret token is registered again, and only the new one is accepted on the webhook', async () => {
    const res = await create();
    const oldSecret = res.body.secrets!.telegramSecretToken;
    const newSecret = 'rotated_secret_token_0123456789';
    const before = setWebhookCalls().length;
    const patched = await h.api<View>('PATCH', `/channels/${res.body.id}`, headers, { credentials: { telegramSecretToken: newSecret } });
    expect(patched.status).toBe(200);
    const calls = setWebhookCalls().slice(before);
    expect(calls).toHaveLength(1);
    expect(calls[0].body).toMatchObject({ url: res.body.webhookUrl, secret_token: newSecret });
    expect(patched.body.webhookRegistration?.status).toBe('registered');
    expect((await postUpdate(res.body.id, oldSecret)).status).toBe(401);
    expect((await postUpdate(res.body.id, newSecret)).status).toBe(200);
    // A change that touches no credential registers nothing.
    const n = setWebhookCalls().length;
    expect((await h.api('PATCH', `/channels/${res.body.id}`, headers, { name: 'renamed' })).status).toBe(200);
    expect(setWebhookCalls()).toHaveLength(n);
  });

  it('deleted_business_messages (a Telegram Business chat deleted messages) is accepted and ignored: 200, no message stored', async () => {
    const res = await create();
    const update = { update_id: 730000901, deleted_business_messages: { business_connection_id: 'bc-1', chat: { id: 880000501, type: 'private', first_name: 'Lia' }, message_ids: [4, 5] } };
    const answer = await h.api('POST', `/webhooks/telegram/${res.body.id}`, { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': res.body.secrets!.telegramSecretToken }, update);
    expect(answer).toEqual({ status: 200, body: { stored: 0, duplicates: 0, statuses: 0 } });
    expect(await h.ds.query('SELECT id FROM chat_ingress.messages WHERE channel_id = $1', [res.body.id])).toEqual([]);
    expect(await h.ds.query('SELECT id FROM chat_ingress.contacts WHERE channel_id = $1', [res.body.id])).toEqual([]);
  });

  it('other providers: no setWebhook on create, and the manual action answers 422', async () => {
    const before = setWebhookCalls().length;
    const wa = await h.api<View>('POST', '/channels', headers, { provider: 'whatsapp', name: 'wa', phoneNumberId: '1098', credentials: { accessToken: 't', appSecret: 's' } });
    expect(wa.status).toBe(201);
    expect(wa.body.webhookRegistration).toBeUndefined();
    const res = await h.api<{ status: number; detail: string }>('POST', `/channels/${wa.body.id}/register-webhook`, headers);
    expect(res.status).toBe(422);
    expect(res.body.detail).toContain('verify token');
    expect(setWebhookCalls()).toHaveLength(before);
    expect((await h.api('POST', '/channels/00000000-0000-4000-8000-000000000000/register-webhook', headers)).status).toBe(404);
  });
});
