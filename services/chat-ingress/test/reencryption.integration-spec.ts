import type { INestApplication } from '@nestjs/common';
import { ReencryptionService } from '@elo/auth';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../src/app.module';
import { ChannelsService } from '../src/channels/channels.service';
import { ChatIngressConfig } from '../src/config/chat-ingress.config';

/*
 * Key rotation in chat-ingress: channel credentials and verify tokens written under key A are
 * re-sealed under B by the background job at boot, and the service still opens them once A is gone.
 */

const ADMIN = 'r'.repeat(40);
const KEY_A = `ka:${Buffer.alloc(32, 31).toString('base64')}`;
const KEY_B = `kb:${Buffer.alloc(32, 32).toString('base64')}`;

describe('chat-ingress: encryption key rotation', () => {
  let infra: TestInfra;
  let app: INestApplication | undefined;
  let url: string;

  const boot = async (keys: string, active: string) => {
    const config = loadConfig(ChatIngressConfig, {
      DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN,
      ELO_ENCRYPTION_KEYS: keys, ELO_ENCRYPTION_ACTIVE_KEY: active, LOG_LEVEL: 'silent', PUBLIC_BASE_URL: 'https://elo.example.com',
      // No provider is reachable from this test (the token check must not call out).
      GRAPH_API_BASE_URL: 'http://127.0.0.1:9', TELEGRAM_API_BASE_URL: 'http://127.0.0.1:9', TOKEN_CHECK_INTERVAL_MS: String(24 * 3600 * 1000),
    });
    app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'chat-ingress', config });
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  };

  const call = async <T = Record<string, unknown>>(method: string, path: string, key: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as T };
  };

  const sealed = async (): Promise<string[]> => {
    const rows: Array<{ credentials: string; verify_token: string }> = await app!.get(DataSource).query(
      'SELECT credentials, verify_token FROM chat_ingress.channels',
    );
    return rows.flatMap((r) => [r.credentials, r.verify_token]);
  };

  beforeAll(async () => {
    infra = await createTestInfra('chat-reencrypt');
  });

  afterAll(async () => {
    await app?.close();
    await infra?.cleanup();
  });

  it('re-seals channel credentials and verify tokens under the new key after boot; the service opens them without the old key', async () => {
    await boot(KEY_A, 'ka');
    const t = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: 'isp' })).body;
    const { key } = (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'k', permissions: ['channels:manage'] })).body;
    const bodies: Array<{ provider: string; name: string; phoneNumberId?: string; credentials?: Record<string, string> }> = [
      { provider: 'whatsapp', name: 'wa', phoneNumberId: 'PN-R1', credentials: { accessToken: 'wa-token-"<&>\n-1', appSecret: 'wa-app-secret' } },
      { provider: 'messenger', name: 'ms', credentials: { accessToken: 'page-token', appSecret: 'page-secret' } },
      { provider: 'telegram', name: 'tg', credentials: { accessToken: '42:tg-token' } },
      { provider: 'generic', name: 'gen' },
    ];
    const expected = new Map<string, { credentials: Record<string, string>; verifyToken: string }>();
    for (const b of bodies) {
      const created = await call<{ id: string; secrets: Record<string, string> }>('POST', '/channels', key, b);
      expect(created.status).toBe(201);
      const { verifyToken, ...generated } = created.body.secrets;
      expected.set(created.body.id, { credentials: { ...b.credentials, ...generated }, verifyToken: verifyToken! });
    }
    expect((await sealed()).every((v) => v.startsWith('v1.ka.'))).toBe(true);
    await app!.close();

    // B becomes active, A stays listed: the job starts by itself after boot.
    await boot(`${KEY_A},${KEY_B}`, 'kb');
    await expectEventually(async () => {
      const now = await sealed();
      expect(now).toHaveLength(8);
      expect(now.every((v) => v.startsWith('v1.kb.'))).toBe(true);
    });
    const jobs = app!.get(ReencryptionService);
    await jobs.idle();
    const again = await jobs.run();
    expect(again.columns.map((c) => [c.table, c.column, c.rewritten, c.failed, c.remaining])).toEqual([
      ['chat_ingress.channels', 'credentials', 0, 0, 0],
      ['chat_ingress.channels', 'verify_token', 0, 0, 0],
    ]);
    await app!.close();

    // A is gone: the service still opens every value, and they are the ones written under A.
    await boot(KEY_B, 'kb');
    for (const [id, want] of expected) {
      const channel = await app!.get(ChannelsService).get(t.id, id);
      expect(channel).toMatchObject({ credentials: want.credentials, verifyToken: want.verifyToken });
    }
  });
});
