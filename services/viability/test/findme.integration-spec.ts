import type { INestApplication } from '@nestjs/common';
import { createEvent } from '@elo/contracts';
import { BusConnection, BusProbe } from '@elo/messaging';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../src/app.module';
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
  const callbacks: Array<{ status: string; conversationId?: string; box?: { name: string } }> = [];

  beforeAll(async () => {
    infra = await createTestInfra('viability-findme');
    fake = createServer((req, res) => {
      if (req.url?.startsWith('/search')) {
        // A Nominatim-like geocoder: one known street.
        const q = new URL(req.url, 'http://x').searchParams.get('q');
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(q === 'Rua das Flores 10' ? [{ lat: String(HOME.lat), lon: String(HOME.lng), display_name: 'Rua das Flores, 10, Curitiba' }] : []));
        return;
      }
      void readBody(req).then((b) => {
        if (req.url?.startsWith('/sms')) sms.push({ path: req.url, auth: req.headers.authorization, body: JSON.parse(b) as { to: string; message: string } });
        else callbacks.push(JSON.parse(b) as (typeof callbacks)[number]);
        res.statusCode = 202;
        res.end('{}');
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    fakeUrl = `http://127.0.0.1:${(fake.address() as { port: number }).port}`;
    const config = loadConfig(ViabilityConfig, {
      DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN,
      ELO_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 6).toString('base64')}`, ELO_ENCRYPTION_ACTIVE_KEY: 'k1', LOG_LEVEL: 'warn',
      EGRESS_ALLOW_PRIVATE: '127.0.0.1/32', FINDME_PUBLIC_URL: 'https://elo.example.net',
      GEOCODER_BASE_URL: fakeUrl, GEOCODER_MIN_INTERVAL_MS: '0',
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
    const created = await call<{ id: string; link: string; sms: string; expiresAt: string }>('POST', '/findme', t.key, {
      phone: '+5541988445566', callbackUrl: `${fakeUrl}/bot/callback`,
    });
    expect(created.status).toBe(201);
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
    const expired = await call<{ detail: string }>('POST', `/findme/${tokenOf(old.body.link)}/confirm`, undefined, HOME);
    expect(expired.status).toBe(410);
    expect(expired.body.detail).toMatch(/expired/);
    expect((await call('GET', `/findme/${'x'.repeat(32)}/state`, undefined)).status).toBe(404);
    expect((await call('POST', '/findme', t.key, { phone: 'call me' })).status).toBe(400);
    expect((await call('POST', '/findme', undefined, { phone: '+5541911112222' })).status).toBe(401);
  });

  it("a bot flow's FindME step: link by SMS, then viability.checked and a chat reply for the conversation", async () => {
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
      const reply = probe.ofType<{ conversationId: string; message: { text: string } }>('chat.message.send.requested').find((x) => x.data.conversationId === conversationId);
      expect(reply?.data.message.text).toMatch(/CTO Jardim/);
    });
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
      page.on('request', (r) => {
        if (!r.url().startsWith(url)) outside.push(r.url());
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
      await page.click('#confirm');
      await page.waitForSelector('#result[data-status="viable"]');
      expect(await page.textContent('#result')).toMatch(/Temos cobertura/);
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
    } finally {
      await browser.close();
    }
  }, 45_000);
});
