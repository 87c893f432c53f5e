import type { INestApplication } from '@nestjs/common';
import { createEvent } from '@elo/contracts';
import { BusConnection, BusProbe } from '@elo/messaging';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { createTestInfra, expectEventually, outboxEmpty, type TestInfra } from '@elo/testing';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../src/app.module';
import { CheckConsumer } from '../src/check/check.consumer';
import { FindmeService } from '../src/findme/findme.service';
import { ViabilityConfig } from '../src/config/viability.config';

const ADMIN = 'f'.repeat(40);
const HOME = { lat: -25.4284, lng: -49.2733 };

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let s = '';
    req.on('data', (c: Buffer) => (s += c.toString()));
    req.on('end', () => resolve(s));
  });

describe('viability: FindME links', () => {
  let infra: TestInfra;
  let app: INestApplication;
  let url: string;
  let probe: BusProbe;
  let ds: DataSource;
  let fake: Server;
  let fakeUrl: string;
  /** What the fake SMS provider and the fake outside chatbot received. */
  const sms: Array<{ path: string; auth: string | undefined; body: { to: string; message: string } }> = [];
  const callbacks: Array<{ status: string; findmeId?: string; conversationId?: string; box?: { name: string } }> = [];
  const flaky: Array<{ status: string; findmeId: string; box?: { name: string } }> = [];

  beforeAll(async () => {
    infra = await createTestInfra('viability-findme');
    fake = createServer((req, res) => {
      if (req.url?.startsWith('/search')) {
        // A Nominatim-like geocoder: one known street.
        const q = new URL(req.url, 'http://x').searchParams.get('q');
        res.setHeader('content-type', 'application/json');
        if (q === 'Rua Quebrada 1') {
          res.statusCode = 500;
          res.end('{}');
          return;
        }
        res.end(JSON.stringify(q === 'Rua das Flores 10' ? [{ lat: String(HOME.lat), lon: String(HOME.lng), display_name: 'Rua das Flores, 10, Curitiba' }] : []));
        return;
      }
      void readBody(req).then((b) => {
        if (req.url?.startsWith('/sms')) {
          const body = JSON.parse(b) as { to: string; message: string };
          sms.push({ path: req.url, auth: req.headers.authorization, body });
          // This number's provider refuses.
          if (body.to === '+5541900000500') res.statusCode = 500;
          else res.statusCode = 202;
        } else if (req.url?.startsWith('/flaky')) {
          // An outside chatbot that fails its first two callbacks.
          flaky.push(JSON.parse(b) as (typeof flaky)[number]);
          res.statusCode = flaky.length <= 2 ? 503 : 202;
        } else {
          callbacks.push(JSON.parse(b) as (typeof callbacks)[number]);
          res.statusCode = 202;
        }
        res.end('{}');
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    fakeUrl = `http://127.0.0.1:${(fake.address() as { port: number }).port}`;
    const config = loadConfig(ViabilityConfig, {
      DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN,
      ELO_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 6).toString('base64')}`, ELO_ENCRYPTION_ACTIVE_KEY: 'k1', LOG_LEVEL: 'warn',
      EGRESS_ALLOW_PRIVATE: '127.0.0.1/32', FINDME_PUBLIC_URL: 'https://elo.example.net',
      GEOCODER_BASE_URL: fakeUrl, GEOCODER_MIN_INTERVAL_MS: '0', GEOCODER_EVENT_ATTEMPTS: '2',
      FINDME_SWEEP_MS: '200', FINDME_CALLBACK_BACKOFF_MS: '100',
    });
    app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'viability', config });
    await app.listen(0, '127.0.0.1');
    await app.get(BusConnection).waitReady(15_000);
    url = await app.getUrl();
    ds = app.get(DataSource);
    probe = await BusProbe.connect(infra.amqpUrl, ['viability.checked', 'chat.message.send.requested']);
  });

  afterAll(async () => {
    await probe?.close();
    await app?.close();
    await new Promise((r) => fake?.close(r));
    await infra?.cleanup();
  });

  const call = async <T = Record<string, unknown>>(method: string, path: string, key: string | undefined, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
  };

  async function tenantWithBox(): Promise<{ id: string; key: string }> {
    const t = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: 'isp' })).body;
    const { key } = (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'k', permissions: ['viability:check', 'viability:manage'] })).body;
    const [b] = await ds.query(
      `SELECT ST_Y(p::geometry) AS lat, ST_X(p::geometry) AS lng FROM (SELECT ST_Project(ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography, 40, 0) AS p) x`,
      [HOME.lng, HOME.lat],
    );
    await fetch(`${url}/inventory/import?kind=boxes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'text/csv' },
      body: `external_id,name,lat,lng,status,port_capacity,ports_in_use\nCTO-F,CTO Jardim,${b.lat},${b.lng},deployed,8,1`,
    });
    expect((await call('PUT', '/findme/sms', key, {
      method: 'POST', url: `${fakeUrl}/sms/send`, headers: [{ name: 'Authorization', value: 'Bearer sms-secret' }],
      body: { kind: 'keyvalue', pairs: [{ key: 'to', value: '{phone}' }, { key: 'message', value: '{text}' }] },
    })).status).toBe(204);
    return { id: t.id, key };
  }

  const tokenOf = (link: string) => link.split('/findme/')[1]!;

  it('sends the link by SMS; the confirmed point is checked once, to the callback and the bus; used and expired links say so', async () => {
    const t = await tenantWithBox();
    const asked = Date.now();
    const created = await call<{ id: string; link: string; sms: string; expiresAt: string }>('POST', '/findme', t.key, {
      phone: '+5541988445566', callbackUrl: `${fakeUrl}/bot/callback`,
    });
    expect(created.status).toBe(201);
    // It expires after FINDME_TTL_MINUTES, 30 by default (give or take the clocks of this machine and the database's).
    const ttl = Date.parse(created.body.expiresAt) - asked;
    expect(ttl).toBeGreaterThan(29 * 60_000);
    expect(ttl).toBeLessThan(31 * 60_000);
    expect(created.body.sms).toBe('sent');
    expect(created.body.link).toMatch(/^https:\/\/elo\.example\.net\/findme\/[\w-]{30,}$/);
    const sent = sms.find((s) => s.body.to === '+5541988445566')!;
    expect(sent.auth).toBe('Bearer sms-secret');
    expect(sent.body.message).toContain(created.body.link);
    expect(sent.body.message).toMatch(/^Para verificarmos/);
    // Only the token's hash is stored.
    const token = tokenOf(created.body.link);
    expect(JSON.stringify(await ds.query('SELECT * FROM viability.findme_links'))).not.toContain(token);

    expect((await call('GET', `/findme/${token}/state`, undefined)).body).toMatchObject({ state: 'open' });
    // The page can look an address up for an open link.
    expect((await call('POST', `/findme/${token}/locate`, undefined, { address: 'Rua das Flores 10' })).body).toMatchObject({ found: true, displayName: 'Rua das Flores, 10, Curitiba' });
    expect((await call('POST', `/findme/${token}/locate`, undefined, { address: 'Rua Nenhuma 1' })).body).toMatchObject({ found: false });
    // Blanks are no address: a 400, not a lookup of nothing (nor one of the link's 20).
    expect((await call<{ detail: string }>('POST', `/findme/${token}/locate`, undefined, { address: ' \t ' })).body).toMatchObject({ status: 400, detail: expect.stringMatching(/address/) });
    const confirmed = await call<{ status: string; box: { name: string } }>('POST', `/findme/${token}/confirm`, undefined, HOME);
    expect(confirmed.status).toBe(200);
    expect(confirmed.body).toMatchObject({ status: 'viable', box: { name: 'CTO Jardim' } });
    await expectEventually(() => expect(callbacks.find((c) => c.box?.name === 'CTO Jardim')).toMatchObject({ status: 'viable' }));
    await expectEventually(() =>
      expect(probe.ofType<{ via: string; status: string }>('viability.checked').filter((e) => e.tenantid === t.id && e.data.via === 'findme')).toHaveLength(1),
    );

    const again = await call<{ detail: string; state: string }>('POST', `/findme/${token}/confirm`, undefined, HOME);
    expect(again.status).toBe(410);
    expect(again.body).toMatchObject({ state: 'used', detail: expect.stringMatching(/already used/) });
    expect((await call('GET', `/findme/${token}/state`, undefined)).body).toMatchObject({ state: 'used' });
    expect((await call('POST', `/findme/${token}/locate`, undefined, { address: 'Rua das Flores 10' })).status).toBe(410);

    const old = await call<{ link: string }>('POST', '/findme', t.key, { phone: '+5541911112222' });
    await ds.query(`UPDATE viability.findme_links SET expires_at = now() - interval '1 minute' WHERE phone = '+5541911112222'`);
    const expired = await call<{ detail: string; state: string }>('POST', `/findme/${tokenOf(old.body.link)}/confirm`, undefined, HOME);
    expect(expired.status).toBe(410);
    expect(expired.body).toMatchObject({ state: 'expired', detail: expect.stringMatching(/expired/) });
    // What the page asks when it opens: the link has expired (not open, not used).
    const expiredState = await call('GET', `/findme/${tokenOf(old.body.link)}/state`, undefined);
    expect(expiredState).toMatchObject({ status: 200, body: { state: 'expired' } });
    expect((await call('POST', `/findme/${tokenOf(old.body.link)}/locate`, undefined, { address: 'Rua das Flores 10' })).body).toMatchObject({ status: 410, state: 'expired' });
    // The refused confirm did not spend it.
    expect(await ds.query(`SELECT used_at FROM viability.findme_links WHERE phone = '+5541911112222'`)).toEqual([{ used_at: null }]);
    expect((await call('GET', `/findme/${'x'.repeat(32)}/state`, undefined)).status).toBe(404);
    expect((await call('POST', '/findme', t.key, { phone: 'call me' })).status).toBe(400);
    expect((await call('POST', '/findme', undefined, { phone: '+5541911112222' })).status).toBe(401);
  });

  it('a link confirmed several times at once (a double tap, a retried request) is used once: one answer, one check, one callback', async () => {
    const t = await tenantWithBox();
    const created = await call<{ id: string; link: string }>('POST', '/findme', t.key, { phone: '+5541988440000', callbackUrl: `${fakeUrl}/bot/once` });
    const token = tokenOf(created.body.link);
    const tries = await Promise.all(Array.from({ length: 6 }, () => call<{ status: string; state?: string }>('POST', `/findme/${token}/confirm`, undefined, HOME)));
    expect(tries.map((r) => r.status).sort()).toEqual([200, 410, 410, 410, 410, 410]);
    expect(tries.filter((r) => r.status === 410).every((r) => r.body.state === 'used')).toBe(true);
    expect(await ds.query(`SELECT count(*)::int AS n FROM viability.checks WHERE tenant_id = $1 AND via = 'findme'`, [t.id])).toEqual([{ n: 1 }]);
    await expectEventually(() => expect(callbacks.filter((c) => c.findmeId === created.body.id)).toHaveLength(1));
    await probe.settled(outboxEmpty(ds, 'viability'));
    expect(probe.ofType<{ via: string }>('viability.checked').filter((e) => e.tenantid === t.id && e.data.via === 'findme')).toHaveLength(1);
    // The sweep finds nothing more to deliver for it.
    await app.get(FindmeService).sweep();
    expect(callbacks.filter((c) => c.findmeId === created.body.id)).toHaveLength(1);
  });

  it("a bot flow's FindME step: link by SMS, then viability.checked (the flow replies to the customer itself)", async () => {
    const t = await tenantWithBox();
    const requestId = randomUUID();
    const conversationId = randomUUID();
    const channelId = randomUUID();
    await probe.publish(createEvent({
      type: 'viability.requested', tenantId: t.id, source: 'elo://test',
      data: { requestId, conversationId, channelId, findme: true, phone: '+5541933334444' },
    }));
    const sent = await expectEventually(() => {
      const s = sms.find((x) => x.body.to === '+5541933334444');
      expect(s).toBeDefined();
      return s!;
    });
    const token = /\/findme\/([\w-]+)/.exec(sent.body.message)![1]!;
    expect((await call('POST', `/findme/${token}/confirm`, undefined, HOME)).body).toMatchObject({ status: 'viable' });
    await expectEventually(() => {
      const e = probe.ofType<{ requestId: string; conversationId: string; status: string; via: string }>('viability.checked').find((x) => x.data.requestId === requestId);
      expect(e?.data).toMatchObject({ conversationId, status: 'viable', via: 'findme' });
    });
    // The flow answers the customer itself after viability.checked: no second reply from here (it would
    // have been written with the check, so it would have reached the probe by now).
    await probe.settled(outboxEmpty(ds, 'viability'));
    expect(published('chat.message.send.requested', conversationId)).toHaveLength(0);
  });

  /** The events of `type` seen on the bus that mention `id`. */
  const published = (type: string, id: string) => probe.ofType(type).filter((e) => JSON.stringify(e).includes(id));

  const checkedFor = (requestId: string) =>
    probe.ofType<{ requestId: string; status: string; via: string; reason?: string }>('viability.checked').filter((x) => x.data.requestId === requestId);

  const checkedInConversation = (conversationId: string) =>
    probe.ofType<{ conversationId: string; via: string; status: string; channelId?: string }>('viability.checked').find((x) => x.data.conversationId === conversationId)?.data;

  const requestFindme = (tenantId: string, data: Record<string, unknown>) =>
    createEvent({ type: 'viability.requested', tenantId, source: 'elo://test', data: data as never });

  it("a bot flow's FindME link whose SMS is not sent, or not configured, is answered not_found with the reason", async () => {
    const t = await tenantWithBox();
    const failing = randomUUID();
    await probe.publish(requestFindme(t.id, { requestId: failing, findme: true, phone: '+5541900000500' }));
    await expectEventually(() => expect(checkedFor(failing)[0]?.data).toMatchObject({ status: 'not_found', via: 'findme', reason: expect.stringMatching(/SMS not sent.*500/) }));

    const bare = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: 'no sms' })).body;
    const unconfigured = randomUUID();
    await probe.publish(requestFindme(bare.id, { requestId: unconfigured, findme: true, phone: '+5541900000501' }));
    await expectEventually(() => expect(checkedFor(unconfigured)[0]?.data).toMatchObject({ status: 'not_found', reason: expect.stringMatching(/no SMS provider/) }));
    // The link is spent: the customer's page (had it arrived) says so, and the sweep does not answer it again.
    const [link] = await ds.query('SELECT id, answered_at FROM viability.findme_links WHERE request_id = $1', [unconfigured]);
    expect(link.answered_at).not.toBeNull();
    await app.get(FindmeService).sweep();
    await probe.settled(outboxEmpty(ds, 'viability'));
    expect(published('viability.checked', unconfigured)).toHaveLength(1);
  });

  it("a bot flow's FindME link that expires unused is answered not_found 'expired', once", async () => {
    const t = await tenantWithBox();
    const requestId = randomUUID();
    await probe.publish(requestFindme(t.id, { requestId, findme: true, phone: '+5541977778888' }));
    await expectEventually(async () => expect((await ds.query(`SELECT sms_status FROM viability.findme_links WHERE request_id = $1`, [requestId]))[0]?.sms_status).toBe('sent'));
    expect(checkedFor(requestId)).toHaveLength(0);
    await ds.query(`UPDATE viability.findme_links SET expires_at = now() - interval '1 second' WHERE request_id = $1`, [requestId]);
    await expectEventually(() => expect(checkedFor(requestId)[0]?.data).toMatchObject({ status: 'not_found', via: 'findme', reason: 'expired' }));
    await app.get(FindmeService).sweep();
    await app.get(FindmeService).sweep();
    await probe.settled(outboxEmpty(ds, 'viability'));
    expect(published('viability.checked', requestId)).toHaveLength(1);
    // A link of no flow and no conversation has nobody to tell.
    const lone = await call<{ id: string }>('POST', '/findme', t.key, { phone: '+5541977770000' });
    await ds.query(`UPDATE viability.findme_links SET expires_at = now() - interval '1 second' WHERE id = $1`, [lone.body.id]);
    await app.get(FindmeService).sweep();
    await probe.settled(outboxEmpty(ds, 'viability'));
    expect(published('viability.checked', lone.body.id)).toHaveLength(0);
  });

  it("a FindME request whose handling rolls back sends no SMS; its redelivery sends exactly one", async () => {
    const t = await tenantWithBox();
    const requestId = randomUUID();
    const event = requestFindme(t.id, { requestId, findme: true, phone: '+5541966660000' });
    const consumer = app.get(CheckConsumer);
    const handle = (m: DataSource['manager']) =>
      consumer.onRequested(event as never, { manager: m, attempt: 1, publish: async () => undefined });
    await expect(ds.transaction(async (m) => {
      await handle(m);
      throw new Error('the batch rolled back');
    })).rejects.toThrow('rolled back');
    await ds.transaction((m) => handle(m));
    await expectEventually(() => expect(sms.filter((x) => x.body.to === '+5541966660000')).toHaveLength(1));
    expect(await ds.query('SELECT id FROM viability.findme_links WHERE request_id = $1', [requestId])).toHaveLength(1);
  });

  it("a bot flow's address check while the geocoder fails is answered not_found after its retries", async () => {
    const t = await tenantWithBox();
    const requestId = randomUUID();
    await probe.publish(requestFindme(t.id, { requestId, address: 'Rua Quebrada 1' }));
    await expectEventually(
      () => expect(checkedFor(requestId)[0]?.data).toMatchObject({ status: 'not_found', via: 'address', reason: expect.stringMatching(/could not be looked up.*500/) }),
      { timeoutMs: 15_000 },
    );
    await probe.settled(outboxEmpty(ds, 'viability'));
    expect(published('viability.checked', requestId)).toHaveLength(1);
  }, 20_000);

  it('a FindME link of a conversation without a channel is answered in the chat', async () => {
    const t = await tenantWithBox();
    const conversationId = randomUUID();
    const created = await call<{ link: string }>('POST', '/findme', t.key, { phone: '+5541944440000', conversationId });
    expect((await call('POST', `/findme/${tokenOf(created.body.link)}/confirm`, undefined, HOME)).body).toMatchObject({ status: 'viable' });
    await expectEventually(() => {
      const reply = probe.ofType<{ conversationId: string; channelId?: string; message: { text: string } }>('chat.message.send.requested').find((x) => x.data.conversationId === conversationId);
      expect(reply?.data.message.text).toMatch(/CTO Jardim/);
      expect(reply?.data.channelId).toBeUndefined();
    });
  });

  it('a FindME link of a conversation on a channel, with a callback too: the answer goes to both, and to the bus', async () => {
    const t = await tenantWithBox();
    const [conversationId, channelId] = [randomUUID(), randomUUID()];
    const created = await call<{ id: string; link: string }>('POST', '/findme', t.key, { phone: '+5541944441111', conversationId, channelId, callbackUrl: `${fakeUrl}/bot/both` });
    expect((await call('POST', `/findme/${tokenOf(created.body.link)}/confirm`, undefined, HOME)).body).toMatchObject({ status: 'viable' });
    await expectEventually(() => {
      const reply = probe.ofType<{ conversationId: string; channelId?: string; message: { text: string } }>('chat.message.send.requested').filter((x) => x.data.conversationId === conversationId);
      expect(reply).toHaveLength(1);
      expect(reply[0]!.data).toMatchObject({ channelId, message: { text: expect.stringMatching(/^Boa notícia!.*CTO Jardim/) } });
    });
    await expectEventually(() => expect(callbacks.find((c) => c.findmeId === created.body.id)).toMatchObject({ conversationId, status: 'viable', box: { name: 'CTO Jardim' } }));
    await expectEventually(() => expect(checkedInConversation(conversationId)).toMatchObject({ via: 'findme', status: 'viable', channelId }));
  });

  it("the callback is retried with backoff until the chatbot takes it; GET /findme/links/:id shows the link's state and answer", async () => {
    const t = await tenantWithBox();
    const created = await call<{ id: string; link: string }>('POST', '/findme', t.key, { phone: '+5541922220000', callbackUrl: `${fakeUrl}/flaky` });
    const before = await call<{ state: string }>('GET', `/findme/links/${created.body.id}`, t.key);
    expect(before.body).toMatchObject({ id: created.body.id, state: 'open', sms: 'sent' });
    expect((await call('POST', `/findme/${tokenOf(created.body.link)}/confirm`, undefined, HOME)).body).toMatchObject({ status: 'viable' });
    await expectEventually(() => expect(flaky).toHaveLength(3), { timeoutMs: 10_000 });
    expect(flaky.every((c) => c.findmeId === created.body.id && c.status === 'viable' && c.box?.name === 'CTO Jardim')).toBe(true);
    await expectEventually(async () =>
      expect((await call('GET', `/findme/links/${created.body.id}`, t.key)).body).toMatchObject({
        state: 'used',
        result: { status: 'viable', box: { name: 'CTO Jardim' } },
        callback: { status: 'answered 202', attempts: 3 },
      }),
    );
    // Another tenant's key does not see it; the page's key-less visitors neither.
    const other = await tenantWithBox();
    expect((await call('GET', `/findme/links/${created.body.id}`, other.key)).status).toBe(404);
    expect((await call('GET', `/findme/links/${created.body.id}`, undefined)).status).toBe(401);
  });

  it('a callback due when the process stopped is delivered by the sweep', async () => {
    const t = await tenantWithBox();
    const created = await call<{ id: string }>('POST', '/findme', t.key, { phone: '+5541922221111', callbackUrl: `${fakeUrl}/bot/after-restart` });
    // As a restart leaves it: confirmed, answer stored, callback due, nobody trying it in memory.
    await ds.query(
      `UPDATE viability.findme_links SET used_at = now(), answered_at = now(), result = '{"status":"not_viable"}', callback_due_at = now() WHERE id = $1`,
      [created.body.id],
    );
    await expectEventually(() => expect(callbacks.find((c) => c.findmeId === created.body.id)).toMatchObject({ status: 'not_viable' }));
  });

  it('the map page: use my location, confirm, answer; a used link says so (browser)', async () => {
    const t = await tenantWithBox();
    const created = await call<{ link: string }>('POST', '/findme', t.key, { phone: '+5541955556666' });
    const token = tokenOf(created.body.link);
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    try {
      const context = await browser.newContext({
        viewport: { width: 390, height: 760 }, isMobile: true, hasTouch: true,
        geolocation: { latitude: HOME.lat, longitude: HOME.lng, accuracy: 10 }, permissions: ['geolocation'],
      });
      const page = await context.newPage();
      const outside: string[] = [];
      const confirmed: Array<{ lat: number; lng: number }> = [];
      page.on('request', (r) => {
        if (!r.url().startsWith(url)) outside.push(r.url());
        if (r.url().endsWith('/confirm')) confirmed.push(JSON.parse(r.postData() ?? '{}') as { lat: number; lng: number });
      });
      await page.goto(`${url}/findme/${token}`);
      await page.waitForSelector('.leaflet-container');
      // Typing the address puts the pin there...
      await page.fill('#address', 'Rua das Flores 10');
      await page.click('#find');
      await expectEventually(async () => expect(await page.textContent('#coords')).toContain('Rua das Flores, 10, Curitiba'));
      await page.fill('#address', 'Rua Nenhuma 1');
      await page.click('#find');
      await expectEventually(async () => expect(await page.textContent('#result')).toMatch(/não encontrado/));
      // ...and so does "use my location".
      await page.click('#locate');
      await page.waitForSelector('.pin');
      await expectEventually(async () => expect(await page.textContent('#coords')).toContain(HOME.lat.toFixed(4)));
      // The pin can be dragged: 40 px south (at zoom 17 here, some 40 m), and the point follows it.
      const pin = (await page.locator('.leaflet-marker-icon').boundingBox())!;
      const [x, y] = [pin.x + pin.width / 2, pin.y + pin.height / 2];
      await page.mouse.move(x, y);
      await page.mouse.down();
      await page.mouse.move(x, y + 40, { steps: 10 });
      await page.mouse.up();
      await expectEventually(async () => expect(await page.textContent('#coords')).not.toContain(HOME.lat.toFixed(4)));
      await page.click('#confirm');
      await page.waitForSelector('#result[data-status="viable"]');
      expect(await page.textContent('#result')).toMatch(/Temos cobertura/);
      expect(confirmed).toHaveLength(1);
      expect(HOME.lat - confirmed[0]!.lat).toBeGreaterThan(0.0002);
      expect(Math.abs(confirmed[0]!.lng - HOME.lng)).toBeLessThan(0.0002);
      mkdirSync(join(__dirname, '..', '..', '..', 'test-artifacts'), { recursive: true });
      await page.screenshot({ path: join(__dirname, '..', '..', '..', 'test-artifacts', 'viability-findme.png') });
      // No CDN, no tiles configured: nothing leaves this service.
      expect(outside).toEqual([]);
      await expectEventually(() =>
        expect(probe.ofType<{ via: string }>('viability.checked').filter((e) => e.tenantid === t.id && e.data.via === 'findme')).toHaveLength(1),
      );

      await page.reload();
      await page.waitForSelector('#result[data-status="error"]');
      expect(await page.textContent('#result')).toMatch(/já foi usado/);
      expect(await page.isDisabled('#confirm')).toBe(true);

      // An expired link's page says so, and nothing on it can be sent.
      const late = await call<{ id: string; link: string }>('POST', '/findme', t.key, { phone: '+5541955558888' });
      await ds.query(`UPDATE viability.findme_links SET expires_at = now() - interval '1 minute' WHERE id = $1`, [late.body.id]);
      await page.goto(`${url}/findme/${tokenOf(late.body.link)}`);
      await page.waitForSelector('#result[data-status="error"]');
      expect(await page.textContent('#result')).toMatch(/expirou/);
      for (const control of ['#confirm', '#locate', '#find', '#address']) expect(await page.isDisabled(control)).toBe(true);
    } finally {
      await browser.close();
    }
  }, 45_000);

  it('a point picked on a copy of the world beyond the antimeridian is confirmed with its longitude within ±180 (browser)', async () => {
    const t = await tenantWithBox();
    const token = tokenOf((await call<{ link: string }>('POST', '/findme', t.key, { phone: '+5541955557777' })).body.link);
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await (await browser.newContext({ viewport: { width: 390, height: 760 } })).newPage();
      const sent: Array<{ lat: number; lng: number }> = [];
      page.on('request', (r) => {
        if (r.url().endsWith('/confirm')) sent.push(JSON.parse(r.postData() ?? '{}') as { lat: number; lng: number });
      });
      await page.goto(`${url}/findme/${token}`);
      await page.waitForSelector('.leaflet-container');
      // Zoomed out to the whole world, the map shows its copies side by side: the left edge is west of -180°.
      while (!(await page.$('.leaflet-control-zoom-out.leaflet-disabled'))) {
        await page.click('.leaflet-control-zoom-out');
        await page.waitForTimeout(300);
      }
      const box = (await page.locator('#map').boundingBox())!;
      await page.mouse.click(box.x + 4, box.y + box.height / 2);
      await page.waitForSelector('.pin');
      await page.click('#confirm');
      await page.waitForSelector('#result:is([data-status="not_found"], [data-status="error"])');
      expect(sent).toHaveLength(1);
      expect(Math.abs(sent[0]!.lng)).toBeLessThanOrEqual(180);
      expect(await page.getAttribute('#result', 'data-status')).toBe('not_found');
    } finally {
      await browser.close();
    }
  }, 45_000);
});
