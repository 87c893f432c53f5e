import { createHash, randomInt, timingSafeEqual } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const KEY_FORMAT = /^elo_([A-Za-z0-9]{8})_([A-Za-z0-9]{32})$/;

/** Uniform base62 (randomInt rejects biased draws). */
function base62(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

/**
 * `elo_<prefix8>_<secret32>`: the prefix finds the row (and is safe to show and log), the secret is
 * 32 base62 characters (~190 bits). Only `hash` is stored; `key` is shown once.
 */
export function newApiKey(): { key: string; prefix: string; hash: string } {
  const prefix = base62(8);
  const key = `elo_${prefix}_${base62(32)}`;
  return { key, prefix, hash: hashKey(key) };
}

/**
 * SHA-256 hex of the whole key (prefix + secret). Keys are high-entropy random, so a fast hash is
 * enough: there is nothing to brute-force that stretching would protect.
 */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function parseApiKey(key: string): { prefix: string; secret: string } | undefined {
  const m = KEY_FORMAT.exec(key);
  return m ? { prefix: m[1]!, secret: m[2]! } : undefined;
}

/** Constant-time comparison of two hex digests. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
