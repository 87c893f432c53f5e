import type { INestApplication } from '@nestjs/common';
import { ReencryptionService } from '@elo/auth';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { callApi, createTestInfra, expectKeyRotation, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../src/app.module';
import { ChannelsService } from '../src/channels/channels.service';
import { ChatIngressConfig } from '../src/config/chat-ingress.config';

/* Key rotation in chat-ingress: channel credentials and verify tokens (the scenario: @elo/testing expectKeyRotation). */

const ADMIN = 'r'.repeat(40);

describe('chat-ingress: encryption key rotation', () => {
  let infra: TestInfra;
  let url: string;

  beforeAll(async () => {
    infra = await createTestInfra('chat-reencrypt');
  });

  afterAll(async () => {
    await infra?.cleanup();
  });

  const call = <T = Record<string, unknown>>(method: string, path: string, key: string, body?: unknown) => callApi<T>(url, method, path, key, body);

  it('re-seals channel credentials and verify tokens under the new key after boot; the service opens them without the old key', async () => {
    let tenantId = '';
    const expected = new Map<string, { credentials: Record<string, string>; verifyToken: string }>();
    await expectKeyRotation<INestApplication>({
      boot: async (keys, active) => {
        const config = loadConfig(ChatIngressConfig, {
          DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN,
          ELO_ENCRYPTION_KEYS: keys, ELO_ENCRYPTION_ACTIVE_KEY: active, LOG_LEVEL: 'silent', PUBLIC_BASE_URL: 'https://elo.example.com',
          // No provider is reachable from this test (the token check must not call out).
          GRAPH_API_BASE_URL: 'http://127.0.0.1:9', TELEGRAM_API_BASE_URL: 'http://127.0.0.1:9', TOKEN_CHECK_INTERVAL_MS: String(24 * 3600 * 1000),
        });
        const app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'chat-ingress', config });
        await app.listen(0, '127.0.0.1');
        url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
        return app;
      },
      seed: async () => {
        tenantId = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: 'isp' })).body.id;
        const { key } = (await call<{ key: string }>('POST', `/tenants/${tenantId}/keys`, ADMIN, { name: 'k', permissions: ['channels:manage'] })).body;
        const bodies: Array<{ provider: string; name: string; phoneNumberId?: string; credentials?: Record<string, string> }> = [
          { provider: 'whatsapp', name: 'wa', phoneNumberId: 'PN-R1', credentials: { accessToken: 'wa-token-"<&>\n-1', appSecret: 'wa-app-secret' } },
          { provider: 'messenger', name: 'ms', credentials: { accessToken: 'page-token', appSecret: 'page-secret' } },
          { provider: 'telegram', name: 'tg', credentials: { accessToken: '42:tg-token' } },
          { provider: 'generic', name: 'gen' },
        ];
        for (const b of bodies) {
          const created = await call<{ id: string; secrets: Record<string, string> }>('POST', '/channels', key, b);
          expect(created.status).toBe(201);
          const { verifyToken, ...generated } = created.body.secrets;
          expected.set(created.body.id, { credentials: { ...b.credentials, ...generated }, verifyToken: verifyToken! });
        }
      },
      sealed: async (app) => {
        const rows: Array<{ credentials: string; verify_token: string }> = await app.get(DataSource).query('SELECT credentials, verify_token FROM chat_ingress.channels');
        return rows.flatMap((r) => [r.credentials, r.verify_token]);
      },
      job: (app) => app.get(ReencryptionService),
      verify: async (app) => {
        for (const [id, want] of expected) {
          expect(await app.get(ChannelsService).get(tenantId, id)).toMatchObject({ credentials: want.credentials, verifyToken: want.verifyToken });
        }
      },
    });
  });
});
