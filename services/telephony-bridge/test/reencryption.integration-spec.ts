import type { INestApplication } from '@nestjs/common';
import { ReencryptionService } from '@elo/auth';
import { callApi, createTestInfra, expectKeyRotation, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { ProfilesService } from '../src/profiles/profiles.service';
import { ADMIN_KEY, bootApp, testConfig } from './support/harness';

/* Key rotation in telephony-bridge: PBX callback tokens and keys (the scenario: @elo/testing expectKeyRotation). */

describe('telephony-bridge: encryption key rotation', () => {
  let infra: TestInfra;
  let url: string;

  beforeAll(async () => {
    delete process.env.EGRESS_ALLOW_PRIVATE;
    infra = await createTestInfra('telephony-reencrypt');
  });

  afterAll(async () => {
    await infra?.cleanup();
  });

  const call = <T = Record<string, unknown>>(method: string, path: string, key: string, body?: unknown) => callApi<T>(url, method, path, key, body);

  it('re-seals PBX callback tokens and keys under the new key after boot; the service opens them without the old key', async () => {
    let tenantId = '';
    const secrets = [
      { callbackToken: 'cb-token-0123456789abcdef', chave: 'ari-user:ari-password-123' },
      { callbackToken: 'cb-"quoted"&<xml>\r\n-2' },
      { chave: 'only-a-chave-3' },
      {},
    ];
    const ids: string[] = [];
    await expectKeyRotation<INestApplication>({
      boot: async (keys, active) => {
        const r = await bootApp(testConfig(infra, { ELO_ENCRYPTION_KEYS: keys, ELO_ENCRYPTION_ACTIVE_KEY: active }));
        url = r.url;
        return r.app;
      },
      seed: async () => {
        tenantId = (await call<{ id: string }>('POST', '/tenants', ADMIN_KEY, { name: 'isp' })).body.id;
        const { key } = (await call<{ key: string }>('POST', `/tenants/${tenantId}/keys`, ADMIN_KEY, { name: 'k', permissions: ['telephony:manage'] })).body;
        for (const [i, s] of secrets.entries()) {
          const created = await call<{ id: string }>('POST', '/pbx-profiles', key, {
            name: `pbx ${i}`, preset: 'asterisk-ari', baseUrl: 'http://10.0.0.5:8088', pbxHost: '10.0.0.5', allowedCidrs: ['10.0.0.0/24'], ...s,
          });
          expect(created.status).toBe(201);
          ids.push(created.body.id);
        }
      },
      sealed: async (app) => {
        const rows: Array<{ callback_token: string | null; chave: string | null }> = await app.get(DataSource).query('SELECT callback_token, chave FROM telephony.pbx_profiles');
        return rows.flatMap((r) => [r.callback_token, r.chave]).filter((v): v is string => v !== null);
      },
      job: (app) => app.get(ReencryptionService),
      verify: async (app) => {
        const profiles = app.get(ProfilesService);
        for (const [i, id] of ids.entries()) {
          const p = await profiles.find(tenantId, id);
          expect([profiles.callbackToken(p), profiles.chave(p)]).toEqual([secrets[i]!.callbackToken ?? null, secrets[i]!.chave ?? null]);
        }
      },
    });
  });
});
