import { authRefused } from './token-check.service';

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
