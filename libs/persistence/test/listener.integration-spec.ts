import net from 'node:net';
import { createTestInfra, expectEventually, startTcpProxy, viaProxy, type TestInfra } from '@elo/testing';
import { Client } from 'pg';
import { PgListener } from '../src';

describe('PgListener', () => {
  let infra: TestInfra;
  let admin: Client;

  beforeAll(async () => {
    infra = await createTestInfra('pg-listener');
    admin = new Client({ connectionString: infra.databaseUrl });
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.end();
    await infra?.cleanup();
  });

  it('delivers notifications, and after its connection is killed reconnects, says so, and listens again', async () => {
    const got: Array<[string, string]> = [];
    let connected = 0;
    let lost = 0;
    const l = new PgListener({
      databaseUrl: infra.databaseUrl, channels: ['it_a', 'it_b'], applicationName: 'it-listener', retryMs: 100,
      onNotification: (ch, payload) => got.push([ch, payload]),
      onConnected: () => connected++,
      onLost: () => lost++,
    });
    try {
      await l.start();
      expect(l.connected).toBe(true);
      expect(connected).toBe(1);
      await admin.query(`SELECT pg_notify('it_a', 'one'), pg_notify('it_b', ''), pg_notify('it_c', 'not ours')`);
      await expectEventually(() => expect(got).toEqual([['it_a', 'one'], ['it_b', '']]));

      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'it-listener'`);
      await expectEventually(() => expect(lost).toBe(1));
      await expectEventually(() => expect(connected).toBe(2));
      expect(await l.ready(1_000)).toBe(true);
      await admin.query(`SELECT pg_notify('it_a', 'two')`);
      await expectEventually(() => expect(got.at(-1)).toEqual(['it_a', 'two']));
    } finally {
      await l.stop();
    }
    expect(l.connected).toBe(false);
    const [{ n }] = (await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'it-listener'`)).rows;
    expect(n).toBe(0);
  });

  it('notices a connection gone silently dead (no error, no end) by its check, and listens again on a new one', async () => {
    const pg = new URL(infra.databaseUrl);
    const proxy = await startTcpProxy(pg.hostname, Number(pg.port || 5432));
    const got: string[] = [];
    const lost: Error[] = [];
    let connected = 0;
    // checkMs is also the connect timeout and how long `SELECT 1` may take: 200 ms timed connections out on a loaded
    // machine (start() returned unconnected), and made a live connection look dead.
    const l = new PgListener({
      databaseUrl: viaProxy(infra.databaseUrl, proxy), channels: ['it_dead'], retryMs: 50, checkMs: 1_000,
      onNotification: (_ch, payload) => got.push(payload),
      onConnected: () => connected++,
      onLost: (err) => lost.push(err),
    });
    try {
      await l.start();
      expect(await l.ready(10_000)).toBe(true);
      const [lostBefore, connectedBefore] = [lost.length, connected];
      proxy.freeze();
      await admin.query(`SELECT pg_notify('it_dead', 'missed')`);
      // Found within two checks (one sent, unanswered for as long): a test deadline well below any TCP timeout.
      await expectEventually(() => expect(lost.slice(lostBefore).map((e) => e.message)[0]).toMatch(/no answer/));
      await expectEventually(() => expect(connected).toBeGreaterThan(connectedBefore));
      // Sent until heard: a notification sent while a connection is being replaced is lost by design (onConnected says so).
      await expectEventually(async () => {
        await admin.query(`SELECT pg_notify('it_dead', 'heard')`);
        expect(got).toContain('heard');
      });
      expect(got.filter((p) => p !== 'heard')).toEqual([]);
    } finally {
      await l.stop();
      await proxy.close();
    }
  });

  it('stop() returns on a connection gone silently dead (its goodbye is never answered)', async () => {
    const pg = new URL(infra.databaseUrl);
    const proxy = await startTcpProxy(pg.hostname, Number(pg.port || 5432));
    const l = new PgListener({ databaseUrl: viaProxy(infra.databaseUrl, proxy), channels: ['it_dead'], checkMs: 1_000, onNotification: () => undefined });
    try {
      await l.start();
      // Connected first (the first attempt may time out on a loaded machine): a connection that never opened has no goodbye.
      expect(await l.ready(10_000)).toBe(true);
      proxy.freeze();
      let stopped = false;
      void l.stop().then(() => (stopped = true));
      // stop() waits checkMs for the goodbye's answer, then drops the socket: it returns, where it hung before.
      await expectEventually(() => expect(stopped).toBe(true));
      expect(l.connected).toBe(false);
    } finally {
      await proxy.close();
    }
  });

  it('gives a connection attempt up after checkMs when the server accepts and never answers, and tries again', async () => {
    const sockets: net.Socket[] = [];
    const mute = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
    const lost: Error[] = [];
    const l = new PgListener({
      databaseUrl: `postgres://postgres@127.0.0.1:${(mute.address() as net.AddressInfo).port}/x`,
      channels: ['it_a'], retryMs: 50, checkMs: 300, onNotification: () => undefined, onLost: (err) => lost.push(err),
    });
    try {
      const started = await Promise.race([l.start().then(() => 'returned'), new Promise((r) => setTimeout(() => r('still waiting'), 3_000))]);
      expect(started).toBe('returned');
      expect(l.connected).toBe(false);
      await expectEventually(() => expect(lost.length).toBeGreaterThanOrEqual(2));
      expect(lost[0]!.message).toMatch(/timeout/i);
    } finally {
      await l.stop();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => mute.close(() => r()));
    }
  });

  it('keeps retrying while the database cannot be reached, and ready() says false meanwhile', async () => {
    const url = new URL(infra.databaseUrl);
    url.pathname = '/no_such_database_here';
    let lost = 0;
    const l = new PgListener({ databaseUrl: url.toString(), channels: ['it_a'], retryMs: 50, onNotification: () => undefined, onLost: () => lost++ });
    try {
      await l.start();
      expect(l.connected).toBe(false);
      expect(await l.ready(200)).toBe(false);
      await expectEventually(() => expect(lost).toBeGreaterThanOrEqual(2));
    } finally {
      await l.stop();
    }
  });
});
