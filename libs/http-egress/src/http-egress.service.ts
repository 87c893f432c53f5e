import { randomUUID } from 'node:crypto';
import { promises as dns, type LookupAddress } from 'node:dns';
import { Readable } from 'node:stream';
import type { Socket } from 'node:net';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import {
  AllowList,
  classifyAddress,
  DEFAULT_REQUEST_PRIVATE_RANGES,
  normaliseHost,
  parseIp,
} from './address-policy';
import { EgressError } from './egress-error';

export interface EgressPolicy {
  /**
   * CIDRs or hostnames explicitly allowed although private, e.g. ['10.0.0.5/32', 'pbx.local']. Often
   * tenant-supplied, so it opens only addresses inside the instance's `requestPrivateRanges` (every
   * answer of an allowed hostname is checked); anything else non-public needs the instance's own
   * `allowPrivate`.
   */
  allowPrivate?: string[];
}

export interface EgressRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string | Buffer | Uint8Array;
  /** TCP (+TLS) connect timeout, default 5000 ms. */
  connectTimeoutMs?: number;
  /** Whole exchange (DNS, connect, headers, body; every redirect hop), default 15000 ms. */
  timeoutMs?: number;
  /** Response body cap, default 5 MiB; enforced while reading. */
  maxResponseBytes?: number;
  /**
   * `request()` only: a body over `maxResponseBytes` is cut there (the rest unread, `truncated` set on the
   * response) instead of failing `too_large`, for callers to whom the status matters more than the whole body.
   */
  truncateResponse?: boolean;
  /** Redirect hops to follow, default 0 (a 3xx is returned as the response). Each hop is re-checked. */
  followRedirects?: number;
  policy?: EgressPolicy;
  /** Sent as `x-request-id`; generated when absent. */
  requestId?: string;
}

export interface EgressResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Set when the body went past `maxResponseBytes` and `truncateResponse` cut it: `body` holds its first bytes. */
  truncated?: true;
  durationMs: number;
  /** final URL (after followed redirects), without credentials */
  url: string;
  /** the checked address the connection went to */
  remoteAddress: string;
  requestId: string;
}

export interface EgressStreamResponse {
  status: number;
  headers: Record<string, string>;
  /** node Readable of Buffers; errors with EgressError (`too_large`, `timeout`, …) mid-stream. */
  body: Readable;
  url: string;
  remoteAddress: string;
  requestId: string;
}

export type EgressResolver = (host: string) => Promise<Array<{ address: string; family: 4 | 6 }>>;

export interface HttpEgressOptions {
  /** CIDRs or hostnames reachable although private, for every request of this instance. */
  allowPrivate?: string[];
  /**
   * CIDRs a per-request `policy.allowPrivate` may open; default DEFAULT_REQUEST_PRIVATE_RANGES
   * (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7).
   */
  requestPrivateRanges?: readonly string[];
  /** DNS resolver; defaults to the system resolver (dns.lookup, all addresses). */
  resolver?: EgressResolver;
  /** Extra trusted CA certificates (PEM) for HTTPS, e.g. a company's internal CA. */
  ca?: string | Buffer | Array<string | Buffer>;
}

export const EGRESS_DEFAULTS = {
  connectTimeoutMs: 5_000,
  timeoutMs: 15_000,
  maxResponseBytes: 5 * 1024 * 1024,
} as const;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Field values: visible ASCII, space, tab and obs-text. CR, LF, NUL and other controls are refused.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
// Set by the client itself; a caller-supplied value would desynchronise framing or retarget the request.
const FORBIDDEN_HEADERS = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'proxy-connection',
]);

/**
 * Is `name` (any case) a header this client sets itself and refuses from a caller? For callers that check a
 * configured header when it is saved rather than let every request fail as `invalid_request`.
 */
export function isReservedHeader(name: string): boolean {
  return FORBIDDEN_HEADERS.has(name.toLowerCase());
}

const CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization', 'cookie'];
const TLS_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
]);

interface Target {
  url: URL;
  address: string;
  family: 4 | 6;
}

interface Hop {
  status: number;
  headers: Record<string, string>;
  body: Dispatcher.ResponseData['body'];
  agent: Agent;
  target: Target;
}

interface Exchange {
  requestId: string;
  origin: () => string;
  timedOut: () => boolean;
  signal: AbortSignal;
  timeoutMs: number;
  connectTimeoutMs: number;
  done: () => void;
}

/** Connection pools kept at once (one per origin and checked address). */
const MAX_POOLS = 256;

const systemResolver: EgressResolver = async (host) => {
  const answers: LookupAddress[] = await dns.lookup(host, { all: true, verbatim: true });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/**
 * The only way Elo calls a URL a user configured. Refuses non-public destinations (SSRF), pins the
 * connection to the address it checked (no DNS rebinding between check and connect), caps time and
 * response size, and never puts request headers or bodies into errors.
 */
export class HttpEgress {
  private readonly allow: AllowList;
  private readonly requestRanges: AllowList;
  private readonly requestRangesText: string;
  private readonly resolver: EgressResolver;
  private readonly ca?: HttpEgressOptions['ca'];
  private readonly pools = new Map<string, Agent>();

  constructor(opts: HttpEgressOptions = {}) {
    this.allow = new AllowList(opts.allowPrivate ?? []);
    const ranges = (opts.requestPrivateRanges ?? DEFAULT_REQUEST_PRIVATE_RANGES).map((r) => r.trim()).filter(Boolean);
    this.requestRanges = AllowList.ofNetworks(ranges, 'requestPrivateRanges');
    this.requestRangesText = ranges.join(', ');
    this.resolver = opts.resolver ?? systemResolver;
    this.ca = opts.ca;
  }

  async request(req: EgressRequest): Promise<EgressResponse> {
    const started = performance.now();
    const maxBytes = req.maxResponseBytes ?? EGRESS_DEFAULTS.maxResponseBytes;
    const ex = this.startExchange(req);
    let hop: Hop | undefined;
    try {
      hop = await this.send(req, ex);
      const { body, truncated } = await readCapped(hop, maxBytes, req.truncateResponse === true);
      return {
        status: hop.status,
        headers: hop.headers,
        body,
        ...(truncated ? { truncated } : {}),
        durationMs: Math.round(performance.now() - started),
        url: hop.target.url.href,
        remoteAddress: hop.target.address,
        requestId: ex.requestId,
      };
    } catch (err) {
      throw mapError(err, ex);
    } finally {
      ex.done();
      // A body read to the end hands its connection back to the pool; an unfinished one closes it.
      if (hop) discard(hop.body);
    }
  }

  async stream(req: EgressRequest): Promise<EgressStreamResponse> {
    const maxBytes = req.maxResponseBytes ?? EGRESS_DEFAULTS.maxResponseBytes;
    const ex = this.startExchange(req);
    let hop: Hop;
    try {
      hop = await this.send(req, ex);
      assertDeclaredLength(hop, maxBytes);
    } catch (err) {
      ex.done();
      throw mapError(err, ex);
    }
    const source = hop.body;
    // Errors before the consumer starts reading (e.g. the total timeout) must not go unhandled;
    // the iterator below still sees them.
    source.on('error', () => undefined);
    let cleaned = false;
    const cleanup = () => {
      if (cleaned) return;
      cleaned = true;
      ex.done();
      discard(source);
    };
    async function* capped(): AsyncGenerator<Buffer> {
      let received = 0;
      try {
        for await (const chunk of source as AsyncIterable<Buffer>) {
          received += chunk.length;
          if (received > maxBytes) {
            throw new EgressError('too_large', `response body exceeds ${maxBytes} bytes`, {
              origin: ex.origin(),
              requestId: ex.requestId,
            });
          }
          yield chunk;
        }
      } catch (err) {
        throw mapError(err, ex);
      } finally {
        cleanup();
      }
    }
    const body = Readable.from(capped(), { objectMode: false });
    // A consumer that destroys the stream without reading still releases the connection.
    body.once('close', cleanup);
    return {
      status: hop.status,
      headers: hop.headers,
      body,
      url: hop.target.url.href,
      remoteAddress: hop.target.address,
      requestId: ex.requestId,
    };
  }

  private startExchange(req: EgressRequest): Exchange {
    const timeoutMs = positive(req.timeoutMs, EGRESS_DEFAULTS.timeoutMs, 'timeoutMs');
    const connectTimeoutMs = positive(
      req.connectTimeoutMs,
      EGRESS_DEFAULTS.connectTimeoutMs,
      'connectTimeoutMs',
    );
    const requestId = req.requestId ?? headerValue(req.headers, 'x-request-id') ?? randomUUID();
    const controller = new AbortController();
    let timedOut = false;
    let origin = '';
    try {
      origin = new URL(req.url).origin;
    } catch {
      // reported by validateUrl
    }
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    timer.unref();
    return {
      requestId,
      origin: () => origin,
      timedOut: () => timedOut,
      signal: controller.signal,
      timeoutMs,
      connectTimeoutMs,
      done: () => clearTimeout(timer),
    };
  }

  /** Sends the request, following redirects when asked; returns the final hop with its body unread. */
  private async send(req: EgressRequest, ex: Exchange): Promise<Hop> {
    // Kept apart from the instance's list: what a request opens is bounded by requestPrivateRanges.
    const requested = req.policy?.allowPrivate?.length ? new AllowList(req.policy.allowPrivate) : undefined;
    const maxHops = req.followRedirects ?? 0;
    let method = normaliseMethod(req.method);
    let body = req.body;
    let { url, headers } = prepare(req, ex);
    for (let hops = 0; ; hops++) {
      const target = await this.check(url, requested, ex);
      const hop = await this.dispatch(target, method, headers, body, ex);
      const location = hop.headers['location'];
      if (maxHops === 0 || !REDIRECT_STATUSES.has(hop.status) || !location) return hop;
      discard(hop.body);
      if (hops >= maxHops) {
        throw new EgressError('redirect', `more than ${maxHops} redirect(s)`, {
          origin: ex.origin(),
          requestId: ex.requestId,
        });
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new EgressError('redirect', 'redirect Location is not a valid URL', {
          origin: ex.origin(),
          requestId: ex.requestId,
        });
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new EgressError(
          'redirect',
          `redirect to scheme ${next.protocol} refused (only http and https)`,
          {
            origin: ex.origin(),
            requestId: ex.requestId,
          },
        );
      }
      if (next.origin !== url.origin) headers = withoutHeaders(headers, CREDENTIAL_HEADERS);
      if (hop.status === 303 || ((hop.status === 301 || hop.status === 302) && method === 'POST')) {
        if (method !== 'HEAD') method = 'GET';
        body = undefined;
        headers = withoutHeaders(headers, ['content-type']);
      }
      next.hash = '';
      url = stripCredentials(next);
    }
  }

  /** Resolves the host and refuses when any answer is non-public and not allow-listed. */
  private async check(url: URL, requested: AllowList | undefined, ex: Exchange): Promise<Target> {
    const ctx = { origin: url.origin, requestId: ex.requestId };
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new EgressError('blocked', `scheme ${url.protocol} is not allowed (only http and https)`, ctx);
    }
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const literal = parseIp(host);
    if (literal) {
      const address = literal.toString();
      const refused = this.refusal(address, undefined, requested);
      if (refused) throw new EgressError('blocked', `address ${address} ${refused}`, ctx);
      return { url, address, family: literal.kind() === 'ipv4' ? 4 : 6 };
    }
    let answers: Array<{ address: string; family: 4 | 6 }>;
    try {
      answers = await abortable(this.resolver(host), ex.signal);
    } catch (err) {
      if (ex.timedOut()) throw err;
      throw new EgressError('dns', `could not resolve ${host}${codeOf(err) ? ` (${codeOf(err)})` : ''}`, ctx);
    }
    if (answers.length === 0) throw new EgressError('dns', `${host} has no addresses`, ctx);
    const name = normaliseHost(host);
    for (const answer of answers) {
      if (!parseIp(answer.address))
        throw new EgressError('dns', `resolver returned a non-IP answer for ${host}`, ctx);
      const refused = this.refusal(answer.address, name, requested);
      if (refused) throw new EgressError('blocked', `${host} resolves to ${answer.address}, which ${refused}`, ctx);
    }
    const first = answers[0];
    return { url, address: parseIp(first.address)!.toString(), family: first.family };
  }

  /**
   * Why `address` (reached as `host`, when a name) may not be dialled, or undefined when it may: it is
   * public, the instance allows it, or the request allows it and it lies in a range a request may open.
   */
  private refusal(address: string, host: string | undefined, requested: AllowList | undefined): string | undefined {
    const cls = classifyAddress(address);
    if (cls.public) return undefined;
    if (this.allow.allowsAddress(address) || (host !== undefined && this.allow.allowsHost(host))) return undefined;
    const why = `is not public (${cls.range})`;
    const byRequest = requested && (requested.allowsAddress(address) || (host !== undefined && requested.allowsHost(host)));
    if (!byRequest) return why;
    if (this.requestRanges.allowsAddress(address)) return undefined;
    return this.requestRangesText
      ? `${why}; a per-request allowance opens only private-network addresses (${this.requestRangesText})`
      : `${why}; a per-request allowance opens no private addresses here`;
  }

  private async dispatch(
    target: Target,
    method: string,
    headers: Record<string, string>,
    body: EgressRequest['body'],
    ex: Exchange,
  ): Promise<Hop> {
    const agent = this.agentFor(target, ex.connectTimeoutMs);
    const res = await agent.request({
      origin: target.url.origin,
      path: `${target.url.pathname}${target.url.search}`,
      method: method as Dispatcher.HttpMethod,
      headers,
      body,
      signal: ex.signal,
      headersTimeout: ex.timeoutMs,
      bodyTimeout: ex.timeoutMs,
    });
    return { status: res.statusCode, headers: flattenHeaders(res.headers), body: res.body, agent, target };
  }

  /**
   * Keep-alive connection pools, one per (origin, checked address, connect timeout): a pool only ever
   * dials the address it was made for, so reusing its connections keeps the pinning. The least
   * recently used pools are closed beyond MAX_POOLS.
   */
  private agentFor(target: Target, connectTimeoutMs: number): Agent {
    const key = `${target.url.origin}|${target.address}|${connectTimeoutMs}`;
    let agent = this.pools.get(key);
    if (agent) {
      this.pools.delete(key);
    } else {
      agent = new Agent({
        connect: pinnedConnector(target, connectTimeoutMs, this.ca),
        connections: 32,
        keepAliveTimeout: 4_000,
      });
      if (this.pools.size >= MAX_POOLS) {
        const [oldestKey, oldest] = this.pools.entries().next().value as [string, Agent];
        this.pools.delete(oldestKey);
        void oldest.close().catch(() => undefined);
      }
    }
    this.pools.set(key, agent);
    return agent;
  }

  /** Closes every pooled connection (on shutdown). */
  async close(): Promise<void> {
    const agents = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(agents.map((a) => a.close().catch(() => undefined)));
  }
}

/**
 * Connector that dials only the checked address: the hostname is kept for the Host header and TLS
 * SNI/certificate checks, but DNS is answered with the pinned address, and the socket's peer is
 * verified before use.
 */
function pinnedConnector(
  target: Target,
  timeout: number,
  ca: HttpEgressOptions['ca'],
): buildConnector.connector {
  const lookup = (
    _hostname: string,
    options: { all?: boolean },
    callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    if (options?.all) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
  const connect = buildConnector({ timeout, lookup, ...(ca ? { ca } : {}) } as buildConnector.BuildOptions);
  return (opts, callback) => {
    connect(opts, (err, socket) => {
      if (err) return callback(err, null);
      const peer = parseIp((socket as Socket).remoteAddress ?? '')?.toString();
      if (peer !== target.address) {
        socket!.destroy();
        return callback(
          new EgressError(
            'blocked',
            `connected peer ${peer ?? 'unknown'} differs from checked address ${target.address}`,
            {
              origin: target.url.origin,
            },
          ),
          null,
        );
      }
      callback(null, socket!);
    });
  };
}

function prepare(req: EgressRequest, ex: Exchange): { url: URL; headers: Record<string, string> } {
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    throw new EgressError('invalid_url', 'not a valid URL', { requestId: ex.requestId });
  }
  const headers: Record<string, string> = {};
  for (const [rawName, value] of Object.entries(req.headers ?? {})) {
    const name = rawName.toLowerCase();
    if (!TOKEN.test(rawName)) {
      throw new EgressError('invalid_request', 'a header name contains characters that are not allowed', {
        origin: ex.origin(),
        requestId: ex.requestId,
      });
    }
    if (typeof value !== 'string' || !FIELD_VALUE.test(value)) {
      throw new EgressError('invalid_request', `header ${name} contains CR, LF or other control characters`, {
        origin: ex.origin(),
        requestId: ex.requestId,
      });
    }
    if (FORBIDDEN_HEADERS.has(name)) {
      throw new EgressError('invalid_request', `header ${name} is set by the client and cannot be supplied`, {
        origin: ex.origin(),
        requestId: ex.requestId,
      });
    }
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  if (!FIELD_VALUE.test(ex.requestId)) {
    throw new EgressError('invalid_request', 'requestId contains control characters', {
      origin: ex.origin(),
    });
  }
  headers['x-request-id'] = ex.requestId;
  if ((url.username || url.password) && headers['authorization'] === undefined) {
    const user = decodeURIComponent(url.username);
    const pass = decodeURIComponent(url.password);
    headers['authorization'] = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  }
  url.hash = '';
  return { url: stripCredentials(url), headers };
}

function stripCredentials(url: URL): URL {
  const clean = new URL(url.href);
  clean.username = '';
  clean.password = '';
  return clean;
}

function normaliseMethod(method: string): string {
  const upper = String(method ?? '').toUpperCase();
  if (!TOKEN.test(upper) || upper === 'CONNECT' || upper === 'TRACE' || upper === 'TRACK') {
    throw new EgressError('invalid_request', 'method is not allowed');
  }
  return upper;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0)
    throw new EgressError('invalid_request', `${name} must be a positive number`);
  return value;
}

function headerValue(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

function withoutHeaders(headers: Record<string, string>, names: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !names.includes(k)));
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function assertDeclaredLength(hop: Hop, maxBytes: number): void {
  const declared = Number(hop.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    discard(hop.body);
    throw new EgressError('too_large', `response declares ${declared} bytes, over the ${maxBytes} byte cap`, {
      origin: hop.target.url.origin,
    });
  }
}

/** The body up to `maxBytes`; past it, `too_large`, or with `truncate` the first `maxBytes` (the rest left unread). */
async function readCapped(hop: Hop, maxBytes: number, truncate: boolean): Promise<{ body: Buffer; truncated?: true }> {
  if (!truncate) assertDeclaredLength(hop, maxBytes);
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of hop.body as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > maxBytes) {
      discard(hop.body);
      if (truncate) {
        chunks.push(chunk.subarray(0, chunk.length - (received - maxBytes)));
        return { body: Buffer.concat(chunks, maxBytes), truncated: true };
      }
      throw new EgressError('too_large', `response body exceeds ${maxBytes} bytes`, {
        origin: hop.target.url.origin,
      });
    }
    chunks.push(chunk);
  }
  return { body: Buffer.concat(chunks, received) };
}

/** Drops an unread body; undici emits an abort error on destroy, which nobody is listening for any more. */
function discard(body: Readable): void {
  body.on('error', () => undefined);
  if (!body.destroyed) body.destroy();
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Maps any failure to an EgressError whose reason names a code, never a message (which might echo input). */
function mapError(err: unknown, ex: Exchange): EgressError {
  const ctx = { origin: ex.origin(), requestId: ex.requestId };
  if (err instanceof EgressError) {
    return err.context.requestId
      ? err
      : new EgressError(err.kind, err.reason, { ...ctx, ...err.context, requestId: ex.requestId });
  }
  if (ex.timedOut()) return new EgressError('timeout', `no complete response within ${ex.timeoutMs} ms`, ctx);
  const code = codeOf(err) ?? '';
  const causeCode = codeOf((err as { cause?: unknown } | null)?.cause) ?? '';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') {
    return new EgressError('timeout', `connect timed out after ${ex.connectTimeoutMs} ms`, ctx);
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new EgressError('timeout', `no complete response within ${ex.timeoutMs} ms`, ctx);
  }
  const tlsCode = [code, causeCode].find(
    (c) => TLS_CODES.has(c) || c.startsWith('ERR_TLS') || c.startsWith('ERR_SSL'),
  );
  if (tlsCode) return new EgressError('tls', `TLS handshake failed (${tlsCode})`, ctx);
  if (
    ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ECONNRESET', 'EPIPE'].includes(code)
  ) {
    return new EgressError('connect', `connection failed (${code})`, ctx);
  }
  if (code === 'UND_ERR_INVALID_ARG')
    return new EgressError('invalid_request', 'request rejected by the HTTP client', ctx);
  return new EgressError('protocol', `HTTP exchange failed${code ? ` (${code})` : ''}`, ctx);
}
