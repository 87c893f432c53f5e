import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { problem } from '@elo/platform';
import type { createLogger } from '@elo/observability';

type Logger = ReturnType<typeof createLogger>;

/** Headers that describe one connection, never forwarded (RFC 9110 §7.6.1), plus ones the console owns. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'host', 'cookie', 'set-cookie', 'forwarded', 'x-forwarded-for', 'x-forwarded-host',
  'x-forwarded-proto', 'expect',
]);

export function forwardableHeaders(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = new Set(
    String(h.connection ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) {
    const name = k.toLowerCase();
    if (v === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    out[name] = v;
  }
  return out;
}

/** `/api/<service>/<rest>?q` → the upstream service name and the path (with query) to ask it for. */
export function splitApiPath(originalUrl: string): { service: string; path: string } | undefined {
  const m = /^\/api\/([a-z-]+)(\/[^?#]*)?(\?[^#]*)?$/.exec(originalUrl);
  if (!m) return undefined;
  const path = m[2] ?? '/';
  // Refuse dot segments (also percent-encoded): the path is the upstream's, never a way around it.
  if (path.split('/').some((seg) => /^(\.|%2e){1,2}$/i.test(seg))) return undefined;
  return { service: m[1]!, path: path + (m[3] ?? '') };
}

function sendProblem(res: ServerResponse, status: number, detail: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(problem(status, detail));
  res.writeHead(status, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export interface ProxyOptions {
  upstreams: Record<string, string>;
  bodyLimitBytes: number;
  timeoutMs: number;
  logger: Logger;
}

/**
 * Forwards `/api/<service>/…` to that service: method, path, query, headers (Authorization included,
 * hop-by-hop ones dropped) and the body, capped at bodyLimitBytes. Unknown service → 404, no Authorization → 401,
 * body over the cap → 413, upstream down → 502, upstream silent → 504, all problem+json.
 *
 * A 413 must change nothing, so no byte of a body over the cap reaches the service: a body that declares
 * its length is refused up front when too long and otherwise streamed; one that does not (chunked) is
 * held, up to the cap, and forwarded once it has ended within it. A service would otherwise have applied
 * the part of an import that came before the cut.
 */
export function createProxy(o: ProxyOptions): (req: IncomingMessage & { originalUrl?: string }, res: ServerResponse) => void {
  return (req, res) => {
    const target = splitApiPath(req.originalUrl ?? req.url ?? '');
    // Own properties only: `constructor` or `toString` are not services.
    const base = target && Object.hasOwn(o.upstreams, target.service) ? o.upstreams[target.service] : undefined;
    if (!target || !base) return sendProblem(res, 404, 'no such service: use /api/<service>/<path>');
    // Only what a person signed in with a key does goes through: a keyless call (a provider's webhook, a PBX callback)
    // would reach the service from the console's address, sharing one per-source rate limit with every console user
    // and passing a PBX profile's address allow-list that admits the console. Those are sent to the services themselves.
    if (!req.headers.authorization) {
      req.resume();
      return sendProblem(res, 401, 'the console forwards only calls made with an API key (Authorization: Bearer …); webhooks and PBX callbacks go to the services themselves');
    }
    const tooLarge = () => sendProblem(res, 413, 'the request body is larger than the console forwards');
    const declared = req.headers['content-length'];
    if (Number(declared ?? 0) > o.bodyLimitBytes) {
      req.resume();
      return tooLarge();
    }
    const forward = (held?: Buffer) => {
      const url = new URL(base);
      const headers = forwardableHeaders(req.headers);
      headers['x-forwarded-for'] = req.socket.remoteAddress ?? '';
      headers['x-forwarded-host'] = req.headers.host ?? '';
      headers.host = url.host;
      if (held) headers['content-length'] = held.length;
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const upstream = send({
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port || undefined,
        method: req.method,
        path: url.pathname.replace(/\/$/, '') + target.path,
        headers,
      });
      upstream.setTimeout(o.timeoutMs, () => {
        upstream.destroy(Object.assign(new Error('upstream timeout'), { code: 'ETIMEDOUT' }));
      });
      upstream.on('response', (up) => {
        const out: OutgoingHttpHeaders = forwardableHeaders(up.headers);
        res.writeHead(up.statusCode ?? 502, out);
        up.pipe(res);
        up.on('error', () => res.destroy());
      });
      upstream.on('error', (err: NodeJS.ErrnoException) => {
        o.logger.warn({ service: target.service, code: err.code }, 'upstream request failed');
        if (err.code === 'ETIMEDOUT') return sendProblem(res, 504, `${target.service} did not answer in time`);
        sendProblem(res, 502, `${target.service} is not reachable`);
      });
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      if (held) upstream.end(held);
      else req.pipe(upstream);
    };
    if (declared !== undefined || req.headers['transfer-encoding'] === undefined) return forward();
    const chunks: Buffer[] = [];
    let seen = 0;
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen <= o.bodyLimitBytes) return void chunks.push(chunk);
      req.off('data', onData).off('end', onEnd);
      chunks.length = 0;
      req.resume();
      tooLarge();
    };
    const onEnd = () => forward(Buffer.concat(chunks, seen));
    req.on('data', onData).on('end', onEnd);
  };
}
