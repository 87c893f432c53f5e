import { createHmac } from 'node:crypto';
import { secretMasker } from '@elo/auth';
import type { CloudEvent } from '@elo/contracts';
import { renderRequest, renderTemplate, type RenderedRequest, type RequestTemplate } from '@elo/templating';
import type { HttpRequestDto } from '../integrations/dto/integration.dto';
import { entityOf } from '../integrations/integration.model';

/** What a template sees: the event's data at the top (and under its entity's name), `event`, `attributes` (contact's), `secret`. */
export function templateContext(event: Pick<CloudEvent, 'id' | 'type' | 'time' | 'subject' | 'tenantid' | 'data'>, secrets: Record<string, string>): Record<string, unknown> {
  const raw = (event.data ?? {}) as Record<string, unknown>;
  // integration.requested carries its values under `context`; they stand at the top like an event's fields.
  const data = event.type === 'integration.requested' && isObject(raw['context']) ? { ...raw, ...raw['context'] } : raw;
  const contact = isObject(data['contact']) ? data['contact'] : undefined;
  const attributes = contact && isObject(contact['attributes']) ? contact['attributes'] : isObject(data['attributes']) ? data['attributes'] : {};
  return {
    [entityOf(event.type)]: data,
    ...data,
    attributes,
    event: { id: event.id, type: event.type, time: event.time, subject: event.subject, tenantId: event.tenantid },
    secret: secrets,
  };
}

/** The integration's request template with its auth helper turned into a header. */
export function toRequestTemplate(r: HttpRequestDto): RequestTemplate {
  const headers = typeof r.headers === 'string' ? parseLines(r.headers) : [...(r.headers ?? [])];
  if (r.auth?.type === 'bearer') headers.push({ name: 'Authorization', value: `Bearer ${r.auth.token ?? ''}` });
  if (r.auth?.type === 'apiKey') headers.push({ name: apiKeyHeader(r)!, value: r.auth.value ?? '' });
  const body: RequestTemplate['body'] = !r.body
    ? undefined
    : r.body.kind === 'raw'
      ? { kind: 'raw', contentType: r.body.contentType ?? 'application/json', template: r.body.template ?? '' }
      : { kind: r.body.kind, pairs: r.body.pairs ?? [] };
  return { method: r.method, url: r.url, headers, query: r.query, body };
}

export function renderHttp(r: HttpRequestDto, ctx: Record<string, unknown>): RenderedRequest {
  const rendered = renderRequest(toRequestTemplate(r), ctx);
  if (r.auth?.type === 'basic') {
    const user = renderTemplate(r.auth.username ?? '', ctx);
    const pass = renderTemplate(r.auth.password ?? '', ctx);
    rendered.headers['Authorization'] = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  }
  return rendered;
}

/** Standard Webhooks headers: `v1,` base64 HMAC-SHA256 over `id.timestamp.body` with the whsec_ key. */
export function signatureHeaders(secrets: string[], id: string, body: string, now = new Date()): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000).toString();
  const signed = `${id}.${timestamp}.${body}`;
  const signature = secrets.map((s) => `v1,${createHmac('sha256', signingKey(s)).update(signed).digest('base64')}`).join(' ');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature };
}

/**
 * `theirs` (the integration's headers) with `ours` (signature, SOAP content type and action) over them. Header names
 * are case-insensitive: one of theirs named like one of ours in another case (`Webhook-Signature`, `content-type`)
 * is dropped, where it was sent joined with ours into one value (a broken signature, a malformed Content-Type).
 */
export function withHeaders(theirs: Record<string, string>, ours: Record<string, string>): Record<string, string> {
  const names = new Set(Object.keys(ours).map((n) => n.toLowerCase()));
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(theirs)) if (!names.has(name.toLowerCase())) out[name] = value;
  return Object.assign(out, ours);
}

/** Decoded whsec_ keys (decoded once, not per delivery), bounded. */
const signingKeys = new Map<string, Buffer>();

function signingKey(secret: string): Buffer {
  let key = signingKeys.get(secret);
  if (!key) {
    key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
    if (signingKeys.size >= 1_000) signingKeys.clear();
    signingKeys.set(secret, key);
  }
  return key;
}

/**
 * Replaces every secret value (in each of its encoded forms, trimmed too: a header sends `" abc123 "` as `abc123`) with
 * a mask; authorization-like headers are always masked.
 */
export function masker(secrets: Readonly<Record<string, string>>): (text: string) => string {
  let mask = maskers.get(secrets);
  if (!mask) {
    mask = secretMasker(Object.values(secrets));
    maskers.set(secrets, mask);
  }
  return mask;
}

/**
 * `mask`, and the credentials of the request's Authorization headers (and of the API-key helper's header,
 * `credentialHeader`) as sent: a Basic one is the base64 of `user:password`, none of the secrets' own forms, a
 * literal API key is no secret of the integration, and an endpoint echoing its request hands them back.
 */
export function withCredentials(mask: (text: string) => string, headers: Readonly<Record<string, string>>, credentialHeader?: string): (text: string) => string {
  const credential = credentialHeader?.toLowerCase();
  const credentials = Object.entries(headers)
    .filter(([name]) => /^(proxy-)?authorization$/i.test(name) || name.toLowerCase() === credential)
    .map(([, value]) => value.replace(/^[\w-]+\s+/, ''))
    .filter((c) => c.length >= 8);
  return credentials.length ? (text) => credentials.reduce((t, c) => (t.includes(c) ? t.split(c).join('••••') : t), mask(text)) : mask;
}

/** The header the API-key auth helper sends its key in, if the request uses it. */
export function apiKeyHeader(r: Pick<HttpRequestDto, 'auth'>): string | undefined {
  return r.auth?.type === 'apiKey' ? (r.auth.header ?? 'X-API-Key') : undefined;
}

/** One masker per secrets object (IntegrationsService hands out the same object for the same secrets). */
const maskers = new WeakMap<object, (text: string) => string>();

/** `mask` applied to every string (keys too) of a parsed response: an endpoint that echoes the request must not leak its secrets. */
export function maskDeep(value: unknown, mask: (t: string) => string): unknown {
  if (typeof value === 'string') return mask(value);
  if (Array.isArray(value)) return value.map((v) => maskDeep(v, mask));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [mask(k), maskDeep(v, mask)]));
  }
  return value;
}

/**
 * `mask` applied to each header value; credentials shown as `••••` whole: Authorization-like headers (their scheme kept)
 * and the API-key helper's header (`credentialHeader`), whose literal key `mask` misses when it is short.
 */
export function maskHeaders(headers: Record<string, string>, mask: (t: string) => string, credentialHeader?: string): Record<string, string> {
  const out: Record<string, string> = {};
  const credential = credentialHeader?.toLowerCase();
  for (const [k, v] of Object.entries(headers)) {
    const lower = k.toLowerCase();
    if (lower === credential) out[k] = '••••';
    else if (lower === 'authorization' || lower === 'proxy-authorization' || lower === 'cookie') {
      const scheme = /^(\w+)\s/.exec(v)?.[1];
      out[k] = scheme ? `${scheme} ••••` : '••••';
    } else out[k] = mask(v);
  }
  return out;
}

export function truncate(text: string, max = 4096): string {
  if (text.length <= max) return text;
  // Not between the two halves of a surrogate pair (an emoji): a lone surrogate is no text PostgreSQL's jsonb keeps,
  // and the attempt's write failed (a success's whole group with it), so the delivery was sent again after its lease.
  const end = /[\uD800-\uDBFF]/.test(text[max - 1]!) ? max - 1 : max;
  return `${text.slice(0, end)}…[truncated ${text.length - end} chars]`;
}

/** JSON when it parses, else text. */
export function parseBody(body: Buffer, contentType: string | undefined): unknown {
  const text = body.toString('utf8');
  if (!text) return null;
  if (contentType?.includes('json') || /^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

function parseLines(text: string): Array<{ name: string; value: string }> {
  return text
    .split(/\r?\n/)
    .filter((l) => l.trim())
    .map((l) => {
      const i = l.indexOf(':');
      return { name: i > 0 ? l.slice(0, i).trim() : l.trim(), value: i > 0 ? l.slice(i + 1).trim() : '' };
    });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
