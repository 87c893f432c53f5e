import { createHmac, timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** Constant-time comparison of two strings (different lengths compare unequal without leaking where). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  if (x.length !== y.length) {
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}

/** Meta's `X-Hub-Signature-256: sha256=<hex>`: HMAC-SHA256 of the raw body bytes with the app secret. */
export function verifyMetaSignature(raw: Buffer, header: string | undefined, appSecret: string | undefined): boolean {
  if (!header || !appSecret || !header.startsWith('sha256=')) return false;
  // Exactly 64 hex digits: Buffer.from(…, 'hex') stops at the first odd or non-hex character, so a
  // valid signature with anything appended would otherwise decode to the valid bytes.
  const hex = header.slice(7).trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return false;
  const given = Buffer.from(hex, 'hex');
  const expected = createHmac('sha256', appSecret).update(raw).digest();
  if (given.length !== expected.length) return false;
  return timingSafeEqual(given, expected);
}

export function metaSignature(raw: Buffer | string, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(raw).digest('hex')}`;
}

/**
 * Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`): HMAC over
 * `id.timestamp.body`; the library refuses timestamps more than five minutes away.
 */
export function verifyStandardWebhook(raw: Buffer, headers: Record<string, string | string[] | undefined>, secret: string | undefined): boolean {
  if (!secret) return false;
  const h = (k: string) => {
    const v = headers[k];
    return Array.isArray(v) ? v[0] : v;
  };
  const id = h('webhook-id'), ts = h('webhook-timestamp'), sig = h('webhook-signature');
  if (!id || !ts || !sig) return false;
  try {
    new Webhook(secret).verify(raw, { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': sig });
    return true;
  } catch {
    return false;
  }
}
