import { hashKey, newApiKey, parseApiKey, sameHash } from './api-keys';
import { maskSecrets } from './audit.service';
import { SecretBox } from './secret-box';

describe('API keys', () => {
  it('have the format elo_<prefix8>_<secret32 base62> and hash to their stored hash', () => {
    const { key, prefix, hash } = newApiKey();
    expect(key).toMatch(/^elo_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}$/);
    expect(key.startsWith(`elo_${prefix}_`)).toBe(true);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).toBe(hashKey(key));
    expect(parseApiKey(key)).toEqual({ prefix, secret: key.slice(13) });
  });

  it('are unique and use the whole base62 alphabet', () => {
    const keys = Array.from({ length: 500 }, () => newApiKey().key);
    expect(new Set(keys).size).toBe(500);
    const chars = new Set(keys.join('').replace(/elo_|_/g, ''));
    expect(chars.size).toBe(62);
  });

  it.each(['', 'elo_short_x', `elo_ABCDEFGH_${'a'.repeat(31)}`, `elo_ABCDEFG!_${'a'.repeat(32)}`, `xyz_ABCDEFGH_${'a'.repeat(32)}`, `elo_ABCDEFGH_${'a'.repeat(32)} `])(
    'rejects malformed %p',
    (k) => expect(parseApiKey(k)).toBeUndefined(),
  );

  it('compares in constant time without throwing on length differences', () => {
    const h = hashKey('a');
    expect(sameHash(h, hashKey('a'))).toBe(true);
    expect(sameHash(h, hashKey('b'))).toBe(false);
    expect(sameHash(h, 'abcd')).toBe(false);
    expect(sameHash('', '')).toBe(false);
  });
});

describe('maskSecrets (audit changes)', () => {
  it('masks secret fields at any depth, sealed values and secrets in strings; keeps the rest', () => {
    const box = new SecretBox({ k: Buffer.alloc(32, 1) }, 'k');
    const out = maskSecrets({
      name: 'WhatsApp main',
      credentials: { accessToken: 'EAAG1', appSecret: 'as' },
      settings: { verifyToken: 'vt', webhook: { signingSecret: 'ss', url: 'https://x/y?api_key=abc' } },
      Password: 'p',
      sealed: box.encrypt('inner'),
      note: `rotated elo_ABCDEFGH_${'z'.repeat(32)}`,
      replacementId: '7b1c',
      keyId: 'k-1',
      list: [{ token: 't' }],
      nothing: null,
    });
    expect(out).toEqual({
      name: 'WhatsApp main',
      credentials: '[redacted]',
      settings: { verifyToken: '[redacted]', webhook: { signingSecret: '[redacted]', url: 'https://x/y?api_key=[redacted]' } },
      Password: '[redacted]',
      sealed: '[redacted]',
      note: 'rotated elo_ABCDEFGH_[redacted]',
      replacementId: '7b1c',
      keyId: 'k-1',
      list: [{ token: '[redacted]' }],
      nothing: null,
    });
  });
});
