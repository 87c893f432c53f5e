import type { INestApplication } from '@nestjs/common';
import { ReencryptionService } from '@elo/auth';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { createTestInfra, expectKeyRotation, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../src/app.module';
import { WebhookDispatcherConfig } from '../src/config/webhook-dispatcher.config';
import { IntegrationsService } from '../src/integrations/integrations.service';
import { ADMIN_KEY, api } from './app.fixture';

/* Key rotation in webhook-dispatcher: integration, signing and previous signing secrets (the scenario: @elo/testing expectKeyRotation). */

describe('webhook-dispatcher: encryption key rotation', () => {
  let infra: TestInfra;
  let url: string;

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher-reencrypt');
  });

  afterAll(async () => {
    await infra?.cleanup();
  });

  it('re-seals integration, signing and previous signing secrets under the new key after boot; the service opens them without the old key', async () => {
    let tenantId = '';
    const expected = new Map<string, { secrets: Record<string, string>; signing: string[] }>();
    await expectKeyRotation<INestApplication>({
      boot: async (keys, active) => {
        const config = loadConfig(WebhookDispatcherConfig, {
          DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN_KEY,
          ELO_ENCRYPTION_KEYS: keys, ELO_ENCRYPTION_ACTIVE_KEY: active, LOG_LEVEL: 'silent',
        });
        const app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'Elo webhook-dispatcher', config });
        await app.listen(0, '127.0.0.1');
        url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
        return app;
      },
      seed: async () => {
        tenantId = String((await api(url, ADMIN_KEY)('POST', '/tenants', { name: 'isp' })).body.id);
        const { key } = (await api(url, ADMIN_KEY)('POST', `/tenants/${tenantId}/keys`, { name: 'k', permissions: ['integrations:manage'] })).body as { key: string };
        const call = api(url, key);
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
            // A rotated signing secret keeps the previous one (sealed too) for its grace period.
            const rotated = await call('POST', `/integrations/${id}/rotate-signing-secret`);
            expect(rotated.status).toBeLessThan(300);
            signing.unshift(String(rotated.body.signingSecret));
          }
          expected.set(id, { secrets, signing });
        }
      },
      sealed: async (app) => {
        const rows: Array<Record<string, string | null>> = await app.get(DataSource).query(
          'SELECT secrets_sealed, signing_secret_sealed, previous_signing_secret_sealed FROM dispatcher.integrations',
        );
        return rows.flatMap((r) => Object.values(r)).filter((v): v is string => v !== null);
      },
      job: (app) => app.get(ReencryptionService),
      verify: async (app) => {
        const integrations = app.get(IntegrationsService);
        for (const [id, want] of expected) {
          const row = await integrations.row(app.get(DataSource).manager, tenantId, id);
          expect([integrations.secrets(row), integrations.signingSecrets(row)]).toEqual([want.secrets, want.signing]);
        }
      },
    });
  });
});
