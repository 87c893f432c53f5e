import { startHarness, type Harness } from './support/harness';

type View = { id: string; provider: string; verifyToken: string; secrets?: Record<string, string> };

describe('chat-ingress: rotating a channel\'s verify token (real PostgreSQL and RabbitMQ)', () => {
  let h: Harness;
  let headers: Record<string, string>;
  let tenantId: string;
  let channel: View;

  beforeAll(async () => {
    h = await startHarness('chat_ingress_verify_token');
    ({ tenantId, headers } = await h.tenantKey());
    const res = await h.api<View>('POST', '/channels', headers, { provider: 'whatsapp', name: 'Suporte', phoneNumberId: '109876543210001', credentials: { appSecret: 'app-secret' } });
    expect(res.status).toBe(201);
    channel = res.body;
  });

  afterAll(async () => {
    await h?.close();
  });

  const handshake = (token: string) =>
    h.api<unknown>('GET', `/webhooks/whatsapp/${channel.id}?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(token)}&hub.challenge=1158201444`, {});
  const rotate = (id: string, keyHeaders = headers) => h.api<View & { status?: number; detail?: string }>('POST', `/channels/${id}/verify-token`, keyHeaders);

  it('returns a new token once, shows it masked afterwards, audits the change without it, and only the new token passes the handshake', async () => {
    const old = channel.secrets!.verifyToken;
    expect((await handshake(old)).status).toBe(200);

    const res = await rotate(channel.id);
    expect(res.status).toBe(200);
    const fresh = res.body.secrets!.verifyToken;
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(fresh).not.toBe(old);
    expect(res.body.verifyToken).toBe(fresh);
    expect(res.body).toMatchObject({ id: channel.id, provider: 'whatsapp' });

    const got = await h.api<View>('GET', `/channels/${channel.id}`, headers);
    expect(got.status).toBe(200);
    expect(JSON.stringify(got.body)).not.toContain(fresh);
    expect(got.body.secrets).toBeUndefined();
    expect(JSON.stringify((await h.api('GET', '/channels', headers)).body)).not.toContain(fresh);

    const stored = await h.ds.query('SELECT verify_token FROM chat_ingress.channels WHERE id = $1', [channel.id]);
    expect(stored[0].verify_token).not.toContain(fresh);
    const audit: Array<{ action: string; changes: string }> = await h.ds.query(
      'SELECT action, changes::text AS changes FROM auth.audit_log WHERE target_id = $1 ORDER BY id', [channel.id]);
    expect(audit.map((a) => a.action)).toEqual(['channel.created', 'channel.verify_token.rotated']);
    expect(audit[1].changes).not.toContain(fresh);

    expect((await handshake(old)).status).toBe(403);
    const ok = await handshake(fresh);
    expect(ok.status).toBe(200);
    expect(ok.body).toBe(1158201444);
  });

  it('is tenant-scoped and needs channels:manage', async () => {
    const before = (await h.ds.query('SELECT verify_token FROM chat_ingress.channels WHERE id = $1', [channel.id]))[0].verify_token;
    const other = await h.tenantKey();
    const foreign = await rotate(channel.id, other.headers);
    expect(foreign.status).toBe(404);
    expect((await rotate('00000000-0000-4000-8000-000000000000')).status).toBe(404);
    const weak = await h.tenantKey(['messages:send'], tenantId);
    expect((await rotate(channel.id, weak.headers)).status).toBe(403);
    expect((await h.ds.query('SELECT verify_token FROM chat_ingress.channels WHERE id = $1', [channel.id]))[0].verify_token).toBe(before);
  });

  it('answers 422 with a problem body for Telegram and generic channels, which have no verify token', async () => {
    for (const body of [
      { provider: 'telegram', name: 'bot', botName: 'elo_bot', credentials: { accessToken: '700100:telegram-bot-token' } },
      { provider: 'generic', name: 'site', callbackUrl: 'https://example.com/elo' },
    ]) {
      const created = await h.api<View>('POST', '/channels', headers, body);
      expect(created.status).toBe(201);
      const res = await rotate(created.body.id);
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ status: 422, detail: expect.stringContaining(`${body.provider} channels have no verify token`) });
    }
  });
});
