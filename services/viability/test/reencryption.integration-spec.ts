import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import { ReencryptionService } from '@elo/auth';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../src/app.module';
import { ViabilityConfig } from '../src/config/viability.config';

/*
 * Key rotation in viability: the upstream token and the SMS template (with the provider's credentials)
 * written under key A are re-sealed under B by the background job at boot, and the service still
 * uses them once A is gone from the configuration.
 */

const ADMIN = 'r'.repeat(40);
const KEY_A = `ka:${Buffer.alloc(32, 21).toString('base64')}`;
const KEY_B = `kb:${Buffer.alloc(32, 22).toString('base64')}`;
const UPSTREAM_TOKEN = 'upstream-token-"quoted"-0123456789-tail';
const SMS_SECRET = 'sms-secret-rotated-ABCD';

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let s = '';
    req.on('data', (c: Buffer) => (s += c.toString()));
    req.on('end', () => resolve(s));
  });

describe('viability: encryption key rotation', () => {
  let infra: TestInfra;
  let app: INestApplication | undefined;
  let url: string;
  let fake: Server;
  let fakeUrl: string;
  const sms: Array<{ auth?: string; to: string }> = [];

  const boot = async (keys: string, active: string) => {
    const config = loadConfig(ViabilityConfig, {
      DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN,
      ELO_ENCRYPTION_KEYS: keys, ELO_ENCRYPTION_ACTIVE_KEY: active, LOG_LEVEL: 'silent',
      EGRESS_ALLOW_PRIVATE: '127.0.0.1/32', FINDME_PUBLIC_URL: 'https://elo.example.net', GEOCODER_BASE_URL: fakeUrl,
    });
    app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'viability', config });
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
    return app;
  };

  const call = async <T = Record<string, unknown>>(method: string, path: string, key: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
  };

  const sealed = async (): Promise<string[]> => {
    const ds = app!.get(DataSource);
    const rows: Array<{ v: string }> = await ds.query(
      `SELECT token_sealed AS v FROM viability.upstreams UNION ALL
       SELECT sms_template_sealed FROM viability.settings WHERE sms_template_sealed IS NOT NULL`,
    );
    return rows.map((r) => r.v);
  };

  beforeAll(async () => {
    infra = await createTestInfra('viability-reencrypt');
    fake = createServer((req, res) => {
      void readBody(req).then((b) => {
        if (req.url?.startsWith('/sms')) sms.push({ auth: req.headers.authorization, to: (JSON.parse(b) as { to: string }).to });
        res.statusCode = 202;
        res.end('{}');
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    fakeUrl = `http://127.0.0.1:${(fake.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await app?.close();
    await new Promise((r) => fake?.close(r));
    await infra?.cleanup();
  });

  it('re-seals the upstream token and SMS credentials under the new key after boot; the service reads them without the old key', async () => {
    await boot(KEY_A, 'ka');
    const tenants: Array<{ key: string }> = [];
    for (let i = 0; i < 3; i++) {
      const t = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: `isp ${i}` })).body;
      const { key } = (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'k', permissions: ['viability:check', 'viability:manage'] })).body;
      tenants.push({ key });
      expect((await call('PUT', '/inventory/upstream', key, { baseUrl: 'https://docs.example.net/api', token: `${UPSTREAM_TOKEN}-${i}` })).status).toBe(200);
      expect((await call('PUT', '/findme/sms', key, {
        method: 'POST', url: `${fakeUrl}/sms/send`, headers: [{ name: 'Authorization', value: `Bearer ${SMS_SECRET}-${i}` }],
        body: { kind: 'keyvalue', pairs: [{ key: 'to', value: '{phone}' }, { key: 'message', value: '{text}' }] },
      })).status).toBe(204);
    }
    const underA = await sealed();
    expect(underA).toHaveLength(6);
    expect(underA.every((v) => v.startsWith('v1.ka.'))).toBe(true);
    await app!.close();

    // B becomes active, A stays listed: the job starts by itself after boot.
    await boot(`${KEY_A},${KEY_B}`, 'kb');
    await expectEventually(async () => {
      const now = await sealed();
      expect(now).toHaveLength(6);
      expect(now.every((v) => v.startsWith('v1.kb.'))).toBe(true);
    });
    const jobs = app!.get(ReencryptionService);
    await jobs.idle();
    const again = await jobs.run();
    expect(again.columns.map((c) => [c.table, c.column, c.rewritten, c.failed, c.remaining]).sort()).toEqual([
      ['viability.settings', 'sms_template_sealed', 0, 0, 0],
      ['viability.upstreams', 'token_sealed', 0, 0, 0],
    ]);
    await app!.close();

    // A is gone: the service still opens every value.
    await boot(KEY_B, 'kb');
    for (const [i, t] of tenants.entries()) {
      const upstream = await call<{ token: string }>('GET', '/inventory/upstream', t.key);
      expect(upstream.body.token).toBe(SecretTail(`${UPSTREAM_TOKEN}-${i}`));
      const phone = `+55419000000${i}${i}`;
      const created = await call<{ sms: string }>('POST', '/findme', t.key, { phone });
      expect(created.body.sms).toBe('sent');
      expect(sms.find((s) => s.to === phone)?.auth).toBe(`Bearer ${SMS_SECRET}-${i}`);
    }
  });
});

/** What the API shows of a secret it could open: its last four characters. */
const SecretTail = (plain: string) => `••••${plain.slice(-4)}`;
