import { BaseServiceConfig, ConfigError, loadConfig } from './config';

const KEY = Buffer.alloc(32, 7).toString('base64');
const good = {
  DATABASE_URL: 'postgres://elo:db-password-123@127.0.0.1:5432/elo',
  AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
  PORT: '3000',
  ELO_ADMIN_KEY: 'admin-key-for-tests-0123456789-abcdefghij',
  ELO_ENCRYPTION_KEYS: `k1:${KEY}`,
  ELO_ENCRYPTION_ACTIVE_KEY: 'k1',
};

const failure = (env: Record<string, string>): ConfigError => {
  try {
    loadConfig(BaseServiceConfig, env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('loadConfig accepted the configuration');
};

describe('loadConfig (BaseServiceConfig)', () => {
  it('takes a good environment, converting numbers and keeping the defaults of optional settings', () => {
    const c = loadConfig(BaseServiceConfig, good);
    expect(c.PORT).toBe(3000);
    expect(c.BODY_LIMIT_BYTES).toBe(3 * 1024 * 1024);
    expect(c.BUS_PREFETCH).toBeUndefined();
  });

  it('refuses an empty environment, naming every required key: no secret has a silent default', () => {
    const message = failure({}).message;
    for (const key of ['DATABASE_URL', 'AMQP_URL', 'PORT', 'ELO_ADMIN_KEY', 'ELO_ENCRYPTION_KEYS', 'ELO_ENCRYPTION_ACTIVE_KEY']) {
      expect(message).toMatch(new RegExp(`- ${key}:`));
    }
  });

  it('names every bad key at once, and never echoes a value (some are secrets)', () => {
    const shortAdmin = 'too-short-secret-admin';
    const badKeys = 'k1:c2VjcmV0LWtleS1tYXRlcmlhbA==';
    const message = failure({
      ...good,
      DATABASE_URL: 'mysql://root:hunter2-db@db/elo',
      ELO_ADMIN_KEY: shortAdmin,
      ELO_ENCRYPTION_KEYS: badKeys,
      BUS_PREFETCH: '0',
      LOG_LEVEL: 'chatty',
    }).message;
    const named = [...message.matchAll(/- ([A-Z_]+):/g)].map((m) => m[1]).sort();
    expect(named).toEqual(['BUS_PREFETCH', 'DATABASE_URL', 'ELO_ADMIN_KEY', 'ELO_ENCRYPTION_KEYS', 'LOG_LEVEL']);
    for (const secret of ['hunter2-db', shortAdmin, badKeys, 'c2VjcmV0']) expect(message).not.toContain(secret);
  });

  it('refuses an active encryption key that names none of the configured keys', () => {
    expect(failure({ ...good, ELO_ENCRYPTION_ACTIVE_KEY: 'k2' }).message).toMatch(/ELO_ENCRYPTION_ACTIVE_KEY: names no key/);
  });
});
