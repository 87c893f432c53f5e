/**
 * Secret masking for logs and audit trails. Pino's own `redact` option matches exact, case-sensitive
 * paths of fixed depth; secrets arrive in every spelling (`Authorization`, `access_token`, `apiKey`)
 * at any depth (headers inside an error inside a request), so values are walked instead.
 */

export const REDACTED = '[redacted]';

/** Field names whose values are secrets, wherever and however they are spelled (case, `-`, `_`). */
export const SECRET_KEYS = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-hub-signature-256',
  'x-hub-signature',
  'x-telegram-bot-api-secret-token',
  'webhook-signature',
  'x-api-key',
  'password',
  'passwd',
  'secret',
  'token',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'idToken',
  'appSecret',
  'apiKey',
  'api_key',
  'clientSecret',
  'chave',
  'privateKey',
  'signingSecret',
  'verifyToken',
  'credentials',
] as const;

const normalise = (k: string) => k.toLowerCase().replace(/[-_\s]/g, '');
const EXACT = new Set<string>(SECRET_KEYS.map(normalise));
/** Compound names (`pageAccessToken`, `webhookSecret`, `dbPassword`, `stripeApiKey`) count too. */
const SUFFIXES = ['token', 'secret', 'password', 'apikey', 'privatekey', 'signature'];

/** True when a field of this name holds a secret. */
export function isSecretKey(name: string): boolean {
  const n = normalise(name);
  return EXACT.has(n) || SUFFIXES.some((s) => n.endsWith(s));
}

// A parameter name ending in one of these (`api_key`, `hub.verify_token`, `X-Amz-Signature`).
const SECRETISH_PARAM = '[\\w.-]*?(?:token|key|secret|password|passwd|pwd|sig|signature|chave|auth|credentials?)';
const STRING_SECRETS: Array<[RegExp, string]> = [
  // Authorization header values.
  [/\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{4,}/gi, `$1 ${REDACTED}`],
  // Elo API keys (elo_<prefix>_<secret>): keep the prefix, it identifies the key without granting anything.
  [/\b(elo_[A-Za-z0-9]{4,})_[A-Za-z0-9]{8,}\b/g, `$1_${REDACTED}`],
  // Provider-style secret keys: sk_live_…, sk_test_…, sk-proj-…, rk_…
  [/\b(sk|rk)[-_][A-Za-z0-9_-]{8,}/g, `$1_${REDACTED}`],
  // Credentials inside URLs: scheme://user:password@host. The scheme is bounded: unbounded, every word boundary of
  // `a.a.a.…` began one that ran to the end of the text (quadratic: 200 KB took seconds).
  [/(\b[a-z][a-z0-9+.-]{0,63}:\/\/[^\s:/@]+:)[^\s@/]+@/gi, `$1${REDACTED}@`],
  // key=value secrets in query strings and form bodies.
  [new RegExp(`([?&;](?:${SECRETISH_PARAM})=)[^&\\s#"']+`, 'gi'), `$1${REDACTED}`],
  // "password":"…" inside JSON that ended up in a message.
  [new RegExp(`("(?:${SECRETISH_PARAM})"\\s*:\\s*)"(?:[^"\\\\]|\\\\.)*"`, 'gi'), `$1"${REDACTED}"`],
];

/** Masks secrets that travel inside strings (error messages, URLs, response bodies). */
export function redactString(s: string): string {
  let out = s;
  for (const [re, replacement] of STRING_SECRETS) out = out.replace(re, replacement);
  return out;
}

const MAX_DEPTH = 10;

function isPlain(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * A copy of `value` with every secret field replaced by `[redacted]` and secrets inside strings masked.
 * Errors stay errors (same prototype) so log serializers still recognise them. Never mutates its input.
 */
export function redactValue(value: unknown): unknown {
  return walk(value, 0, new WeakSet());
}

function walk(v: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof v === 'string') return redactString(v);
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof Date || Buffer.isBuffer(v) || ArrayBuffer.isView(v)) return v;
  if (seen.has(v)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[too deep]';
  seen.add(v);
  try {
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1, seen));
    if (v instanceof Map) {
      return Object.fromEntries([...v].map(([k, x]) => [String(k), isSecretKey(String(k)) ? REDACTED : walk(x, depth + 1, seen)]));
    }
    if (v instanceof Error) return walkError(v, depth, seen);
    const toJSON = (v as { toJSON?: unknown }).toJSON;
    if (!isPlain(v) && typeof toJSON === 'function') return walk((toJSON as () => unknown).call(v), depth + 1, seen);
    return walkFields(v as Record<string, unknown>, {}, depth, seen);
  } finally {
    seen.delete(v);
  }
}

function walkFields(src: Record<string, unknown>, out: Record<string, unknown>, depth: number, seen: WeakSet<object>) {
  for (const k of Object.keys(src)) {
    const x = src[k];
    out[k] = isSecretKey(k) && x !== null && x !== undefined ? REDACTED : walk(x, depth + 1, seen);
  }
  return out;
}

function walkError(e: Error, depth: number, seen: WeakSet<object>): Error {
  const copy = Object.create(Object.getPrototypeOf(e) as object) as Error & Record<string, unknown>;
  Object.defineProperty(copy, 'message', { value: redactString(e.message), enumerable: false, writable: true });
  if (e.stack) Object.defineProperty(copy, 'stack', { value: redactString(e.stack), enumerable: false, writable: true });
  if (e.name !== Object.getPrototypeOf(e)?.name) copy.name = e.name;
  if ('cause' in e && e.cause !== undefined) {
    Object.defineProperty(copy, 'cause', { value: walk(e.cause, depth + 1, seen), enumerable: false, writable: true });
  }
  walkFields(e as unknown as Record<string, unknown>, copy, depth, seen);
  return copy;
}
