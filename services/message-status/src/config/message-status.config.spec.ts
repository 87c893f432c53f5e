import { loadConfig } from '@elo/platform';
import { MessageStatusConfig } from './message-status.config';

const base = {
  DATABASE_URL: 'postgres://x@127.0.0.1/elo',
  AMQP_URL: 'amqp://127.0.0.1',
  PORT: '3005',
  ELO_ADMIN_KEY: 'a'.repeat(40),
  ELO_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
  ELO_ENCRYPTION_ACTIVE_KEY: 'k1',
};

describe('MessageStatusConfig', () => {
  it('keeps waiting statuses 7 days and cleans up every 10 minutes by default', () => {
    const c = loadConfig(MessageStatusConfig, base);
    expect(c.PENDING_STATUS_MAX_AGE_MINUTES).toBe(10_080);
    expect(c.PENDING_STATUS_CLEANUP_INTERVAL_MS).toBe(600_000);
  });

  it('reads the cleanup age and interval from the environment', () => {
    const c = loadConfig(MessageStatusConfig, { ...base, PENDING_STATUS_MAX_AGE_MINUTES: '60', PENDING_STATUS_CLEANUP_INTERVAL_MS: '5000' });
    expect([c.PENDING_STATUS_MAX_AGE_MINUTES, c.PENDING_STATUS_CLEANUP_INTERVAL_MS]).toEqual([60, 5_000]);
  });

  it('refuses an age under a minute or an interval under a second, naming the keys', () => {
    expect(() => loadConfig(MessageStatusConfig, { ...base, PENDING_STATUS_MAX_AGE_MINUTES: '0', PENDING_STATUS_CLEANUP_INTERVAL_MS: '10' }))
      .toThrow(/PENDING_STATUS_MAX_AGE_MINUTES[\s\S]*PENDING_STATUS_CLEANUP_INTERVAL_MS/);
  });
});
