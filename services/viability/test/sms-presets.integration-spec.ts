import type { INestApplication } from '@nestjs/common';
import { BusConnection } from '@elo/messaging';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { callApi, createTestInfra, type TestInfra } from '@elo/testing';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../src/app.module';
import { ViabilityConfig } from '../src/config/viability.config';

const ADMIN = 's'.repeat(40);

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let s = '';
    req.on('data', (c: Buffer) => (s += c.toString()));
    req.on('end', () => resolve(s));
  });

describe('viability: FindME SMS through provider presets', () => {
  let infra: TestInfra;
  let app: INestApplication;
  let url: string;
  let ds: DataSource;
  let fake: Server;
  let fakeUrl: string;
  const got: Array<{ method: string; path: string; headers: IncomingMessage['headers']; rawHeaders: string[]; body: string }> = [];

  beforeAll(async () => {
    infra = await createTestInfra('viability-sms');
    fake = createServer((req, res) => {
      void readBody(req).then((body) => {
        got.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body });
        res.statusCode = 201;
        res.setHeader('content-type', 'application/json');
        res.end('{"id":"SM1"}');
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    fakeUrl = `http://127.0.0.1:${(fake.address() as { port: number }).port}`;
    const config = loadConfig(ViabilityConfig, {
      DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN,
      ELO_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 4).toString('base64')}`, ELO_ENCRYPTION_ACTIVE_KEY: 'k1', LOG_LEVEL: 'warn',
      EGRESS_ALLOW_PRIVATE: '127.0.0.1/32', FINDME_PUBLIC_URL: 'https://elo.example.net', UPSTREAM_SYNC_TICK_MS: '0',
    });
    app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'viability', config });
    await app.listen(0, '127.0.0.1');
    await app.get(BusConnection).waitReady(15_000);
    url = await app.getUrl();
    ds = app.get(DataSource);
  });

  afterAll(async () => {
    await app?.close();
    await new Promise((r) => fake?.close(r));
    await infra?.cleanup();
  });

  const call = <T = Record<string, unknown>>(method: string, path: string, key: string, body?: unknown) => callApi<T>(url, method, path, key, body);

  async function tenant(): Promise<{ id: string; key: string }> {
    const t = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: 'isp' })).body;
    const { key } = (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'k', permissions: ['viability:check', 'viability:manage'] })).body;
    return { id: t.id, key };
  }

  it('lists the presets', async () => {
    const t = await tenant();
    const r = await call<Array<{ id: string; fields: string[] }>>('GET', '/findme/sms/presets', t.key);
    expect(r.status).toBe(200);
    expect(r.body.map((p) => p.id)).toEqual(['twilio', 'zenvia', 'vonage']);
    expect(r.body.find((p) => p.id === 'twilio')?.fields).toEqual(['accountSid', 'authToken', 'from']);
  });

  it('Twilio-style: form POST with HTTP Basic, To in E.164, Body with the link', async () => {
    const t = await tenant();
    const put = await call('PUT', '/findme/sms/preset', t.key, {
      preset: 'twilio', baseUrl: `${fakeUrl}/twilio`, accountSid: 'AC0123456789abcdef', authToken: 'tw-secret-token', from: '+15005550006',
    });
    expect(put.status).toBe(204);
    const created = await call<{ link: string; sms: string }>('POST', '/findme', t.key, { phone: '+5541988887777' });
    expect(created.body.sms).toBe('sent');
    const req = got.find((g) => g.path.startsWith('/twilio'))!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/twilio/2010-04-01/Accounts/AC0123456789abcdef/Messages.json');
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from('AC0123456789abcdef:tw-secret-token').toString('base64')}`);
    // Exactly one Content-Type, once (the template renderer sets it; it used to be added a second time).
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'content-type')).toHaveLength(1);
    const form = new URLSearchParams(req.body);
    expect(form.get('To')).toBe('+5541988887777');
    expect(form.get('From')).toBe('+15005550006');
    expect(form.get('Body')).toContain(created.body.link);
    // The credentials are stored sealed.
    const [s] = await ds.query('SELECT sms_template_sealed FROM viability.settings WHERE tenant_id = $1', [t.id]);
    expect(s.sms_template_sealed).not.toContain('tw-secret-token');

    // A chatbot with the national form (or an old eight-digit mobile): Twilio still gets E.164.
    for (const national of ['41988886666', '(41) 8888-6666']) {
      const before = got.length;
      expect((await call<{ sms: string }>('POST', '/findme', t.key, { phone: national })).body.sms).toBe('sent');
      expect(new URLSearchParams(got.slice(before).find((g) => g.path.startsWith('/twilio'))!.body).get('To')).toBe('+5541988886666');
    }
    const notAPhone = await call<{ detail: string }>('POST', '/findme', t.key, { phone: '12345678' });
    expect(notAPhone.status).toBe(400);
    expect(notAPhone.body.detail).toMatch(/^phone: /);
  });

  it('Zenvia-style: JSON with X-API-TOKEN, digits-only recipient and a custom text', async () => {
    const t = await tenant();
    expect((await call('PUT', '/findme/sms/preset', t.key, {
      preset: 'zenvia', baseUrl: `${fakeUrl}/zenvia`, token: 'zv-token-123', from: 'elo-isp', text: 'Marque sua casa no mapa: {link}',
    })).status).toBe(204);
    const created = await call<{ link: string; sms: string }>('POST', '/findme', t.key, { phone: '+5541977776666' });
    expect(created.body.sms).toBe('sent');
    const req = got.find((g) => g.path.startsWith('/zenvia'))!;
    expect(req.path).toBe('/zenvia/v2/channels/sms/messages');
    expect(req.headers['x-api-token']).toBe('zv-token-123');
    expect(req.headers['content-type']).toBe('application/json');
    expect(JSON.parse(req.body)).toEqual({ from: 'elo-isp', to: '5541977776666', contents: [{ type: 'text', text: `Marque sua casa no mapa: ${created.body.link}` }] });
  });

  it('Vonage-style: form POST to /sms/json with the key and secret in the form, digits-only recipient, the link in the text', async () => {
    const t = await tenant();
    expect((await call('PUT', '/findme/sms/preset', t.key, {
      preset: 'vonage', baseUrl: `${fakeUrl}/vonage`, apiKey: 'vg-key', apiSecret: 'vg-secret', from: 'EloISP',
    })).status).toBe(204);
    const before = got.length;
    const created = await call<{ link: string; sms: string }>('POST', '/findme', t.key, { phone: '+5541966665555' });
    expect(created.body.sms).toBe('sent');
    const sent = got.slice(before).filter((g) => g.path.startsWith('/vonage'));
    expect(sent).toHaveLength(1);
    const req = sent[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/vonage/sms/json');
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const form = new URLSearchParams(req.body);
    expect(Object.fromEntries([...form.keys()].map((k) => [k, form.getAll(k)]))).toEqual({
      api_key: ['vg-key'], api_secret: ['vg-secret'], from: ['EloISP'], to: ['5541966665555'], text: [expect.stringContaining(created.body.link)],
    });
    const [s] = await ds.query('SELECT sms_template_sealed FROM viability.settings WHERE tenant_id = $1', [t.id]);
    expect(s.sms_template_sealed).not.toContain('vg-secret');
  });

  it('refuses an unknown preset, missing fields and braces in account fields', async () => {
    const t = await tenant();
    const unknown = await call<{ detail: string }>('PUT', '/findme/sms/preset', t.key, { preset: 'pigeon' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.detail).toMatch(/unknown preset; one of twilio, zenvia, vonage/);
    const missing = await call<{ detail: string }>('PUT', '/findme/sms/preset', t.key, { preset: 'vonage', apiKey: 'k', from: 'x' });
    expect(missing.body.detail).toMatch(/apiSecret is required/);
    const braces = await call<{ detail: string }>('PUT', '/findme/sms/preset', t.key, { preset: 'zenvia', token: '{phone}', from: 'x' });
    expect(braces.status).toBe(400);
    expect(braces.body.detail).toMatch(/braces/);
    expect((await call('PUT', '/findme/sms/preset', t.key, { preset: 'zenvia', token: 't', from: 'x', baseUrl: 'ftp://x' })).status).toBe(400);
  });
});
