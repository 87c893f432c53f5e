import type { INestApplication } from '@nestjs/common';
import { ReencryptionService } from '@elo/auth';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { ProfilesService } from '../src/profiles/profiles.service';
import { ADMIN_KEY, bootApp, testConfig } from './support/harness';

/*
 * Key rotation in telephony-bridge: PBX callback tokens and keys (chave) written under key A are
 * re-sealed under B by the background job at boot, and the service still opens them once A is gone.
 */

const KEY_A = `ka:${Buffer.alloc(32, 41).toString('base64')}`;
const KEY_B = `kb:${Buffer.alloc(32, 42).toString('base64')}`;

describe('telephony-bridge: encryption key rotation', () => {
  let infra: TestInfra;
  let app: INestApplication | undefined;
  let url: string;

  const boot = async (keys: string, active: string) => {
    ({ app, url } = await bootApp(testConfig(infra, { ELO_ENCRYPTION_KEYS: keys, ELO_ENCRYPTION_ACTIVE_KEY: active })));
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
    const rows: Array<{ callback_token: string | null; chave: string | null }> = await app!.get(DataSource).query(
      'SELECT callback_token, chave FROM telephony.pbx_profiles',
    );
    return rows.flatMap((r) => [r.callback_token, r.chave]).filter((v): v is string => v !== null);
  };

  beforeAll(async () => {
    delete process.env.EGRESS_ALLOW_PRIVATE;
    infra = await createTestInfra('telephony-reencrypt');
  });

  afterAll(async () => {
    await app?.close();
    await infra?.cleanup();
  });

  it('re-seals PBX callback tokens and keys under the new key after boot; the service opens them without the old key', async () => {
    await boot(KEY_A, 'ka');
    const t = (await call<{ id: string }>('POST', '/tenants', ADMIN_KEY, { name: 'isp' })).body;
    const { key } = (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN_KEY, { name: 'k', permissions: ['telephony:manage'] })).body;
    const secrets = [
      { callbackToken: 'cb-token-0123456789abcdef', chave: 'ari-user:ari-password-123' },
      { callbackToken: 'cb-"quoted"&<xml>\r\n-2' },
      { chave: 'only-a-chave-3' },
      {},
    ];
    const ids: string[] = [];
    for (const [i, s] of secrets.entries()) {
      const created = await call<{ id: string }>('POST', '/pbx-profiles', key, {
        name: `pbx ${i}`, preset: 'asterisk-ari', baseUrl: 'http://10.0.0.5:8088', pbxHost: '10.0.0.5', allowedCidrs: ['10.0.0.0/24'], ...s,
      });
      expect(created.status).toBe(201);
      ids.push(created.body.id);
    }
    expect(await sealed()).toHaveLength(4);
    expect((await sealed()).every((v) => v.startsWith('v1.ka.'))).toBe(true);
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
    expect(again.columns.map((c) => [c.table, c.column, c.rewritten, c.failed, c.remaining])).toEqual([
      ['telephony.pbx_profiles', 'callback_token', 0, 0, 0],
      ['telephony.pbx_profiles', 'chave', 0, 0, 0],
    ]);
    await app!.close();

    // A is gone: the service still opens every value, and they are the ones written under A.
    await boot(KEY_B, 'kb');
    const profiles = app!.get(ProfilesService);
    for (const [i, id] of ids.entries()) {
      const p = await profiles.find(t.id, id);
      expect(profiles.callbackToken(p)).toBe(secrets[i]!.callbackToken ?? null);
      expect(profiles.chave(p)).toBe(secrets[i]!.chave ?? null);
    }
  });
});
