import { authRefused, tokenCheckDue } from './token-check.service';

const DAY = 24 * 3600 * 1000;
const NOW = Date.parse('2026-12-04T12:00:00Z');
const HOUR = 3600 * 1000;
const ago = (ms: number) => new Date(NOW - ms);
const SCHEDULE = { intervalMs: DAY, tickMs: HOUR };

describe('token check: which channels are due', () => {
  it('a channel never checked is due', () => {
    expect(tokenCheckDue({ provider: 'whatsapp', tokenStatus: undefined, tokenCheckedAt: undefined }, NOW, SCHEDULE)).toBe(true);
  });

  it('a conclusive check is recent for 90% of the interval, then due', () => {
    for (const tokenStatus of ['valid', 'expiring', 'invalid']) {
      expect(tokenCheckDue({ provider: 'messenger', tokenStatus, tokenCheckedAt: ago(3600_000) }, NOW, SCHEDULE)).toBe(false);
      expect(tokenCheckDue({ provider: 'messenger', tokenStatus, tokenCheckedAt: ago(0.89 * DAY) }, NOW, SCHEDULE)).toBe(false);
      expect(tokenCheckDue({ provider: 'messenger', tokenStatus, tokenCheckedAt: ago(0.9 * DAY) }, NOW, SCHEDULE)).toBe(true);
      expect(tokenCheckDue({ provider: 'messenger', tokenStatus, tokenCheckedAt: ago(3 * DAY) }, NOW, SCHEDULE)).toBe(true);
    }
  });

  it('an inconclusive check (provider down, rate limited) is due again at the next tick, not before; a generic channel\'s is final', () => {
    expect(tokenCheckDue({ provider: 'telegram', tokenStatus: 'unchecked', tokenCheckedAt: ago(1000) }, NOW, SCHEDULE)).toBe(false);
    expect(tokenCheckDue({ provider: 'telegram', tokenStatus: 'unchecked', tokenCheckedAt: ago(0.89 * HOUR) }, NOW, SCHEDULE)).toBe(false);
    expect(tokenCheckDue({ provider: 'telegram', tokenStatus: 'unchecked', tokenCheckedAt: ago(HOUR) }, NOW, SCHEDULE)).toBe(true);
    expect(tokenCheckDue({ provider: 'generic', tokenStatus: 'unchecked', tokenCheckedAt: ago(HOUR) }, NOW, SCHEDULE)).toBe(false);
    expect(tokenCheckDue({ provider: 'generic', tokenStatus: 'unchecked', tokenCheckedAt: ago(DAY) }, NOW, SCHEDULE)).toBe(true);
  });
});

describe('token check: which provider answers condemn the token', () => {
  it('401 and 403 do, on every provider', () => {
    for (const p of ['whatsapp', 'messenger', 'instagram', 'telegram'] as const) {
      expect(authRefused(p, 401, {})).toBe(true);
      expect(authRefused(p, 403, {})).toBe(true);
    }
  });

  it('Meta\'s invalid-token error (OAuthException 190, answered as 400) does; other 4xx do not', () => {
    expect(authRefused('whatsapp', 400, { error: { type: 'OAuthException', code: 190, message: 'Error validating access token' } })).toBe(true);
    expect(authRefused('instagram', 400, { error: { code: 100, message: 'Invalid parameter' } })).toBe(false);
    expect(authRefused('messenger', 400, {})).toBe(false);
  });

  it('outages and rate limits do not, whatever the body says', () => {
    for (const status of [429, 500, 502, 503, 504]) {
      expect(authRefused('whatsapp', status, { error: { code: 190 } })).toBe(false);
      expect(authRefused('telegram', status, { ok: false, error_code: status })).toBe(false);
    }
  });

  it('Telegram: 404 (the token names no bot) does', () => {
    expect(authRefused('telegram', 404, { ok: false, error_code: 404, description: 'Not Found' })).toBe(true);
  });
});
