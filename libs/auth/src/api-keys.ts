import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function base62(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

/** `elo_<prefix8>_<secret32>`: the prefix finds the row, the whole key is checked against its hash. */
export function newApiKey(): { key: string; prefix: string; hash: string } {
  const prefix = base62(8);
  const key = `elo_${prefix}_${base62(32)}`;
  return { key, prefix, hash: hashKey(key) };
}

/** Keys are 190+ bits of randomness: a plain SHA-256 is enough (no password stretching needed). */
export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function parseApiKey(key: string): { prefix: string } | undefined {
  const m = /^elo_([A-Za-z0-9]{8})_[A-Za-z0-9]{32}$/.exec(key);
  return m ? { prefix: m[1]! } : undefined;
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

export function sameSecret(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

export { randomBytes };
