import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import { ReencryptionService } from '@elo/auth';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { callApi, createTestInfra, expectKeyRotation, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../src/app.module';
import { ViabilityConfig } from '../src/config/viability.config';

/*
 * Key rotation in viability: the upstream token and the SMS template with the provider's credentials
 * (the scenario: @elo/testing expectKeyRotation).
 */

const ADMIN = 'r'.repeat(40);
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
  let url: string;
  let fake: Server;
  let fakeUrl: string;
  const sms: Array<{ auth?: string; to: string }> = [];

  const call = <T = Record<string, unknown>>(method: string, path: string, key: string, body?: unknown) => callApi<T>(url, method, path, key, body);

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
    await new Promise((r) => fake?.close(r));
    await infra?.cleanup();
  });

  it('re-seals the upstream token and SMS credentials under the new key after boot; the service uses them without the old key', async () => {
    const tenants: string[] = [];
    await expectKeyRotation<INestApplication>({
      boot: async (keys, active) => {
        const config = loadConfig(ViabilityConfig, {
          DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN,
          ELO_ENCRYPTION_KEYS: keys, ELO_ENCRYPTION_ACTIVE_KEY: active, LOG_LEVEL: 'silent',
          EGRESS_ALLOW_PRIVATE: '127.0.0.1/32', FINDME_PUBLIC_URL: 'https://elo.example.net', GEOCODER_BASE_URL: fakeUrl,
        });
        const app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'viability', config });
        await app.listen(0, '127.0.0.1');
        url = await app.getUrl();
        return app;
      },
      seed: async () => {
        for (let i = 0; i < 3; i++) {
          const t = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: `isp ${i}` })).body;
          const { key } = (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'k', permissions: ['viability:check', 'viability:manage'] })).body;
          tenants.push(key);
          expect((await call('PUT', '/inventory/upstream', key, { baseUrl: 'https://docs.example.net/api', token: `${UPSTREAM_TOKEN}-${i}` })).status).toBe(200);
          expect((await call('PUT', '/findme/sms', key, {
            method: 'POST', url: `${fakeUrl}/sms/send`, headers: [{ name: 'Authorization', value: `Bearer ${SMS_SECRET}-${i}` }],
            body: { kind: 'keyvalue', pairs: [{ key: 'to', value: '{phone}' }, { key: 'message', value: '{text}' }] },
          })).status).toBe(204);
        }
      },
      sealed: async (app) => {
        const rows: Array<{ v: string }> = await app.get(DataSource).query(
          `SELECT token_sealed AS v FROM viability.upstreams UNION ALL
           SELECT sms_template_sealed FROM viability.settings WHERE sms_template_sealed IS NOT NULL`,
        );
        return rows.map((r) => r.v);
      },
      job: (app) => app.get(ReencryptionService),
      verify: async () => {
        for (const [i, key] of tenants.entries()) {
          // The API shows the last four characters of a secret it could open.
          const upstream = await call<{ token: string }>('GET', '/inventory/upstream', key);
          expect(upstream.body.token).toBe(`••••${`${UPSTREAM_TOKEN}-${i}`.slice(-4)}`);
          const phone = `+55419000000${i}${i}`;
          expect((await call<{ sms: string }>('POST', '/findme', key, { phone })).body.sms).toBe('sent');
          expect(sms.find((s) => s.to === phone)?.auth).toBe(`Bearer ${SMS_SECRET}-${i}`);
        }
      },
    });
  });
});
