import 'reflect-metadata';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { loadConfig } from '@elo/platform';
import { ConsoleConfig } from '../config/console.config';
import { createConsoleApp } from '../console-app';
import { forwardableHeaders, splitApiPath } from './proxy.service';

describe('splitApiPath', () => {
  it('splits service, path and query', () => {
    expect(splitApiPath('/api/webhook-dispatcher/integrations/x/test?a=1')).toEqual({ service: 'webhook-dispatcher', path: '/integrations/x/test?a=1' });
    expect(splitApiPath('/api/viability')).toEqual({ service: 'viability', path: '/' });
  });
  it('refuses dot segments and odd shapes', () => {
    expect(splitApiPath('/api/viability/../x')).toBeUndefined();
    expect(splitApiPath('/api/viability/%2e%2E/x')).toBeUndefined();
    expect(splitApiPath('/other')).toBeUndefined();
  });
});

describe('forwardableHeaders', () => {
  it('drops hop-by-hop headers and those named in Connection, keeps Authorization', () => {
    const h = forwardableHeaders({ connection: 'keep-alive, x-secret-hop', 'x-secret-hop': '1', authorization: 'Bearer k', te: 'trailers', cookie: 'a=b', 'content-type': 'application/json' });
    expect(h).toEqual({ authorization: 'Bearer k', 'content-type': 'application/json' });
  });
});

describe('console server', () => {
  let upstream: Server;
  let app: NestExpressApplication;
  let base: string;
  let web: string | undefined;
  let seen: { method?: string; url?: string; headers?: IncomingMessage['headers']; body?: string } = {};
  let upstreamRequests = 0;

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      upstreamRequests++;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() };
        res.writeHead(201, { 'content-type': 'application/json', 'x-upstream': 'yes', 'set-cookie': 'no=1' });
        res.end(JSON.stringify({ ok: true }));
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const up = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    web = mkdtempSync(join(tmpdir(), 'console-web-'));
    mkdirSync(join(web, 'assets'));
    writeFileSync(join(web, 'index.html'), '<!doctype html><title>Elo console</title>');
    writeFileSync(join(web, 'assets', 'app.js'), 'void 0;');
    const config = loadConfig(ConsoleConfig, {
      PORT: '0', CHAT_INGRESS_URL: up, WEBHOOK_DISPATCHER_URL: up, VIABILITY_URL: 'http://127.0.0.1:1', BODY_LIMIT_BYTES: '2048',
      WEB_DIST_DIR: web, LOG_LEVEL: 'silent',
    });
    app = await createConsoleApp(config);
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app.close();
    await new Promise((r) => upstream.close(r));
    if (web) rmSync(web, { recursive: true, force: true });
  });

  it('forwards method, path, query, Authorization and the body; answers with the upstream status and headers', async () => {
    const res = await fetch(`${base}/api/webhook-dispatcher/integrations?x=1`, {
      method: 'POST', headers: { authorization: 'Bearer k1', 'content-type': 'application/json', cookie: 'c=1' }, body: '{"a":1}',
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-upstream')).toBe('yes');
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(await res.json()).toEqual({ ok: true });
    expect(seen).toMatchObject({ method: 'POST', url: '/integrations?x=1', body: '{"a":1}' });
    expect(seen.headers?.authorization).toBe('Bearer k1');
    expect(seen.headers?.cookie).toBeUndefined();
  });

  it('answers 502 problem+json when the upstream is down, 404 for an unknown service, 413 over the body limit', async () => {
    const down = await fetch(`${base}/api/viability/check`, { headers: { authorization: 'Bearer k1' } });
    expect(down.status).toBe(502);
    expect(down.headers.get('content-type')).toContain('application/problem+json');
    expect(((await down.json()) as { detail: string }).detail).toContain('viability');
    expect((await fetch(`${base}/api/nope/x`)).status).toBe(404);
    const big = await fetch(`${base}/api/chat-ingress/channels`, { method: 'POST', headers: { authorization: 'Bearer k1' }, body: 'x'.repeat(5000) });
    expect(big.status).toBe(413);
  });

  it('forwards nothing without an API key (a webhook or PBX callback through it would come from its address): 401 problem+json', async () => {
    const before = upstreamRequests;
    for (const path of ['/api/chat-ingress/webhooks/whatsapp/x', '/api/webhook-dispatcher/metrics']) {
      const r = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(`${path} ${r.status}`).toBe(`${path} 401`);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
    }
    expect(upstreamRequests).toBe(before);
  });

  it('answers 404 for names that are not services, whatever the object they could be mistaken for', async () => {
    for (const name of ['constructor', 'tostring', 'hasownproperty']) {
      const r = await fetch(`${base}/api/${name}/x`);
      expect(`${name} ${r.status}`).toBe(`${name} 404`);
    }
    const proto = await fetch(`${base}/api/constructor/x`);
    expect(proto.headers.get('content-type')).toContain('application/problem+json');
  });

  it('forwards nothing of a chunked body over the limit (413 changes nothing) and a chunked body within it whole', async () => {
    const chunked = (parts: string[]) =>
      fetch(`${base}/api/chat-ingress/channels`, {
        method: 'POST',
        headers: { 'content-type': 'text/csv', authorization: 'Bearer k1' },
        body: new ReadableStream({
          start(c) {
            for (const p of parts) c.enqueue(new TextEncoder().encode(p));
            c.close();
          },
        }),
        duplex: 'half',
      } as RequestInit);
    const before = upstreamRequests;
    const big = await chunked(Array.from({ length: 5 }, () => 'x'.repeat(1000)));
    expect(big.status).toBe(413);
    expect(((await big.json()) as { detail: string }).detail).toContain('larger');
    expect(upstreamRequests).toBe(before);
    const small = await chunked(['a,b\n', '1,2\n']);
    expect(small.status).toBe(201);
    expect(upstreamRequests).toBe(before + 1);
    expect(seen.body).toBe('a,b\n1,2\n');
    expect(seen.headers?.['content-length']).toBe('8');
    expect(seen.headers?.['transfer-encoding']).toBeUndefined();
  });

  it('serves the app with security headers, an index fallback and health probes', async () => {
    const page = await fetch(`${base}/integrations`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Elo console');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await fetch(`${base}/assets/app.js`)).status).toBe(200);
    expect((await fetch(`${base}/assets/missing.js`)).status).toBe(404);
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
    expect(await (await fetch(`${base}/console-config.json`)).json()).toMatchObject({ dashboardUrl: 'http://127.0.0.1:3005/dashboard' });
  });
});
