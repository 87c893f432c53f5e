import type { INestApplication } from '@nestjs/common';
import { ReencryptionService } from '@elo/auth';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../src/app.module';
import { WebhookDispatcherConfig } from '../src/config/webhook-dispatcher.config';
import { IntegrationsService } from '../src/integrations/integrations.service';
import { ADMIN_KEY, api } from './app.fixture';

/*
 * Key rotation in webhook-dispatcher: integration secrets, signing secrets and previous signing
 * secrets written under key A are re-sealed under B by the background job at boot, and the service
 * still opens them once A is gone.
 */

const KEY_A = `ka:${Buffer.alloc(32, 51).toString('base64')}`;
const KEY_B = `kb:${Buffer.alloc(32, 52).toString('base64')}`;

describe('webhook-dispatcher: encryption key rotation', () => {
  let infra: TestInfra;
  let app: INestApplication | undefined;
  let url: string;

  const boot = async (keys: string, active: string) => {
    const config = loadConfig(WebhookDispatcherConfig, {
      DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN_KEY,
      ELO_ENCRYPTION_KEYS: keys, ELO_ENCRYPTION_ACTIVE_KEY: active, LOG_LEVEL: 'silent',
    });
    app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'Elo webhook-dispatcher', config });
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  };

  const sealed = async (): Promise<string[]> => {
    const rows: Array<Record<string, string | null>> = await app!.get(DataSource).query(
      'SELECT secrets_sealed, signing_secret_sealed, previous_signing_secret_sealed FROM dispatcher.integrations',
    );
    return rows.flatMap((r) => Object.values(r)).filter((v): v is string => v !== null);
  };

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher-reencrypt');
  });

  afterAll(async () => {
    await app?.close();
    await infra?.cleanup();
  });

  it('re-seals integration, signing and previous signing secrets under the new key after boot; the service opens them without the old key', async () => {
    await boot(KEY_A, 'ka');
    const tenant = await api(url, ADMIN_KEY)('POST', '/tenants', { name: 'isp' });
    const { key } = (await api(url, ADMIN_KEY)('POST', `/tenants/${String(tenant.body.id)}/keys`, { name: 'k', permissions: ['integrations:manage'] })).body as { key: string };
    const call = api(url, key);
    const expected = new Map<string, { secrets: Record<string, string>; signing: string[] }>();
    const secretSets: Array<Record<string, string>> = [{ apiKey: 'sk_live+AbC/dEf=gh42', password: 'hunter2 & "co"\n' }, {}];
    for (const [i, secrets] of secretSets.entries()) {
      const created = await call('POST', '/integrations', {
        name: `crm ${i}`, kind: 'http', request: { method: 'POST', url: 'https://crm.example.com/hook' },
        trigger: { eventTypes: ['chat.message.received'] }, ...(Object.keys(secrets).length ? { secrets } : {}),
      });
      expect(created.status).toBe(201);
      const id = String(created.body.id);
      const signing = [String(created.body.signingSecret)];
      if (i === 0) {
        const rotated = await call('POST', `/integrations/${id}/rotate-signing-secret`);
        expect(rotated.status).toBeLessThan(300);
        signing.unshift(String(rotated.body.signingSecret));
      }
      expected.set(id, { secrets, signing });
    }
    expect(await sealed()).toHaveLength(4);
    expect((await sealed()).every((v) => v.startsWith('v1.ka.'))).toBe(true);
    const tenantId = String(tenant.body.id);
    await app!.close();

    // B becomes active, A stays listed: the job starts by itself after boot.
    await boot(`${KEY_A},${KEY_B}`, 'kb');
    await expectEventually(async () => {
      const now = await sealed();
      expect(now).toHaveLength(4);
      expect(now.every((v) => v.startsWith('v1.kb.'))).toBe(true);
    });
    const jobs = app!.get(ReencryptionService);
    await jobs.idle();
    const again = await jobs.run();
    expect(again.columns.map((c) => [c.column, c.rewritten, c.failed, c.remaining])).toEqual([
      ['secrets_sealed', 0, 0, 0],
      ['signing_secret_sealed', 0, 0, 0],
      ['previous_signing_secret_sealed', 0, 0, 0],
    ]);
    await app!.close();

    // A is gone: the service still opens every value, and they are the ones written under A.
    await boot(KEY_B, 'kb');
    const integrations = app!.get(IntegrationsService);
    const ds = app!.get(DataSource);
    for (const [id, want] of expected) {
      const row = await integrations.row(ds.manager, tenantId, id);
      expect(integrations.secrets(row)).toEqual(want.secrets);
      expect(integrations.signingSecrets(row)).toEqual(want.signing);
    }
  });
});
