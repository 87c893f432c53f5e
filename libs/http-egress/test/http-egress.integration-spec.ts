import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EgressError, HttpEgress, type EgressResolver } from '../src';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

interface Fake {
  server: Server;
  port: number;
  base: string;
  seen: Seen[];
  close: () => Promise<void>;
}

async function fakeServer(routes: Record<string, Handler>, server: Server = createServer()): Promise<Fake> {
  const seen: Seen[] = [];
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const route = routes[new URL(req.url!, 'http://x').pathname];
      if (route) route(req, res, body);
      else res.writeHead(404).end('not found');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    base: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

function resolverOf(answers: Record<string, string[] | string[][]>): EgressResolver & { calls: string[] } {
  const calls: string[] = [];
  const counters = new Map<string, number>();
  const resolver = async (host: string) => {
    calls.push(host);
    const entry = answers[host];
    if (!entry) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    // string[][] = successive answers (the last one repeats): models DNS that changes between lookups
    const n = counters.get(host) ?? 0;
    counters.set(host, n + 1);
    const list = Array.isArray(entry[0])
      ? (entry as string[][])[Math.min(n, entry.length - 1)]
      : (entry as string[]);
    return list.map((address) => ({ address, family: (address.includes(':') ? 6 : 4) as 4 | 6 }));
  };
  return Object.assign(resolver, { calls });
}

async function refusal(p: Promise<unknown>): Promise<EgressError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof EgressError) return err;
    throw err;
  }
  throw new Error('expected an EgressError');
}

function chunked(res: ServerResponse, total: number, chunk = 64 * 1024): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  let sent = 0;
  const pump = () => {
    while (sent < total) {
      const n = Math.min(chunk, total - sent);
      sent += n;
      if (!res.write(Buffer.alloc(n, sent % 251))) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}

function expectedBytes(total: number, chunk = 64 * 1024): string {
  const h = createHash('sha256');
  let sent = 0;
  while (sent < total) {
    const n = Math.min(chunk, total - sent);
    sent += n;
    h.update(Buffer.alloc(n, sent % 251));
  }
  return h.digest('hex');
}

describe('HttpEgress against real local servers', () => {
  let app: Fake;
  let other: Fake;
  const local = new HttpEgress({ allowPrivate: ['127.0.0.1/32'] });

  beforeAll(async () => {
    app = await fakeServer({
      '/echo': (req, res, body) => {
        res.writeHead(201, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] });
        res.end(JSON.stringify({ method: req.method, body, requestId: req.headers['x-request-id'] }));
      },
      '/hang': () => undefined,
      '/slow-body': (_req, res) => {
        res.writeHead(200);
        res.write('partial');
      },
      '/big': (_req, res) => res.end(Buffer.alloc(2 * 1024 * 1024, 1)),
      '/big-chunked': (_req, res) => chunked(res, 2 * 1024 * 1024),
      '/exact': (_req, res) => res.end(Buffer.alloc(1000, 7)),
      '/download': (_req, res) => chunked(res, 3 * 1024 * 1024 + 123),
      '/to-metadata': (_req, res) =>
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end(),
      '/to-private-name': (_req, res) => res.writeHead(302, { location: 'http://internal.example/' }).end(),
      '/to-echo': (_req, res) => res.writeHead(307, { location: '/echo?from=redirect' }).end(),
      '/see-other': (_req, res) => res.writeHead(303, { location: '/echo' }).end(),
      '/to-file': (_req, res) => res.writeHead(302, { location: 'file:///etc/passwd' }).end(),
      '/loop': (_req, res) => res.writeHead(302, { location: '/loop' }).end(),
    });
    other = await fakeServer({
      '/landing': (req, res) => res.end(JSON.stringify({ authorization: req.headers.authorization ?? null })),
    });
    app.server.on('request', () => undefined);
  });

  afterAll(async () => {
    await Promise.all([app.close(), other.close()]);
  });

  it('reaches an allow-listed local server and returns status, headers, body, address and request id', async () => {
    const res = await local.request({
      method: 'post',
      url: `${app.base}/echo`,
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(res.status).toBe(201);
    expect(res.remoteAddress).toBe('127.0.0.1');
    expect(res.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers['set-cookie']).toBe('a=1, b=2');
    expect(JSON.parse(res.body.toString())).toEqual({
      method: 'POST',
      body: 'hello',
      requestId: res.requestId,
    });
    expect(res.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('keeps a caller-supplied request id', async () => {
    const res = await local.request({ method: 'GET', url: `${app.base}/echo`, requestId: 'corr-42' });
    expect(res.requestId).toBe('corr-42');
    expect(JSON.parse(res.body.toString()).requestId).toBe('corr-42');
  });

  it('refuses the same server when it is not allow-listed, and nothing reaches it', async () => {
    const before = app.seen.length;
    const err = await refusal(new HttpEgress().request({ method: 'GET', url: `${app.base}/echo` }));
    expect(err.kind).toBe('blocked');
    expect(err.reason).toContain('loopback');
    expect(app.seen.length).toBe(before);
  });

  it('allows a host by per-request policy (within requestPrivateRanges) and by allow-listed hostname', async () => {
    const viaPolicy = await new HttpEgress({ requestPrivateRanges: ['127.0.0.0/8'] }).request({
      method: 'GET',
      url: `${app.base}/echo`,
      policy: { allowPrivate: ['127.0.0.0/8'] },
    });
    expect(viaPolicy.status).toBe(201);
    const viaPolicyName = await new HttpEgress({
      requestPrivateRanges: ['10.0.0.0/8', '127.0.0.0/8'],
      resolver: resolverOf({ 'pbx.local': ['127.0.0.1'] }),
    }).request({ method: 'GET', url: `http://pbx.local:${app.port}/echo`, policy: { allowPrivate: ['pbx.local'] } });
    expect(viaPolicyName.status).toBe(201);
    const byName = new HttpEgress({
      allowPrivate: ['pbx.local'],
      resolver: resolverOf({ 'pbx.local': ['127.0.0.1'] }),
    });
    const res = await byName.request({ method: 'GET', url: `http://pbx.local:${app.port}/echo` });
    expect(res.status).toBe(201);
    expect(app.seen.at(-1)!.headers.host).toBe(`pbx.local:${app.port}`);
  });

  describe('per-request allowances (tenant-supplied, e.g. a PBX profile host)', () => {
    const resolver = resolverOf({ 'pbx.local': ['127.0.0.1'], 'metadata.pbx': ['169.254.169.254'] });

    it('by default cannot open loopback or link-local, by address or by name, and nothing is reached', async () => {
      const before = app.seen.length;
      const egress = new HttpEgress({ resolver });
      for (const [url, allowPrivate] of [
        [`${app.base}/echo`, ['127.0.0.1/32']],
        [`http://pbx.local:${app.port}/echo`, ['pbx.local']],
        ['http://metadata.pbx/latest/meta-data/', ['metadata.pbx']],
        ['http://169.254.169.254/latest/meta-data/', ['169.254.169.254/32']],
      ] as const) {
        const err = await refusal(egress.request({ method: 'GET', url, policy: { allowPrivate: [...allowPrivate] } }));
        expect(err.kind).toBe('blocked');
        expect(err.reason).toMatch(/is not public \((loopback|link-local) .*\); a per-request allowance opens only private-network addresses/);
      }
      expect(app.seen.length).toBe(before);
    });

    it('open an RFC 1918, CGNAT or unique-local address (past the policy: reached, or a connect failure or timeout)', async () => {
      const egress = new HttpEgress({
        resolver: resolverOf({ 'pbx.lan': ['192.168.255.254'], 'pbx6.lan': ['fd00::fe'] }),
      });
      for (const [url, allowPrivate] of [
        ['http://10.255.255.254:81/', ['10.255.255.254/32']],
        ['http://100.127.255.254:81/', ['100.64.0.0/10']],
        ['http://pbx.lan:81/', ['pbx.lan']],
        ['http://pbx6.lan:81/', ['pbx6.lan']],
      ] as const) {
        // Whatever sits at that address on the test machine's network (often nothing) decides the rest.
        const outcome = await egress
          .request({ method: 'GET', url, timeoutMs: 1000, connectTimeoutMs: 150, policy: { allowPrivate: [...allowPrivate] } })
          .then(
            () => 'reached',
            (err: unknown) => (err instanceof EgressError ? err.kind : String(err)),
          );
        expect(['reached', 'connect', 'timeout']).toContain(outcome);
      }
      await egress.close();
    });

    it('the deployment allow-list still opens loopback, with or without a per-request policy', async () => {
      const deployment = new HttpEgress({ allowPrivate: ['127.0.0.1/32'], resolver });
      const byAddress = await deployment.request({ method: 'GET', url: `${app.base}/echo`, policy: { allowPrivate: ['10.0.0.5'] } });
      expect(byAddress.status).toBe(201);
      const byName = await deployment.request({ method: 'GET', url: `http://pbx.local:${app.port}/echo`, policy: { allowPrivate: ['pbx.local'] } });
      expect(byName.status).toBe(201);
      await deployment.close();
    });
  });

  describe('DNS pinning', () => {
    it('connects to the checked address even though later lookups answer a private address', async () => {
      // First answer is allow-listed; every later answer is a private address that would be refused.
      // The hostname does not exist in real DNS, so success also proves undici did not resolve it again.
      const resolver = resolverOf({ 'api.rebind.test': [['127.0.0.1'], ['10.0.0.1']] });
      const egress = new HttpEgress({ allowPrivate: ['127.0.0.1/32'], resolver });
      const res = await egress.request({ method: 'GET', url: `http://api.rebind.test:${app.port}/echo` });
      expect(res.status).toBe(201);
      expect(res.remoteAddress).toBe('127.0.0.1');
      expect(resolver.calls).toEqual(['api.rebind.test']);
      expect(app.seen.at(-1)!.headers.host).toBe(`api.rebind.test:${app.port}`);
    });

    it('a public first answer then a private one never reaches the private address', async () => {
      const resolver = resolverOf({ 'flip.rebind.test': [['93.184.216.34'], ['127.0.0.1']] });
      const egress = new HttpEgress({ resolver });
      const before = app.seen.length;
      const err = await refusal(
        egress.request({
          method: 'GET',
          url: `http://flip.rebind.test:${app.port}/echo`,
          connectTimeoutMs: 300,
          timeoutMs: 1000,
        }),
      );
      // The connection went (or tried to go) to 93.184.216.34; the local server saw nothing.
      expect(['connect', 'timeout']).toContain(err.kind);
      expect(resolver.calls).toEqual(['flip.rebind.test']);
      expect(app.seen.length).toBe(before);
    });
  });

  describe('redirects', () => {
    it('returns a 3xx as the response by default', async () => {
      const res = await local.request({ method: 'GET', url: `${app.base}/to-metadata` });
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe('http://169.254.169.254/latest/meta-data/');
    });

    it('re-checks every hop: a redirect to the metadata address is refused', async () => {
      const err = await refusal(
        local.request({ method: 'GET', url: `${app.base}/to-metadata`, followRedirects: 5 }),
      );
      expect(err.kind).toBe('blocked');
      expect(err.reason).toContain('link-local');
    });

    it('re-resolves every hop: a redirect to a name that resolves privately is refused', async () => {
      const egress = new HttpEgress({
        allowPrivate: ['127.0.0.1/32'],
        resolver: resolverOf({ 'internal.example': ['10.1.1.1'] }),
      });
      const err = await refusal(
        egress.request({ method: 'GET', url: `${app.base}/to-private-name`, followRedirects: 2 }),
      );
      expect(err.kind).toBe('blocked');
      expect(err.reason).toContain('internal.example resolves to 10.1.1.1');
    });

    it('follows allowed hops, keeping method and body on 307 and switching to GET on 303', async () => {
      const kept = await local.request({
        method: 'PUT',
        url: `${app.base}/to-echo`,
        body: 'x',
        followRedirects: 1,
      });
      expect(JSON.parse(kept.body.toString())).toMatchObject({ method: 'PUT', body: 'x' });
      expect(kept.url).toBe(`${app.base}/echo?from=redirect`);
      const switched = await local.request({
        method: 'POST',
        url: `${app.base}/see-other`,
        body: 'y',
        followRedirects: 1,
      });
      expect(JSON.parse(switched.body.toString())).toMatchObject({ method: 'GET', body: '' });
    });

    it('drops credentials when a redirect changes origin', async () => {
      const hop = await fakeServer({
        '/': (_req, res) => res.writeHead(302, { location: `${other.base}/landing` }).end(),
      });
      try {
        const res = await local.request({
          method: 'GET',
          url: `${hop.base}/`,
          headers: { authorization: 'Bearer secret' },
          followRedirects: 1,
        });
        expect(JSON.parse(res.body.toString())).toEqual({ authorization: null });
      } finally {
        await hop.close();
      }
    });

    it('refuses non-http redirect targets and too many hops', async () => {
      expect(
        (await refusal(local.request({ method: 'GET', url: `${app.base}/to-file`, followRedirects: 1 })))
          .kind,
      ).toBe('redirect');
      const loop = await refusal(
        local.request({ method: 'GET', url: `${app.base}/loop`, followRedirects: 3 }),
      );
      expect(loop).toMatchObject({ kind: 'redirect', reason: 'more than 3 redirect(s)' });
    });
  });

  describe('limits', () => {
    it('times out a server that never answers', async () => {
      const started = Date.now();
      const err = await refusal(local.request({ method: 'GET', url: `${app.base}/hang`, timeoutMs: 200 }));
      expect(err.kind).toBe('timeout');
      expect(Date.now() - started).toBeLessThan(5000);
    });

    it('times out a body that stalls', async () => {
      const err = await refusal(
        local.request({ method: 'GET', url: `${app.base}/slow-body`, timeoutMs: 300 }),
      );
      expect(err.kind).toBe('timeout');
    });

    it('reports a refused connection as connect', async () => {
      const closed = await fakeServer({});
      const url = `${closed.base}/`;
      await closed.close();
      expect((await refusal(local.request({ method: 'GET', url }))).kind).toBe('connect');
    });

    it('caps the response size with and without a declared length', async () => {
      const cap = 1024 * 1024;
      const declared = await refusal(
        local.request({ method: 'GET', url: `${app.base}/big`, maxResponseBytes: cap }),
      );
      expect(declared.kind).toBe('too_large');
      const streamed = await refusal(
        local.request({ method: 'GET', url: `${app.base}/big-chunked`, maxResponseBytes: cap }),
      );
      expect(streamed.kind).toBe('too_large');
      const exact = await local.request({ method: 'GET', url: `${app.base}/exact`, maxResponseBytes: 1000 });
      expect(exact.body.length).toBe(1000);
    });

    it('with truncateResponse keeps the first maxResponseBytes and says the body was cut, declared length or not', async () => {
      const cap = 1024 * 1024;
      for (const path of ['/big', '/big-chunked']) {
        const res = await local.request({ method: 'GET', url: `${app.base}${path}`, maxResponseBytes: cap, truncateResponse: true });
        expect(res.status).toBe(200);
        expect(res.body.length).toBe(cap);
        expect(res.truncated).toBe(true);
      }
      const whole = await local.request({ method: 'GET', url: `${app.base}/exact`, maxResponseBytes: 1000, truncateResponse: true });
      expect(whole.body.length).toBe(1000);
      expect(whole.truncated).toBeUndefined();
    });
  });

  describe('stream', () => {
    it('streams a large download completely', async () => {
      const res = await local.stream({
        method: 'GET',
        url: `${app.base}/download`,
        maxResponseBytes: 10 * 1024 * 1024,
      });
      expect(res.status).toBe(200);
      expect(res.remoteAddress).toBe('127.0.0.1');
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of res.body) {
        hash.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
      }
      expect(bytes).toBe(3 * 1024 * 1024 + 123);
      expect(hash.digest('hex')).toBe(expectedBytes(3 * 1024 * 1024 + 123));
    });

    it('fails mid-stream once the cap is passed', async () => {
      const res = await local.stream({
        method: 'GET',
        url: `${app.base}/download`,
        maxResponseBytes: 1024 * 1024,
      });
      let bytes = 0;
      const err = await refusal(
        (async () => {
          for await (const chunk of res.body) bytes += (chunk as Buffer).length;
        })(),
      );
      expect(err.kind).toBe('too_large');
      expect(bytes).toBeLessThanOrEqual(1024 * 1024);
    });

    it('refuses at once when the declared length is over the cap', async () => {
      const err = await refusal(
        local.stream({ method: 'GET', url: `${app.base}/big`, maxResponseBytes: 1024 }),
      );
      expect(err.kind).toBe('too_large');
    });

    it('times out a stream that is read too late, without an unhandled error', async () => {
      let serverSawClose!: () => void;
      const aborted = new Promise<void>((resolve) => (serverSawClose = resolve));
      const stalled = await fakeServer({
        '/': (req, res) => {
          req.socket.once('close', () => serverSawClose());
          res.writeHead(200).write('partial');
        },
      });
      try {
        // Long enough for the headers to arrive on a busy machine (a shorter one fired before stream() answered; the
        // test process also serves the fake server, so a loaded machine delays both).
        const res = await local.stream({ method: 'GET', url: `${stalled.base}/`, timeoutMs: 3_000 });
        await aborted; // the total timeout fired and the connection was torn down before anyone read
        const err = await refusal(
          (async () => {
            for await (const _chunk of res.body) void _chunk;
          })(),
        );
        expect(err.kind).toBe('timeout');
      } finally {
        await stalled.close();
      }
    });

    it('releases the connection when the consumer destroys the stream unread', async () => {
      const res = await local.stream({ method: 'GET', url: `${app.base}/download` });
      const closed = new Promise((resolve) => res.body.once('close', resolve));
      res.body.destroy();
      await closed;
      expect(res.body.destroyed).toBe(true);
    });

    it('is refused like request() for private addresses', async () => {
      expect(
        (await refusal(new HttpEgress().stream({ method: 'GET', url: `${app.base}/download` }))).kind,
      ).toBe('blocked');
    });
  });

  describe('https', () => {
    let dir: string;
    let secure: Fake;
    let ca: Buffer;
    const sni: string[] = [];

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'egress-tls-'));
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=secure.rebind.test',
          '-addext',
          'subjectAltName=DNS:secure.rebind.test',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
      ca = readFileSync(join(dir, 'cert.pem'));
      const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: ca });
      server.on('secureConnection', (s) => sni.push((s as unknown as { servername: string }).servername));
      secure = await fakeServer({ '/': (req, res) => res.end(`host=${req.headers.host}`) }, server);
    });

    afterAll(async () => {
      await secure.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('dials the pinned address while SNI, certificate check and Host use the hostname', async () => {
      const egress = new HttpEgress({
        allowPrivate: ['127.0.0.1/32'],
        resolver: resolverOf({ 'secure.rebind.test': ['127.0.0.1'] }),
        ca,
      });
      const res = await egress.request({ method: 'GET', url: `https://secure.rebind.test:${secure.port}/` });
      expect(res.body.toString()).toBe(`host=secure.rebind.test:${secure.port}`);
      expect(sni.at(-1)).toBe('secure.rebind.test');
    });

    it('fails with tls when the certificate is not trusted', async () => {
      const egress = new HttpEgress({
        allowPrivate: ['127.0.0.1/32'],
        resolver: resolverOf({ 'secure.rebind.test': ['127.0.0.1'] }),
      });
      const err = await refusal(
        egress.request({ method: 'GET', url: `https://secure.rebind.test:${secure.port}/` }),
      );
      expect(err.kind).toBe('tls');
    });
  });
});
