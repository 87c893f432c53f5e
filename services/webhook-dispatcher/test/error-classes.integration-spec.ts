import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { closeAll, closeServer, FakeEndpoint, listen, messageReceived, startApp, tenantApi, type Api, type Body, type RunningApp, type Tenant } from './app.fixture';

describe('webhook-dispatcher error classes of failed attempts (real PostgreSQL, RabbitMQ, local servers)', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let probe: BusProbe;
  let a: Tenant;
  let call: Api;

  /** An integration posting to `url` on messages saying `word`; answers its id. */
  async function integration(word: string, url: string, delivery: Body): Promise<string> {
    const created = await call('POST', '/integrations', {
      name: `errors ${word}`, kind: 'http', request: { method: 'POST', url },
      trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: word }] },
      delivery,
    });
    expect(created.status).toBe(201);
    return created.body.id as string;
  }

  /** The integration's only delivery once it has `n` attempts logged, with them. */
  async function attemptsOf(integrationId: string, n: number): Promise<{ delivery: Body; attempts: Body[] }> {
    let delivery: Body = {};
    let attempts: Body[] = [];
    await expectEventually(async () => {
      const list = await call('GET', `/integrations/${integrationId}/deliveries`);
      expect(list.body).toHaveLength(1);
      delivery = list.body[0] as Body;
      attempts = (await call('GET', `/deliveries/${delivery.id}/attempts`)).body as unknown as Body[];
      expect(attempts).toHaveLength(n);
      // Read again: the attempt and the delivery's update commit together, possibly between the two reads.
      delivery = (await call('GET', `/integrations/${integrationId}/deliveries`)).body[0] as Body;
      expect(delivery.attempts).toBe(n);
    }, { timeoutMs: 20_000 });
    return { delivery, attempts };
  }

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_error_classes');
    svc = await startApp(infra);
    probe = await BusProbe.connect(infra.amqpUrl, []);
    ({ tenant: a, call } = await tenantApi(svc.url));
  });

  afterAll(() => closeAll(probe, svc, infra));

  it('a server that never answers: the attempt is logged as timeout and the retry waits at least a minute, not the 1 s schedule', async () => {
    const sockets = new Set<Socket>();
    let requests = 0;
    const silent = createTcpServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.once('data', () => requests++);
    });
    const port = await listen(silent);
    try {
      const id = await integration('SILENT', `http://127.0.0.1:${port}/never`, { retryScheduleSeconds: [1, 1], timeoutMs: 500 });
      await probe.publish(messageReceived(a.tenantId, 'SILENT'));
      const { delivery, attempts } = await attemptsOf(id, 1);
      expect(attempts[0]).toMatchObject({ attempt: 1, errorClass: 'timeout', httpStatus: null, response: null });
      expect(attempts[0].durationMs).toBeGreaterThanOrEqual(450);
      expect(delivery).toMatchObject({ outcome: 'pending', attempts: 1, lastErrorClass: 'timeout' });
      // The schedule says 1 s (±10 %); the timeout rule makes it a minute from the attempt.
      const wait = Date.parse(delivery.nextAttemptAt as string) - Date.parse(attempts[0].at as string);
      expect(wait).toBeGreaterThanOrEqual(60_000);
      expect(wait).toBeLessThan(61_000);
      // One request so far (HttpEgress may open an idle spare connection, which sends nothing).
      expect(requests).toBe(1);
    } finally {
      for (const s of sockets) s.destroy();
      await closeServer(silent);
    }
  });

  it('a 429 answer also waits at least a minute', async () => {
    const busy = await new FakeEndpoint().start();
    busy.handler = () => ({ status: 429 });
    try {
      const id = await integration('BUSY', `${busy.url}/busy`, { retryScheduleSeconds: [1, 1] });
      await probe.publish(messageReceived(a.tenantId, 'BUSY'));
      const { delivery, attempts } = await attemptsOf(id, 1);
      expect(attempts[0]).toMatchObject({ errorClass: 'http_status', httpStatus: 429 });
      expect(Date.parse(delivery.nextAttemptAt as string) - Date.parse(attempts[0].at as string)).toBeGreaterThanOrEqual(60_000);
    } finally {
      await busy.close();
    }
  });

  describe('https with a self-signed certificate', () => {
    let dir: string;
    let secure: HttpsServer;
    let port: number;
    let requests = 0;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'dispatcher-tls-'));
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
        '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      ], { stdio: 'ignore' });
      secure = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_req, res) => {
        requests++;
        res.end('{}');
      });
      port = await listen(secure);
    });

    afterAll(async () => {
      await closeServer(secure);
      rmSync(dir, { recursive: true, force: true });
    });

    it('the untrusted certificate is logged as tls, retried on the schedule, and no request reaches the server', async () => {
      const id = await integration('TLS', `https://127.0.0.1:${port}/hook`, { retryScheduleSeconds: [1] });
      await probe.publish(messageReceived(a.tenantId, 'TLS'));
      const { delivery, attempts } = await attemptsOf(id, 2);
      expect(attempts.map((x) => x.errorClass)).toEqual(['tls', 'tls']);
      expect(attempts[0].error).toContain('tls');
      await expectEventually(async () => {
        const list = await call('GET', `/integrations/${id}/deliveries`);
        expect(list.body[0]).toMatchObject({ id: delivery.id, outcome: 'failed', attempts: 2, lastErrorClass: 'tls' });
      }, { timeoutMs: 10_000 });
      expect(requests).toBe(0);
    });
  });

  it('an address the egress policy forbids (cloud metadata, a private network) is blocked: failed at once, no retry, the reason logged', async () => {
    const metadataId = await integration('METADATA', 'http://169.254.169.254/latest/meta-data/', { retryScheduleSeconds: [1, 1] });
    const privateId = await integration('PRIVATE', 'http://10.11.12.13:8080/hook', { retryScheduleSeconds: [1, 1] });
    await probe.publish(messageReceived(a.tenantId, 'METADATA'), messageReceived(a.tenantId, 'PRIVATE'));
    for (const id of [metadataId, privateId]) {
      const { delivery, attempts } = await attemptsOf(id, 1);
      expect(attempts[0]).toMatchObject({ attempt: 1, errorClass: 'blocked', httpStatus: null, response: null });
      expect(attempts[0].error).toMatch(/block|not allowed|refused|private|metadata/i);
      // Not retried: a blocked address stays blocked.
      await expectEventually(async () => {
        const list = await call('GET', `/integrations/${id}/deliveries`);
        expect(list.body).toMatchObject([{ id: delivery.id, outcome: 'failed', attempts: 1, lastErrorClass: 'blocked' }]);
      }, { timeoutMs: 10_000 });
    }
  });

  it('a host that does not resolve is dns; a port nobody listens on is connection; both retried on the schedule', async () => {
    const closed = createTcpServer();
    const port = await listen(closed);
    await closeServer(closed);
    const dnsId = await integration('NODNS', 'http://elo-no-such-host.invalid/hook', { retryScheduleSeconds: [1] });
    const connId = await integration('REFUSED', `http://127.0.0.1:${port}/hook`, { retryScheduleSeconds: [1] });
    await probe.publish(messageReceived(a.tenantId, 'NODNS'), messageReceived(a.tenantId, 'REFUSED'));

    const dns = await attemptsOf(dnsId, 2);
    expect(dns.attempts.map((x) => x.errorClass)).toEqual(['dns', 'dns']);
    expect(dns.attempts[0].error).toContain('elo-no-such-host.invalid');
    const conn = await attemptsOf(connId, 2);
    expect(conn.attempts.map((x) => x.errorClass)).toEqual(['connection', 'connection']);
    // Second attempts came on the 1 s schedule (±10 %), not after the minute kept for timeouts.
    for (const { attempts } of [dns, conn]) {
      const gap = Date.parse(attempts[1].at as string) - Date.parse(attempts[0].at as string);
      expect(gap).toBeGreaterThanOrEqual(850);
      expect(gap).toBeLessThan(15_000);
    }
  });
});
