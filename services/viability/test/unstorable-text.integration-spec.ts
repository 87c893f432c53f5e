import type { INestApplication } from '@nestjs/common';
import { BusConnection } from '@elo/messaging';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { callApi, createTestInfra, type TestInfra } from '@elo/testing';
import { createServer, type Server } from 'node:http';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../src/app.module';
import { ViabilityConfig } from '../src/config/viability.config';

const ADMIN = 'x'.repeat(40);
/** What PostgreSQL refuses in text (U+0000) and in jsonb (U+0000, a lone surrogate). */
const BAD = [['U+0000', 'a\u0000b'], ['a lone surrogate', 'a\ud800b']] as const;
const HEADER = 'external_id,name,lat,lng,status,port_capacity,ports_in_use,pole_external_id';

/**
 * Every route that stores (or looks up) text a client sent, with U+0000 and a lone surrogate in each string field
 * (and in the keys of free-form maps): never a 500.
 */
describe('viability: U+0000 and lone surrogates in what clients send', () => {
  let infra: TestInfra;
  let app: INestApplication;
  let url: string;
  let ds: DataSource;
  let fake: Server;
  let fakeUrl: string;
  let key: string;
  let seq = 0;

  beforeAll(async () => {
    infra = await createTestInfra('viability-unstorable');
    // A geocoder that knows no address, and an SMS provider that takes everything.
    fake = createServer((req, res) => {
      req.resume();
      res.setHeader('content-type', 'application/json');
      res.statusCode = req.url?.startsWith('/search') ? 200 : 202;
      res.end(req.url?.startsWith('/search') ? '[]' : '{}');
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    fakeUrl = `http://127.0.0.1:${(fake.address() as { port: number }).port}`;
    const config = loadConfig(ViabilityConfig, {
      DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN,
      ELO_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`, ELO_ENCRYPTION_ACTIVE_KEY: 'k1', LOG_LEVEL: 'silent',
      GEOCODER_BASE_URL: fakeUrl, GEOCODER_MIN_INTERVAL_MS: '0', EGRESS_ALLOW_PRIVATE: '127.0.0.1/32',
      FINDME_PUBLIC_URL: 'https://elo.example.net', UPSTREAM_SYNC_TICK_MS: '0',
    });
    app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'viability', config });
    await app.listen(0, '127.0.0.1');
    await app.get(BusConnection).waitReady(15_000);
    url = await app.getUrl();
    ds = app.get(DataSource);
    const t = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: 'isp' })).body;
    key = (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'k', permissions: ['viability:check', 'viability:manage'] })).body.key;
    expect((await call('PUT', '/findme/sms', key, { method: 'POST', url: `${fakeUrl}/sms`, body: { kind: 'keyvalue', pairs: [{ key: 'to', value: '{phone}' }] } })).status).toBe(204);
  });

  afterAll(async () => {
    await app?.close();
    await new Promise((r) => fake?.close(r));
    await infra?.cleanup();
  });

  const call = <T = Record<string, unknown>>(method: string, path: string, k: string | undefined, body?: unknown, type?: string) =>
    callApi<T>(url, method, path, k, body, type ? { 'content-type': type } : {});
  const csv = (row: string) => call('POST', '/inventory/import?kind=boxes', key, `${HEADER}\n${row}\n`, 'text/csv');
  const feature = (properties: Record<string, unknown>) => call('POST', '/inventory/import?kind=poles', key, {
    type: 'FeatureCollection', features: [{ type: 'Feature', geometry: { type: 'Point', coordinates: [-49.27, -25.42] }, properties: { external_id: `F-${++seq}`, ...properties } }],
  }, 'application/geo+json');
  const link = async () => (await call<{ link: string }>('POST', '/findme', key, { phone: '+5541988445566' })).body.link.split('/findme/')[1]!;
  const sms = (fields: Record<string, unknown>) => call('PUT', '/findme/sms', key, { method: 'POST', url: `${fakeUrl}/sms`, ...fields });

  /**
   * One field, and the answer it gets (one for both, or [for U+0000, for a lone surrogate]): `kept` (2xx, nothing
   * refused in the answer: stored with U+FFFD in their place, or sealed whole), `row error` (an import's row
   * refused, the others go in), or a 400 whose detail says this.
   */
  const CASES: Array<{ field: string; send: (bad: string) => Promise<{ status: number; body: unknown }>; answer: string | [string, string] }> = [
    { field: 'PUT /settings replies', send: (bad) => call('PUT', '/settings', key, { replies: { viable: bad, not_viable: bad, not_found: bad } }), answer: 'kept' },
    { field: 'PUT /settings chatLocationChannels key', send: (bad) => call('PUT', '/settings', key, { chatLocationChannels: { [bad]: true } }), answer: 'chatLocationChannels' },
    { field: 'PUT /findme/sms url', send: (bad) => sms({ url: `${fakeUrl}/${bad}` }), answer: 'kept' },
    { field: 'PUT /findme/sms method', send: (bad) => sms({ method: bad }), answer: 'invalid HTTP method' },
    { field: 'PUT /findme/sms headers', send: (bad) => sms({ headers: [{ name: bad, value: bad }] }), answer: 'invalid header name' },
    { field: 'PUT /findme/sms query', send: (bad) => sms({ query: [{ key: bad, value: bad }] }), answer: ['kept', 'not valid Unicode for a URL'] },
    { field: 'PUT /findme/sms body pairs', send: (bad) => sms({ body: { kind: 'keyvalue', pairs: [{ key: bad, value: bad }] } }), answer: 'kept' },
    { field: 'PUT /findme/sms body template', send: (bad) => sms({ body: { kind: 'raw', contentType: bad, template: bad } }), answer: 'kept' },
    { field: 'PUT /findme/sms text', send: (bad) => sms({ text: bad }), answer: 'kept' },
    { field: 'PUT /findme/sms/preset preset', send: (bad) => call('PUT', '/findme/sms/preset', key, { preset: bad }), answer: 'unknown preset' },
    { field: 'PUT /findme/sms/preset fields', send: (bad) => call('PUT', '/findme/sms/preset', key, { preset: 'twilio', baseUrl: `${fakeUrl}/${bad}`, accountSid: bad, authToken: bad, from: bad, text: bad }), answer: ['kept', 'accountSid must not contain a lone surrogate'] },
    { field: 'POST /findme phone', send: (bad) => call('POST', '/findme', key, { phone: `+55419884455${bad}` }), answer: 'phone' },
    { field: 'POST /findme callbackUrl', send: (bad) => call('POST', '/findme', key, { phone: '+5541988445566', callbackUrl: `https://bot.example.com/${bad}` }), answer: ['callbackUrl', 'kept'] },
    { field: 'POST /findme/:token/locate address', send: async (bad) => call('POST', `/findme/${await link()}/locate`, undefined, { address: bad }), answer: 'kept' },
    { field: 'POST /viability address', send: (bad) => call('POST', '/viability', key, { address: bad }), answer: 'kept' },
    { field: 'POST /inventory/import CSV external_id', send: (bad) => csv(`${bad},Caixa,-25.5,-49.3,deployed,8,0,`), answer: ['row error', 'kept'] },
    { field: 'POST /inventory/import CSV name', send: (bad) => csv(`C-${++seq},${bad},-25.5,-49.3,deployed,8,0,`), answer: ['row error', 'kept'] },
    { field: 'POST /inventory/import CSV pole_external_id', send: (bad) => csv(`C-${++seq},Caixa,-25.5,-49.3,deployed,8,0,${bad}`), answer: ['row error', 'kept'] },
    { field: 'POST /inventory/import CSV status', send: (bad) => csv(`C-${++seq},Caixa,-25.5,-49.3,${bad},8,0,`), answer: 'row error' },
    { field: 'POST /inventory/import GeoJSON external_id', send: (bad) => feature({ external_id: bad }), answer: ['row error', 'kept'] },
    { field: 'POST /inventory/import GeoJSON name', send: (bad) => feature({ name: bad }), answer: ['row error', 'kept'] },
    { field: 'POST /inventory/import GeoJSON property key', send: (bad) => feature({ [bad]: bad }), answer: 'kept' },
    { field: 'PUT /inventory/upstream baseUrl', send: (bad) => call('PUT', '/inventory/upstream', key, { baseUrl: `https://inventory.example.com/${bad}`, token: 't' }), answer: ['baseUrl', 'kept'] },
    { field: 'PUT /inventory/upstream token', send: (bad) => call('PUT', '/inventory/upstream', key, { baseUrl: 'https://inventory.example.com', token: bad }), answer: 'kept' },
  ];

  for (const [i, [what, bad]] of BAD.entries()) {
    it.each(CASES)(`${what} in $field: $answer, not a 500`, async ({ send, answer }) => {
      const res = await send(bad);
      const expected = typeof answer === 'string' ? answer : answer[i];
      if (expected === 'kept') {
        expect(res.status).toBeLessThan(300);
        expect(JSON.stringify(res.body)).not.toMatch(/\\u(0000|d800)/);
      } else if (expected === 'row error') {
        expect(res).toMatchObject({ status: 200, body: { inserted: 0, errors: [{ reason: expect.any(String) }] } });
      } else {
        expect(res).toMatchObject({ status: 400, body: { detail: expect.stringContaining(expected) } });
      }
    });
  }

  it('what is kept has U+FFFD in their place: reply templates, an address looked up, an imported name, an upstream URL', async () => {
    expect((await call('PUT', '/settings', key, { replies: { viable: 'a\u0000b {box}' } })).body).toMatchObject({ replies: { viable: 'a\uFFFDb {box}' } });
    expect((await call('PUT', '/inventory/upstream', key, { baseUrl: 'https://inventory.example.com/a\ud800b', token: 't' })).body).toMatchObject({ baseUrl: 'https://inventory.example.com/a\uFFFDb' });
    expect((await call('POST', '/viability', key, { address: 'Rua\u0000 1' })).body).toMatchObject({ status: 'not_found' });
    expect((await ds.query(`SELECT query FROM viability.geocode_cache WHERE query LIKE 'rua%'`))).toEqual([{ query: 'rua\uFFFD 1' }]);
    expect((await csv('S-1,Caixa\ud800,-25.5,-49.3,deployed,8,0,')).body).toMatchObject({ inserted: 1 });
    expect((await ds.query(`SELECT name FROM viability.boxes WHERE external_id = 'S-1'`))).toEqual([{ name: 'Caixa\uFFFD' }]);
  });

  it('U+0000 (%00) in a URL: not a 500', async () => {
    for (const [method, path] of [
      ['GET', '/viability/checks?cursor=a%00b'], ['GET', '/findme/a%00b/state'], ['GET', '/findme/a%00b'], ['GET', '/findme/assets/a%00b'],
      ['POST', '/findme/a%00b/locate'], ['POST', '/findme/a%00b/confirm'], ['POST', '/inventory/import?kind=a%00b'],
    ]) {
      expect((await call(method!, path!, key, method === 'POST' ? {} : undefined)).status).toBeLessThan(500);
    }
  });
});
