import { expectEventually } from '@elo/testing';
import { ChannelsService } from '../src/channels/channels.service';
import { recentFor, TokenCheckService } from '../src/tokens/token-check.service';
import { startHarness, type Harness } from './support/harness';

type TokenView = { token: { status?: string; checkedAt?: string; error?: string } };

describe('chat-ingress: the provider-token check (schedule, outages against auth answers)', () => {
  let h: Harness;
  let headers: Record<string, string>;
  const ch: Record<'wa' | 'ms' | 'tg' | 'gen', { id: string }> = {} as never;

  beforeAll(async () => {
    // Neither the first check (an hour after this boot) nor the hourly tick comes during the test, except
    // where a test restarts the service with a short first delay.
    h = await startHarness('chat_ingress_token_check', { TOKEN_CHECK_FIRST_DELAY_MS: '3600000', TOKEN_CHECK_TICK_MS: '3600000' });
    ({ headers } = await h.tenantKey());
    const create = async (body: Record<string, unknown>) => {
      const res = await h.api<{ id: string }>('POST', '/channels', headers, body);
      expect(res.status).toBe(201);
      return res.body;
    };
    ch.wa = await create({ provider: 'whatsapp', name: 'wa', phoneNumberId: 'PNTOK', credentials: { accessToken: 'wa-token', appSecret: 's', refreshAppId: 'app1' } });
    ch.ms = await create({ provider: 'messenger', name: 'ms', accountId: '1', credentials: { accessToken: 'page-token' } });
    ch.tg = await create({ provider: 'telegram', name: 'tg', credentials: { accessToken: '77:tg-token' } });
    ch.gen = await create({ provider: 'generic', name: 'gen', callbackUrl: `${h.fakes.origin}/generic` });
  });

  afterAll(async () => {
    await h?.close();
  });

  const token = async (id: string) => (await h.api<TokenView>('GET', `/channels/${id}`, headers)).body.token;
  const invalidEvents = () => h.probe.ofType<{ channelId: string; reason?: string }>('chat.channel.token.invalid');
  /** Token events on the bus by channel, once every event written so far is there (see Harness.settled). */
  const tokenEventsByChannel = async (types = ['chat.channel.token.invalid', 'chat.channel.token.expiring']) => {
    await h.settled();
    const n: Record<string, number> = {};
    for (const e of h.published<{ channelId: string }>(types)) n[e.data.channelId] = (n[e.data.channelId] ?? 0) + 1;
    return n;
  };
  const raisedSince = (before: Record<string, number>, after: Record<string, number>) =>
    Object.fromEntries(Object.entries(after).filter(([id, n]) => n !== (before[id] ?? 0)).map(([id, n]) => [id, n - (before[id] ?? 0)]));
  const setChecked = (id: string, status: string, ago: string) =>
    h.ds.query(`UPDATE chat_ingress.channels SET token_status = $2, token_checked_at = now() - $3::interval WHERE id = $1`, [id, status, ago]);
  /** The next hourly tick, as the channels see it: their last check an hour older. */
  const anHourPasses = () => h.ds.query(`UPDATE chat_ingress.channels SET token_checked_at = token_checked_at - interval '1 hour'`);

  it('checks shortly after boot, so a service restarted more often than daily still checks every channel', async () => {
    for (const c of Object.values(ch)) expect((await token(c.id)).checkedAt).toBeUndefined();
    await h.restart({ TOKEN_CHECK_FIRST_DELAY_MS: '300' });
    await expectEventually(async () => {
      expect(await token(ch.wa.id)).toMatchObject({ status: 'valid', checkedAt: expect.any(String) });
      expect(await token(ch.ms.id)).toMatchObject({ status: 'valid', checkedAt: expect.any(String) });
      expect(await token(ch.tg.id)).toMatchObject({ status: 'valid', checkedAt: expect.any(String) });
      expect(await token(ch.gen.id)).toMatchObject({ status: 'unchecked', checkedAt: expect.any(String) });
    }, { timeoutMs: 10_000 });
  });

  it('claims a check only when it is due: never checked; a conclusive check after 90% of the interval; an inconclusive one after 90% of a tick, except a generic channel\'s (final)', async () => {
    const channels = h.app.get(ChannelsService);
    const recent = recentFor({ intervalMs: 24 * 3_600_000, tickMs: 3_600_000 });
    const claims = async (id: string, status: string | null, ago: string | null) => {
      await h.ds.query(`UPDATE chat_ingress.channels SET token_status = $2, token_checked_at = now() - $3::interval WHERE id = $1`, [id, status, ago]);
      return (await channels.claimTokenCheck(id, recent)) !== undefined;
    };
    expect(await claims(ch.wa.id, null, null)).toBe(true);
    for (const status of ['valid', 'expiring', 'invalid']) {
      expect(await claims(ch.ms.id, status, '1 hour')).toBe(false);
      expect(await claims(ch.ms.id, status, '21 hours 20 minutes')).toBe(false);
      expect(await claims(ch.ms.id, status, '21 hours 40 minutes')).toBe(true);
      expect(await claims(ch.ms.id, status, '3 days')).toBe(true);
    }
    expect(await claims(ch.tg.id, 'unchecked', '1 second')).toBe(false);
    expect(await claims(ch.tg.id, 'unchecked', '53 minutes')).toBe(false);
    expect(await claims(ch.tg.id, 'unchecked', '55 minutes')).toBe(true);
    expect(await claims(ch.gen.id, 'unchecked', '1 hour')).toBe(false);
    expect(await claims(ch.gen.id, 'unchecked', '1 day')).toBe(true);
    // A claim stamps the check: the same channel is not claimed again at once.
    expect(await channels.claimTokenCheck(ch.gen.id, recent)).toBeUndefined();
  });

  it('checks only the channels that are due: never checked, checked a day ago, or inconclusive at the last tick', async () => {
    const svc = h.app.get(TokenCheckService);
    await setChecked(ch.wa.id, 'valid', '1 hour');
    await setChecked(ch.ms.id, 'valid', '23 hours');
    await setChecked(ch.tg.id, 'unchecked', '1 hour');
    await setChecked(ch.gen.id, 'unchecked', '1 hour');
    const results = await svc.checkAll();
    expect(results.map((r) => r.channelId).sort()).toEqual([ch.ms.id, ch.tg.id].sort());
    expect(await svc.checkAll()).toEqual([]);
  });

  it('a provider outage or rate limit leaves the token unchecked (no invalid event) and it is checked again at the next tick', async () => {
    const svc = h.app.get(TokenCheckService);
    const invalidBefore = await tokenEventsByChannel(['chat.channel.token.invalid']);
    h.fakes.respond((r) => (r.path.startsWith('/graph/debug_token') ? { status: 503, body: { error: { message: 'Service temporarily unavailable', code: 2 } } } : undefined));
    h.fakes.respond((r) => (r.path === '/graph/me' ? { status: 429, body: { error: { message: 'Application request limit reached', code: 4 } } } : undefined));
    h.fakes.respond((r) => (r.path.endsWith('/getMe') ? { status: 502, body: { ok: false, error_code: 502, description: 'Bad Gateway' } } : undefined));
    const outage = await svc.checkAll(true);
    for (const id of [ch.wa.id, ch.ms.id, ch.tg.id]) expect(outage.find((r) => r.channelId === id)).toMatchObject({ status: 'unchecked' });
    expect(await token(ch.ms.id)).toMatchObject({ status: 'unchecked', error: 'Application request limit reached' });

    h.fakes.reset();
    // Inconclusive a moment ago (this tick, maybe by another replica): not repeated before the next tick.
    expect(await svc.checkAll()).toEqual([]);
    await anHourPasses();
    const next = await svc.checkAll();
    expect(next.map((r) => [r.channelId, r.status]).sort()).toEqual([[ch.wa.id, 'valid'], [ch.ms.id, 'valid'], [ch.tg.id, 'valid']].sort());
    // Events leave through the outbox, written in the check's transaction; once all that was written is on the
    // bus, no invalid event is among it.
    expect(raisedSince(invalidBefore, await tokenEventsByChannel(['chat.channel.token.invalid']))).toEqual({});
  });

  it('an auth answer (401/403, Meta\'s OAuthException 190) marks the token invalid and raises chat.channel.token.invalid', async () => {
    const svc = h.app.get(TokenCheckService);
    const invalidBefore = await tokenEventsByChannel(['chat.channel.token.invalid']);
    h.fakes.respond((r) => (r.path === '/graph/me' ? { status: 400, body: { error: { message: 'Error validating access token: Session has expired', type: 'OAuthException', code: 190 } } } : undefined));
    h.fakes.respond((r) => (r.path.endsWith('/getMe') ? { status: 401, body: { ok: false, error_code: 401, description: 'Unauthorized' } } : undefined));
    h.fakes.respond((r) => (r.path.startsWith('/graph/debug_token') ? { status: 403, body: { error: { message: 'Forbidden', code: 10 } } } : undefined));
    const results = await svc.checkAll(true);
    for (const id of [ch.wa.id, ch.ms.id, ch.tg.id]) expect(results.find((r) => r.channelId === id)).toMatchObject({ status: 'invalid' });
    h.fakes.reset();
    await expectEventually(() => expect(invalidEvents().map((e) => e.data.channelId)).toEqual(expect.arrayContaining([ch.wa.id, ch.ms.id, ch.tg.id])));
    // One each, and nothing else: everything written by the check is on the bus by now.
    expect(raisedSince(invalidBefore, await tokenEventsByChannel(['chat.channel.token.invalid']))).toEqual({ [ch.wa.id]: 1, [ch.ms.id]: 1, [ch.tg.id]: 1 });
    expect(invalidEvents().find((e) => e.data.channelId === ch.ms.id)?.data.reason).toContain('Session has expired');
  });

  it('a token replaced while the old one is being checked is kept: the old token\'s refresh and verdict are not recorded over it', async () => {
    const c = (await h.api<{ id: string }>('POST', '/channels', headers, { provider: 'whatsapp', name: 'wa-swap', phoneNumberId: 'PNSWAP', credentials: { accessToken: 'old-swap-token', appSecret: 's', refreshAppId: 'app1' } })).body;
    let answer!: () => void;
    const held = new Promise<void>((r) => (answer = r));
    // Meta answers the old token's exchange only once the admin has saved a new token; debug_token then calls the old one invalid.
    h.fakes.respond((r) => (r.path.startsWith('/graph/oauth/access_token') && r.path.includes('old-swap-token') ? { status: 200, body: { access_token: 'refreshed-old-swap-token', expires_in: 60 * 86400 }, until: held } : undefined));
    h.fakes.respond((r) => (r.path.startsWith('/graph/debug_token') && r.path.includes('old-swap-token') ? { status: 200, body: { data: { is_valid: false, error: { message: 'The session was invalidated' } } } } : undefined));
    try {
      const svc = h.app.get(TokenCheckService);
      const checking = svc.checkChannel((await h.app.get(ChannelsService).resolve(c.id))!, { refresh: true });
      await expectEventually(() => expect(h.fakes.sent('old-swap-token')).toHaveLength(1));
      expect((await h.api('PATCH', `/channels/${c.id}`, headers, { credentials: { accessToken: 'new-swap-token' } })).status).toBe(200);
      answer();
      await checking;
      const stored = (await h.app.get(ChannelsService).resolve(c.id))!;
      expect(stored.credentials.accessToken).toBe('new-swap-token');
      // The verdict was about a token no longer in use: not shown for the new one, and not raised.
      expect((await token(c.id)).status).not.toBe('invalid');
      expect(await tokenEventsByChannel(['chat.channel.token.invalid'])).not.toHaveProperty(c.id);
    } finally {
      h.fakes.reset();
      // Out of the next test's count of the channels checked.
      await h.api('POST', `/channels/${c.id}/disable`, headers);
    }
  });

  it('debug_token answering that the token is not valid (a 200) marks it invalid and raises chat.channel.token.invalid with Meta\'s reason', async () => {
    const c = (await h.api<{ id: string }>('POST', '/channels', headers, { provider: 'whatsapp', name: 'wa-dead', phoneNumberId: 'PNDEAD', credentials: { accessToken: 'dead-token', appSecret: 's', refreshAppId: 'app1' } })).body;
    // The exchange is refused, and debug_token says why: the user took the app's permission away.
    h.fakes.respond((r) => (r.path.startsWith('/graph/oauth/access_token') && r.path.includes('dead-token') ? { status: 400, body: { error: { message: 'Error validating access token', type: 'OAuthException', code: 190 } } } : undefined));
    h.fakes.respond((r) => (r.path.startsWith('/graph/debug_token') && r.path.includes('dead-token') ? { status: 200, body: { data: { is_valid: false, error: { code: 190, message: 'The user has not authorized application app1.' } } } } : undefined));
    try {
      const result = await h.app.get(TokenCheckService).checkChannel((await h.app.get(ChannelsService).resolve(c.id))!, { refresh: true });
      expect(result).toMatchObject({ status: 'invalid', refreshed: false });
      expect(await token(c.id)).toMatchObject({ status: 'invalid', checkedAt: expect.any(String), error: 'The user has not authorized application app1.' });
      await expectEventually(() => expect(invalidEvents().find((e) => e.data.channelId === c.id)?.data.reason).toBe('The user has not authorized application app1.'));
    } finally {
      h.fakes.reset();
      // Out of the next test's count of the channels checked.
      await h.api('POST', `/channels/${c.id}/disable`, headers);
    }
  });

  it('two replicas checking at once check each channel once: one token refresh, one event', async () => {
    const replica = await h.replica({ TOKEN_CHECK_FIRST_DELAY_MS: '3600000' });
    try {
      await h.ds.query(`UPDATE chat_ingress.channels SET token_status = 'valid', token_checked_at = now() - interval '2 days', token_error = NULL`);
      // Answers that raise an event for each provider-token channel: WhatsApp's token expires in two days (expiring), Messenger's and Telegram's are refused (invalid).
      h.fakes.respond((r) => (r.path.startsWith('/graph/debug_token') ? { status: 200, body: { data: { is_valid: true, expires_at: Math.floor(Date.now() / 1000) + 2 * 86400 } } } : undefined));
      h.fakes.respond((r) => (r.path === '/graph/me' ? { status: 401, body: { error: { message: 'Invalid OAuth access token', code: 190 } } } : undefined));
      h.fakes.respond((r) => (r.path.endsWith('/getMe') ? { status: 401, body: { ok: false, error_code: 401, description: 'Unauthorized' } } : undefined));
      const calls = () => ({
        refresh: h.fakes.sent('/graph/oauth/access_token').length, debug: h.fakes.sent('/graph/debug_token').length,
        me: h.fakes.sent('/graph/me').length, getMe: h.fakes.sent('/getMe').length,
      });
      const before = { calls: calls(), events: await tokenEventsByChannel() };

      const [a, b] = await Promise.all([h.app.get(TokenCheckService).checkAll(), replica.get(TokenCheckService).checkAll()]);

      expect([...a, ...b].map((r) => r.channelId).sort()).toEqual([ch.wa.id, ch.ms.id, ch.tg.id, ch.gen.id].sort());
      const after = calls();
      expect({ refresh: after.refresh - before.calls.refresh, debug: after.debug - before.calls.debug, me: after.me - before.calls.me, getMe: after.getMe - before.calls.getMe })
        .toEqual({ refresh: 1, debug: 1, me: 1, getMe: 1 });
      // One event per channel, from whichever replica checked it: a second one would be on the bus by now.
      expect(raisedSince(before.events, await tokenEventsByChannel())).toEqual({ [ch.wa.id]: 1, [ch.ms.id]: 1, [ch.tg.id]: 1 });
      // Nor again at the next check, by either replica: nothing is due, nothing more is raised.
      expect(await Promise.all([h.app.get(TokenCheckService).checkAll(), replica.get(TokenCheckService).checkAll()])).toEqual([[], []]);
      expect(raisedSince(before.events, await tokenEventsByChannel())).toEqual({ [ch.wa.id]: 1, [ch.ms.id]: 1, [ch.tg.id]: 1 });
      expect(await token(ch.wa.id)).toMatchObject({ status: 'expiring' });
    } finally {
      h.fakes.reset();
      await replica.close();
    }
  });
});
