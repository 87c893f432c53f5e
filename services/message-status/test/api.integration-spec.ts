import { randomUUID } from 'node:crypto';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { MessageQueryService } from '../src/api/message-query.service';
import { ADMIN_KEY, startApp, tenantWithKey, type RunningApp } from './app.fixture';
import { at, ids, integrationFailed, sendRequested, sent, status } from './events.fixture';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, checked field by field
type Body = Record<string, any>;

describe('message-status HTTP API (real PostgreSQL, RabbitMQ and API keys)', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let probe: BusProbe;
  let a: { tenantId: string; key: string };
  let b: { tenantId: string; key: string };
  const channelId = randomUUID();
  const conversationId = randomUUID();
  const msgs = Array.from({ length: 5 }, () => ({ ...ids(), channelId }));

  const get = async (path: string, key: string) => {
    const res = await fetch(`${svc.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: (await res.json()) as Body };
  };

  beforeAll(async () => {
    infra = await createTestInfra('message_status_api');
    svc = await startApp(infra);
    probe = await BusProbe.connect(infra.amqpUrl, []);
    a = await tenantWithKey(svc.url);
    b = await tenantWithKey(svc.url);
    for (const [i, m] of msgs.entries()) {
      await probe.publish(sendRequested(a.tenantId, { messageId: m.messageId, channelId, conversationId, time: i }));
    }
    await probe.publish(...msgs.map((m, i) => sent(a.tenantId, { ...m, provider: 'whatsapp', t: 10 + i, conversationId })));
    await probe.publish(
      status(a.tenantId, { ...msgs[0], provider: 'whatsapp', status: 'read', t: 30 }),
      status(a.tenantId, { ...msgs[1], provider: 'whatsapp', status: 'failed', t: 31, code: '131047', title: 'Re-engagement message' }),
      status(a.tenantId, { ...msgs[2], provider: 'whatsapp', status: 'failed', t: 32, code: '130429', title: 'Rate limit hit' }),
      integrationFailed(a.tenantId, { errorClass: 'timeout', name: 'erp' }),
    );
    // Batches run concurrently (one subject at a time each): wait for every message and the integration failure.
    await expectEventually(async () => {
      const states = await Promise.all(msgs.map(async (m) => (await get(`/messages/${m.messageId}`, a.key)).body.status));
      expect(states).toEqual(['read', 'failed', 'failed', 'sent', 'sent']);
      const reasons = (await get('/failures', a.key)).body.groups.map((g: { reason: string }) => g.reason);
      expect(reasons).toContain('integration:timeout');
    });
  });

  afterAll(async () => {
    await probe?.close();
    await svc?.close();
    await infra?.cleanup();
  });

  it('GET /messages/{id}: status, failure and timeline in provider order', async () => {
    const r = await get(`/messages/${msgs[1].messageId}`, a.key);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: msgs[1].messageId, status: 'failed', provider: 'whatsapp', conversationId,
      failure: { reason: 'outside_window', retryable: false, code: '131047' } });
    expect(r.body.timeline.map((e: { status: string }) => e.status)).toEqual(['queued', 'sent', 'failed']);
  });

  it('GET /messages: filters by status, channel and conversation, and pages with a cursor', async () => {
    const failed = await get(`/messages?status=failed&channelId=${channelId}`, a.key);
    expect(failed.body.items.map((m: { id: string }) => m.id).sort()).toEqual([msgs[1].messageId, msgs[2].messageId].sort());
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: Body } = await get(`/messages?conversationId=${conversationId}&limit=2${cursor ? `&cursor=${cursor}` : ''}`, a.key);
      seen.push(...page.body.items.map((m: { id: string }) => m.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
    expect(seen).toEqual([...msgs].reverse().map((m) => m.messageId));
  });

  it('GET /messages: pages through messages created in one transaction (same created_at to the microsecond)', async () => {
    // A batch of events is handled in one transaction, whose rows share now(): a cursor that kept the time to
    // the millisecond skipped the rest of such a group after the first page.
    const tenant = await tenantWithKey(svc.url);
    const conversation = randomUUID();
    const made = Array.from({ length: 5 }, () => randomUUID());
    await svc.app.get(DataSource).query(
      `INSERT INTO message_status.messages (id, tenant_id, channel_id, provider, conversation_id, status, status_rank, status_at, created_at)
       SELECT id, $2, $3, 'whatsapp', $4, 'sent', 1, now(), '2026-05-01T12:00:00.123456Z' FROM unnest($1::uuid[]) AS id`,
      [made, tenant.tenantId, channelId, conversation],
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: Body } = await get(`/messages?conversationId=${conversation}&limit=2${cursor ? `&cursor=${cursor}` : ''}`, tenant.key);
      expect(page.status).toBe(200);
      seen.push(...page.body.items.map((m: { id: string }) => m.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...made].sort().reverse());
  });

  it('GET /messages: a later page asked with its cursor alone keeps the first page\'s filters; a changed filter is a 400', async () => {
    // The cursor carried only where the page ended: the next page, asked with the cursor (as the other listings take
    // it), listed every message of the tenant from there on, whatever the first page was filtered by.
    const tenant = await tenantWithKey(svc.url);
    const conversation = randomUUID();
    const mine = Array.from({ length: 3 }, () => randomUUID());
    const others = Array.from({ length: 3 }, () => randomUUID());
    // Created one after the other, a message of the conversation then one of another, newest last.
    await svc.app.get(DataSource).query(
      `INSERT INTO message_status.messages (id, tenant_id, channel_id, provider, conversation_id, status, status_rank, status_at, created_at)
       SELECT id, $3, $4, 'whatsapp', CASE WHEN n % 2 = 1 THEN $5::uuid ELSE $6::uuid END, 'sent', 1, now(),
              '2026-05-01T12:00:00Z'::timestamptz + n * interval '1 second'
         FROM unnest($1::uuid[], $2::int[]) AS u(id, n)`,
      [[mine[0], others[0], mine[1], others[1], mine[2], others[2]], [1, 2, 3, 4, 5, 6], tenant.tenantId, channelId, conversation, randomUUID()],
    );
    const first = await get(`/messages?conversationId=${conversation}&limit=2`, tenant.key);
    expect(first.body.items.map((m: { id: string }) => m.id)).toEqual([mine[2], mine[1]]);
    const next = await get(`/messages?limit=2&cursor=${first.body.nextCursor}`, tenant.key);
    expect(next.status).toBe(200);
    expect({ items: next.body.items.map((m: { id: string }) => m.id), nextCursor: next.body.nextCursor }).toEqual({ items: [mine[0]], nextCursor: null });
    // The same filter again is the same listing; another one, or one added, starts a new listing (without a cursor).
    expect((await get(`/messages?conversationId=${conversation}&limit=2&cursor=${first.body.nextCursor}`, tenant.key)).body.items.map((m: { id: string }) => m.id)).toEqual([mine[0]]);
    for (const changed of [`conversationId=${randomUUID()}`, 'status=failed']) {
      const r = await get(`/messages?${changed}&cursor=${first.body.nextCursor}`, tenant.key);
      expect({ changed, status: r.status, type: r.type }).toEqual({ changed, status: 400, type: expect.stringContaining('application/problem+json') });
    }
  });

  it('GET /stats: a range of more than a week of minute buckets is a 400 that says so (it was cut short silently)', async () => {
    const twoWeeks = 'from=2026-01-01T00:00:00Z&to=2026-01-15T00:00:00Z';
    const minutes = await get(`/stats?${twoWeeks}&bucket=minute`, a.key);
    expect(minutes.status).toBe(400);
    expect(minutes.body.detail).toBe('from..to holds 20160 minute buckets; at most 10080: ask for larger buckets or a shorter range');
    expect((await get('/stats?from=2026-01-01T00:00:00Z&to=2026-01-08T00:00:00Z&bucket=minute', a.key)).status).toBe(200);
    expect((await get(`/stats?${twoWeeks}&bucket=hour`, a.key)).status).toBe(200);
  });

  it('GET /stats: counts per status and channel, and moves per bucket', async () => {
    const r = await get(`/stats?from=2020-01-01T00:00:00Z&bucket=day`, a.key);
    const byStatus = Object.fromEntries(r.body.totals.map((t: { status: string; count: number }) => [t.status, t.count]));
    expect(byStatus).toEqual({ read: 1, failed: 2, sent: 2 });
    expect(r.body.totals.every((t: { channelId: string }) => t.channelId === channelId)).toBe(true);
    expect(r.body.buckets.length).toBeGreaterThan(0);
  });

  /** A new tenant's one message, created (sent) at 01:00 UTC on 5 January 2026 and read at noon: 22:00 the day before in São Paulo. */
  const messageSentAt1amReadAtNoon = async (): Promise<{ tenant: string; id: string }> => {
    const tenant = randomUUID();
    const id = randomUUID();
    const main = svc.app.get(DataSource);
    await main.query(
      `INSERT INTO message_status.messages (id, tenant_id, channel_id, provider, status, status_rank, status_at, created_at)
       VALUES ($1, $2, $3, 'whatsapp', 'read', 3, '2026-01-05T12:00:00Z', '2026-01-05T01:00:00Z')`,
      [id, tenant, randomUUID()],
    );
    await main.query(
      `INSERT INTO message_status.message_events (message_id, tenant_id, raw_status, source, provider_timestamp, reportable, applied)
       VALUES ($1, $2, 'sent', 'sent', '2026-01-05T01:00:00Z', true, true), ($1, $2, 'read', 'status', '2026-01-05T12:00:00Z', true, true)`,
      [id, tenant],
    );
    return { tenant, id };
  };

  it('GET /stats: buckets are UTC days and hours whatever the database session\'s time zone', async () => {
    // The dashboard's chart puts a bucket in the slot of its UTC day (epoch multiples); date_trunc on a
    // timestamptz truncates in the session's TimeZone, a server setting (America/Sao_Paulo on a Brazilian server).
    const { tenant } = await messageSentAt1amReadAtNoon();
    const local = new DataSource({ type: 'postgres', url: infra.databaseUrl, extra: { options: '-c timezone=America/Sao_Paulo' } });
    await local.initialize();
    try {
      const stats = await new MessageQueryService(local).stats(tenant, { from: '2026-01-04T00:00:00Z', to: '2026-01-06T00:00:00Z', bucket: 'day' });
      expect(stats.buckets).toEqual([
        { bucket: '2026-01-05T00:00:00.000Z', status: 'read', count: 1 },
        { bucket: '2026-01-05T00:00:00.000Z', status: 'sent', count: 1 },
      ]);
    } finally {
      await local.destroy();
    }
  });

  it('GET /stats and GET /messages: a from/to without an offset is UTC, for the counts as for the buckets', async () => {
    // `from=2026-01-05` (no offset; the query accepts it) was read by PostgreSQL in the session's TimeZone (a server
    // setting) for the counts and the list, and as UTC for the buckets: one answer counted two different ranges.
    const { tenant, id } = await messageSentAt1amReadAtNoon();
    const local = new DataSource({ type: 'postgres', url: infra.databaseUrl, extra: { options: '-c timezone=America/Sao_Paulo' } });
    await local.initialize();
    try {
      const q = new MessageQueryService(local);
      for (const range of [{ from: '2026-01-05', to: '2026-01-06' }, { from: '2026-01-05T00:00', to: '2026-01-05T23:59:59.999999' }]) {
        const stats = await q.stats(tenant, { ...range, bucket: 'day' });
        expect({ range, totals: stats.totals.map((t) => [t.status, t.count]) }).toEqual({ range, totals: [['read', 1]] });
        expect(stats.buckets.map((b) => [b.bucket, b.status])).toEqual([['2026-01-05T00:00:00.000Z', 'read'], ['2026-01-05T00:00:00.000Z', 'sent']]);
        expect((await q.list(tenant, range)).items.map((m) => m.id)).toEqual([id]);
      }
    } finally {
      await local.destroy();
    }
  });

  it('GET /failures: grouped by reason with the latest examples, integration failures included', async () => {
    const r = await get('/failures', a.key);
    const reasons = Object.fromEntries(r.body.groups.map((g: { reason: string; count: number }) => [g.reason, g.count]));
    expect(reasons).toEqual({ outside_window: 1, rate_limited: 1, 'integration:timeout': 1 });
    const rl = r.body.groups.find((g: { reason: string }) => g.reason === 'rate_limited');
    expect(rl).toMatchObject({ kind: 'message', retryable: true, latest: [{ id: msgs[2].messageId, code: '130429' }] });
  });

  it('GET /stream: streams the tenant\'s changes, and only theirs', async () => {
    const ac = new AbortController();
    const res = await fetch(`${svc.url}/stream`, { headers: { authorization: `Bearer ${a.key}` }, signal: ac.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const readUntil = async (pred: (t: string) => boolean) => {
      while (!pred(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
    };
    await readUntil((t) => t.includes('event: ready'));
    // Tenant b's own stream: once b's change is on it, the feed has handed it to every stream of this replica (a's too,
    // at once), so a's change published after it comes after anything of b's on a's stream.
    const theirs = await fetch(`${svc.url}/stream`, { headers: { authorization: `Bearer ${b.key}` }, signal: ac.signal });
    const bStream = sse(theirs);
    await bStream.until((t) => t.includes('event: ready'));
    const other = ids();
    await probe.publish(sent(b.tenantId, { ...other, provider: 'whatsapp', t: 1 }));
    await bStream.until((t) => t.includes(other.messageId));
    await probe.publish(status(a.tenantId, { ...msgs[3], provider: 'whatsapp', status: 'delivered', t: 40 }));
    await readUntil((t) => t.includes(msgs[3].messageId));
    ac.abort();
    expect(text).toContain('"status":"delivered"');
    expect(text).not.toContain(other.messageId);
  });

  it('GET /stream: a key revoked while its stream is open ends the stream (it says why) and gets nothing more', async () => {
    const c = await tenantWithKey(svc.url);
    const res = await fetch(`${svc.url}/stream`, { headers: { authorization: `Bearer ${c.key}` } });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    let ended = false;
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return void (ended = true);
        text += value;
      }
    })();
    await expectEventually(() => expect(text).toContain('event: ready'));
    const me = await get('/auth/me', c.key);
    const revoke = await fetch(`${svc.url}/tenants/${c.tenantId}/keys/${me.body.keyId}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(revoke.status).toBe(204);
    await expectEventually(() => expect(ended).toBe(true));
    await reading;
    expect(text).toContain('event: revoked');
  });

  it('GET /stream: one API key holds at most STREAM_MAX_PER_KEY (10 by default) streams at once; one more is a 429 problem', async () => {
    const c = await tenantWithKey(svc.url);
    const d = await tenantWithKey(svc.url);
    const open = (key: string) => {
      const ac = new AbortController();
      return fetch(`${svc.url}/stream`, { headers: { authorization: `Bearer ${key}` }, signal: ac.signal }).then((res) => ({ res, ac }));
    };
    const streams = await Promise.all(Array.from({ length: 10 }, () => open(c.key)));
    expect(streams.map((s) => s.res.status)).toEqual(Array(10).fill(200));
    const refused = await open(c.key);
    expect({ status: refused.res.status, type: refused.res.headers.get('content-type') }).toEqual({ status: 429, type: expect.stringContaining('application/problem+json') });
    expect(((await refused.res.json()) as Body).detail).toBe('this API key already has 10 streams open (at most 10); close one first');
    // Another key is counted apart; a stream closed makes room for the next.
    const other = await open(d.key);
    expect(other.res.status).toBe(200);
    other.ac.abort();
    streams[0].ac.abort();
    const again = await expectEventually(async () => {
      const s = await open(c.key);
      if (s.res.status !== 200) s.ac.abort();
      expect(s.res.status).toBe(200);
      return s;
    });
    for (const s of [...streams.slice(1), again]) s.ac.abort();
  });

  it('scopes every read to the key\'s tenant: a second tenant sees none of the first one\'s messages', async () => {
    expect((await get(`/messages/${msgs[0].messageId}`, b.key)).status).toBe(404);
    const mine = new Set<string>(msgs.map((m) => m.messageId));
    // Tenant b only has the message the stream test sent for it.
    const list = (await get('/messages', b.key)).body.items as Array<{ id: string }>;
    expect(list.filter((m) => mine.has(m.id))).toEqual([]);
    const totals = (await get('/stats', b.key)).body.totals as Array<{ channelId: string; count: number }>;
    expect(totals.filter((t) => t.channelId === channelId)).toEqual([]);
    expect((await get('/failures', b.key)).body.groups).toEqual([]);
    const third = await tenantWithKey(svc.url);
    expect((await get('/messages', third.key)).body.items).toEqual([]);
    expect((await get('/stats', third.key)).body.totals).toEqual([]);
  });

  it('a message queued on a channel that has sent before has its provider at once; on a new channel it has none until sent', async () => {
    const known = ids();
    const unknown = { ...ids(), channelId: randomUUID() };
    await probe.publish(sendRequested(a.tenantId, { messageId: known.messageId, channelId }), sendRequested(a.tenantId, { messageId: unknown.messageId, channelId: unknown.channelId }));
    await expectEventually(async () => {
      expect((await get(`/messages/${known.messageId}`, a.key)).body).toMatchObject({ status: 'queued', provider: 'whatsapp', channelId });
      expect((await get(`/messages/${unknown.messageId}`, a.key)).body).toMatchObject({ status: 'queued', provider: null, channelId: unknown.channelId });
    });
    const queued = await get('/messages?provider=whatsapp&status=queued', a.key);
    expect(queued.body.items.map((m: { id: string }) => m.id)).toEqual([known.messageId]);
  });

  it('refuses bad input and keys without the permission with problem+json', async () => {
    const bad = await get('/messages?status=bogus', a.key);
    expect(bad.status).toBe(400);
    expect(bad.type).toContain('application/problem+json');
    expect((await get('/messages?cursor=nope', a.key)).status).toBe(400);
    expect((await get('/messages/not-a-uuid', a.key)).status).toBe(400);
    expect((await get('/messages', 'wrong-key-0000000000')).status).toBe(401);
    const noPerm = await tenantWithKey(svc.url, ['channels:manage']);
    expect((await get('/messages', noPerm.key)).status).toBe(403);
  });

  it('refuses from/to in ISO 8601 forms PostgreSQL cannot read with a 400, not a 500', async () => {
    // class-validator's IsISO8601 takes a year, a week date, an hour alone, a comma fraction, 30 February, year 0…
    // … and offsets beyond ±15:59, which PostgreSQL refuses ("time zone displacement out of range").
    for (const t of ['2026', '2026-01', '2026-W01-1', '2026-01-05T10', '2026-01-05T10:00:00,5Z', '2026-02-30', '0000-01-01',
      '2026-01-05T10:00+16:00', '2026-01-05T10:00-23:59', '2026-01-05T10:00:00+1600', '2026-01-05T10:00+20']) {
      const v = encodeURIComponent(t);
      for (const path of [`/messages?from=${v}`, `/messages?to=${v}`, `/stats?from=${v}`, `/stats?to=${v}`, `/failures?from=${v}`, `/failures?to=${v}`]) {
        const r = await get(path, a.key);
        expect({ path, status: r.status }).toEqual({ path, status: 400 });
      }
    }
    expect((await get(`/messages?from=${encodeURIComponent('2026-01-05T10:00:00.123456+05:30')}`, a.key)).status).toBe(200);
  });

  it('takes every from/to it accepts: an offset in hours alone (-03) is a 200 on /stats too, not a 500', async () => {
    // PostgreSQL reads `-03`; /stats also read the bounds with `new Date`, which does not (Invalid Date).
    for (const t of ['2026-01-05T10:00-03', '2026-01-05T10:00:00.5+05', '2026-01-05T10:00+14:00']) {
      for (const path of [`/stats?from=${t}&bucket=hour`, `/stats?to=${t}&bucket=day`, `/messages?from=${t}`, `/failures?to=${t}`]) {
        const r = await get(path.replace(/[+]/g, '%2B'), a.key);
        expect({ path, status: r.status }).toEqual({ path, status: 200 });
      }
    }
  });

  /** Reads an SSE response, keeping what came so far; `until` waits for `pred` up to a deadline. */
  const sse = (res: Response) => {
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const r = { text: '', async until(pred: (t: string) => boolean, timeoutMs = 10_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!pred(r.text)) {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), Math.max(0, deadline - Date.now()))));
        const next = await Promise.race([reader.read(), late]).finally(() => clearTimeout(timer));
        if (next === 'late') throw new Error(`no such event within ${timeoutMs} ms; got: ${r.text}`);
        if (next.done) throw new Error(`stream ended before the expected event; got: ${r.text}`);
        r.text += next.value;
      }
    } };
    return r;
  };

  it('GET /stream: says when this replica stops hearing changes and when it hears them again', async () => {
    const ac = new AbortController();
    const res = await fetch(`${svc.url}/stream`, { headers: { authorization: `Bearer ${a.key}` }, signal: ac.signal });
    const s = sse(res);
    try {
      await s.until((t) => t.includes('event: ready\ndata: {"live":true}'));
      // The LISTEN connection breaks (an outage, a failover): the replica's own connection, in this test's database.
      const killed: Array<{ ok: boolean }> = await svc.app.get(DataSource).query(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
          WHERE application_name = 'message-status-live' AND datname = current_database()`,
      );
      expect(killed).toEqual([{ ok: true }]);
      await s.until((t) => t.includes('event: state\ndata: {"live":false}'));
      await s.until((t) => t.includes('event: state\ndata: {"live":true}'));
      expect(s.text.indexOf('{"live":false}')).toBeLessThan(s.text.lastIndexOf('{"live":true}'));
      // Back: changes stream again.
      await probe.publish(status(a.tenantId, { ...msgs[4], provider: 'whatsapp', status: 'delivered', t: 41 }));
      await s.until((t) => t.includes(msgs[4].messageId));
    } finally {
      ac.abort();
    }
  });

  it('GET /stream: a change whose text is short in characters but long in bytes still streams, and so do the changes announced with it', async () => {
    // NOTIFY's limit is in bytes: 2,400 euro signs are 2,400 characters of UTF-16 but 7,200 bytes of UTF-8.
    const ch = randomUUID();
    const wordy = { ...ids(), channelId: ch };
    const plain = { ...ids(), channelId: ch };
    const ac = new AbortController();
    const res = await fetch(`${svc.url}/stream`, { headers: { authorization: `Bearer ${a.key}` }, signal: ac.signal });
    const s = sse(res);
    try {
      await s.until((t) => t.includes('event: ready'));
      await probe.publish(
        status(a.tenantId, { eloMessageId: wordy.messageId, channelId: ch, provider: 'whatsapp', status: 'failed', t: 50, code: '131047', title: '€'.repeat(2_400) }),
        status(a.tenantId, { eloMessageId: plain.messageId, channelId: ch, provider: 'whatsapp', status: 'failed', t: 50, code: '131047', title: 'Re-engagement message' }),
      );
      await expectEventually(async () => expect((await get(`/messages/${plain.messageId}`, a.key)).body.status).toBe('failed'));
      await s.until((t) => t.includes(wordy.messageId) && t.includes(plain.messageId));
    } finally {
      ac.abort();
    }
  });

  it('GET /failures: filters on when the message failed, not when it was created; a group is retryable only if all of it is', async () => {
    const c = await tenantWithKey(svc.url);
    const ch = randomUUID();
    // Created early, failed late; and two `unknown` failures, the latest retryable (a provider outage), the other not.
    const late = { ...ids(), channelId: ch };
    const outage = { ...ids(), channelId: ch };
    const unknown = { ...ids(), channelId: ch };
    await probe.publish(
      sendRequested(c.tenantId, { messageId: late.messageId, channelId: ch, time: 100 }),
      sendRequested(c.tenantId, { messageId: outage.messageId, channelId: ch, time: 100 }),
      sendRequested(c.tenantId, { messageId: unknown.messageId, channelId: ch, time: 100 }),
    );
    await probe.publish(
      status(c.tenantId, { eloMessageId: late.messageId, channelId: ch, provider: 'whatsapp', status: 'failed', t: 5_000, code: '131047', reason: 'outside_window' }),
      status(c.tenantId, { eloMessageId: unknown.messageId, channelId: ch, provider: 'whatsapp', status: 'failed', t: 200, code: '999999', reason: 'invalid_request' }),
      status(c.tenantId, { eloMessageId: outage.messageId, channelId: ch, provider: 'whatsapp', status: 'failed', t: 300, code: '131000', reason: 'provider_unavailable' }),
    );
    const board = async (q: string) => Object.fromEntries(((await get(`/failures${q}`, c.key)).body.groups as Body[]).map((g) => [g.reason, g]));
    await expectEventually(async () => expect(Object.keys(await board('')).sort()).toEqual(['outside_window', 'unknown']));
    // Failed at t=5000, though created at t=100.
    expect(Object.keys(await board(`?from=${at(1_000)}`))).toEqual(['outside_window']);
    expect(Object.keys(await board(`?to=${at(1_000)}`))).toEqual(['unknown']);
    expect(Object.keys(await board(`?from=${at(250)}&to=${at(1_000)}`))).toEqual(['unknown']);
    expect((await board(`?from=${at(250)}&to=${at(1_000)}`)).unknown).toMatchObject({ count: 1, retryable: true, retryableCount: 1 });
    expect(await board(`?from=${at(6_000)}`)).toEqual({});
    // The `unknown` group: its latest failure is retryable, the other is not; not all of it is retryable.
    expect((await board('')).unknown).toMatchObject({ count: 2, retryable: false, retryableCount: 1, latest: [{ id: outage.messageId }, { id: unknown.messageId }] });
    expect((await board('')).outside_window).toMatchObject({ count: 1, retryable: false, retryableCount: 0 });
  });
});
