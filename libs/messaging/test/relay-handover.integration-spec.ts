import type { CloudEvent } from '@elo/contracts';
import { createTestInfra, expectEventually, startTcpProxy, viaProxy, type TcpProxy, type TestInfra } from '@elo/testing';
import { Client } from 'pg';
import pino from 'pino';
import type { BatchHandler } from '../src/types';
import { migrate, recordEffects, SCHEMA, startNode, type BusNode } from './harness';

/**
 * A lease handover while the old leader still has a claim open: its lease connection is gone (the server freed its
 * advisory lock) but the pool connection holding the claim's transaction is not. The old leader's lease connection
 * (and, where a test needs it, its broker or pool connection) goes through a proxy the test cuts or freezes.
 */

/** A node without a relay: writes the test's events (NOTIFYing the leader) and consumes them one batch at a time, in queue order. */
async function startConsumer(infra: TestInfra, got: number[]): Promise<BusNode> {
  return startNode({
    databaseUrl: infra.databaseUrl,
    amqpUrl: infra.amqpUrl,
    relay: false,
    handler: {
      type: 'chat.conversation.closed', batch: true,
      fn: (async (events: CloudEvent[], ctx) => {
        for (const e of events) got.push(Number((e.data as { reason: string }).reason));
        await recordEffects(events, ctx);
      }) satisfies BatchHandler,
    },
    concurrency: 1,
  });
}

/** Writes `n` events of one subject in one transaction, their reasons `from`, `from + 1`, … */
const write = (node: BusNode, from: number, n: number) =>
  node.ds.transaction((m) =>
    node.outbox.add(m, Array.from({ length: n }, (_, j) => node.outbox.event({
      type: 'chat.conversation.closed', tenantId: 'tenant-a', subject: 'conv-1',
      data: { conversationId: '00000000-0000-4000-8000-000000000001', channelId: '00000000-0000-4000-8000-000000000002', reason: String(from + j) },
    }))),
  );

/** The outbox's rows, and how many of them no claim holds (a claim's open transaction locks its rows). */
async function claimable(node: BusNode): Promise<{ pending: number; unlocked: number }> {
  const [r] = await node.ds.query(
    `SELECT (SELECT count(*)::int FROM "${SCHEMA}".outbox) AS pending,
            (SELECT count(*)::int FROM (SELECT 1 FROM "${SCHEMA}".outbox FOR UPDATE SKIP LOCKED) l) AS unlocked`,
  );
  return r as { pending: number; unlocked: number };
}

/** A proxy in front of the server at `url`'s host and port. */
function proxyFor(url: string, defaultPort: number): Promise<TcpProxy> {
  const u = new URL(url);
  return startTcpProxy(u.hostname, Number(u.port || defaultPort));
}

/** What the relay logs, line by line (pino's JSON). */
function recordingLogger(lines: string[]) {
  return pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
}

/** Logged by a relay that took the lease while another session's claim is still open. */
const WAITING = 'waiting for the claims other sessions still hold';

/** A database and vhost of the describe's own, its events consumed into `got`, for the describe's tests. */
function ownBus(name: string, got: number[]): { infra: TestInfra; consumer: BusNode } {
  const own = {} as { infra: TestInfra; consumer: BusNode };
  beforeAll(async () => {
    own.infra = await createTestInfra(name);
    await migrate(own.infra.databaseUrl);
    own.consumer = await startConsumer(own.infra, got);
  });
  afterAll(async () => {
    await own.consumer?.stop();
    await own.infra?.cleanup();
  });
  return own;
}

describe('relay: a new leader publishes nothing past an event the old leader still held', () => {
  const got: number[] = [];
  const own = ownBus('relay-handover', got);

  it("the old leader's claim rolls back after the lease changed hands: its events still go out before the later ones", async () => {
    const pgProxy = await proxyFor(own.infra.databaseUrl, 5432);
    const amqpProxy = await proxyFor(own.infra.amqpUrl, 5672);
    const lines: string[] = [];
    let old: BusNode | undefined;
    let next: BusNode | undefined;
    try {
      // The old leader: its claims' pool connection direct (it stays up), its lease connection and its broker link through
      // proxies. Its confirms are awaited for two minutes: the test, not a timer, decides when its batch fails.
      old = await startNode({
        databaseUrl: own.infra.databaseUrl,
        relayDatabaseUrl: viaProxy(own.infra.databaseUrl, pgProxy),
        amqpUrl: viaProxy(own.infra.amqpUrl, amqpProxy),
        relayBatchSize: 3,
        relayConcurrency: 1,
        relayPollMs: 100,
        relayConfirmTimeoutMs: 120_000,
        relayLeaseGraceMs: 120_000,
      });
      await expectEventually(() => expect(old!.relay.isLeading).toBe(true), { timeoutMs: 15_000 });
      amqpProxy.freeze();
      await write(own.consumer, 0, 3);
      // Claimed and published into the dead link: the rows are locked by the claim's open transaction.
      await expectEventually(async () => {
        old!.relay.kick();
        expect(await claimable(own.consumer)).toEqual({ pending: 3, unlocked: 0 });
      }, { timeoutMs: 15_000, intervalMs: 20 });
      // Its lease connection breaks: the server frees the lease; the claim's connection lives on.
      pgProxy.pause();
      await expectEventually(() => expect(old!.relay.isLeading).toBe(false), { timeoutMs: 15_000 });
      await write(own.consumer, 3, 3);
      next = await startNode({ databaseUrl: own.infra.databaseUrl, amqpUrl: own.infra.amqpUrl, relayPollMs: 100, relayLogger: recordingLogger(lines) });
      // The new leader has had its chance: it published the later events (skipping the locked ones), or it says it waits.
      await expectEventually(() => expect(got.length > 0 || lines.some((l) => l.includes(WAITING))).toBe(true), { timeoutMs: 20_000 });
      // The old leader's batch fails (its broker link cut): the claim rolls back, its three events are pending again.
      amqpProxy.pause();
      await expectEventually(() => expect(got).toHaveLength(6), { timeoutMs: 20_000 });
      expect(got).toEqual([0, 1, 2, 3, 4, 5]);
    } finally {
      await amqpProxy.close();
      await pgProxy.close();
      await old?.stop();
      await next?.stop();
    }
  }, 90_000);
});

describe('relay: a replica that lost its lease publishes nothing more', () => {
  const got: number[] = [];
  const own = ownBus('relay-lease-lost', got);

  it("neither a claim whose statement was under way when the lease went, nor one waiting for its turn", async () => {
    const pgProxy = await proxyFor(own.infra.databaseUrl, 5432);
    const blocker = new Client({ connectionString: own.infra.databaseUrl });
    await blocker.connect();
    const [{ pid: blockerPid }] = (await blocker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows;
    let old: BusNode | undefined;
    /**
     * The clients of this database that are not idle (in a transaction, as a relay's claims are, or a statement), the
     * blocker and the asking session aside. Not asked on the blocker: in a transaction, pg_stat_activity stays as it was first read.
     */
    const activity = async () =>
      (await own.consumer.ds.query(
        `SELECT state, wait_event_type AS wait, query FROM pg_stat_activity
          WHERE datname = current_database() AND pid NOT IN (pg_backend_pid(), $1) AND backend_type = 'client backend' AND state <> 'idle'`,
        [blockerPid],
      )) as Array<{ state: string; wait: string | null; query: string }>;
    try {
      await write(own.consumer, 0, 6);
      // The table locked (reads still go), so the relay's first claim waits in its statement, holding the turn.
      await blocker.query('BEGIN');
      await blocker.query(`LOCK TABLE "${SCHEMA}".outbox IN EXCLUSIVE MODE`);
      old = await startNode({
        databaseUrl: own.infra.databaseUrl,
        relayDatabaseUrl: viaProxy(own.infra.databaseUrl, pgProxy),
        amqpUrl: own.infra.amqpUrl,
        relayBatchSize: 3,
        relayConcurrency: 2,
        relayPollMs: 100,
        relayLeaseGraceMs: 120_000,
      });
      await expectEventually(() => expect(old!.relay.isLeading).toBe(true), { timeoutMs: 15_000 });
      // One claim waits for the table, the other (begun, the poll woke the second loop) for its turn.
      await expectEventually(async () => {
        const a = await activity();
        expect(a.filter((s) => s.wait === 'Lock' && s.query.includes('DELETE FROM'))).toHaveLength(1);
        expect(a.filter((s) => s.state === 'idle in transaction' && s.query.startsWith('SET LOCAL'))).toHaveLength(1);
      }, { timeoutMs: 15_000 });
      pgProxy.pause();
      await expectEventually(() => expect(old!.relay.isLeading).toBe(false), { timeoutMs: 15_000 });
      await blocker.query('COMMIT');
      // Both claims have ended (published, or rolled back and given up) ...
      await expectEventually(async () => expect(await activity()).toEqual([]), { timeoutMs: 15_000 });
      // ... and every event is still there, unpublished, for whichever replica takes the lease next.
      expect(await claimable(own.consumer)).toEqual({ pending: 6, unlocked: 6 });
    } finally {
      await blocker.end().catch(() => undefined);
      await pgProxy.close();
      await old?.stop();
    }
  }, 60_000);
});

describe("relay: a claim whose client is gone does not hold its events for the operating system's keepalive", () => {
  const got: number[] = [];
  const own = ownBus('relay-dead-claim', got);

  it("the server ends it once confirmTimeoutMs and a margin passed: the new leader then publishes its events first", async () => {
    const leaseProxy = await proxyFor(own.infra.databaseUrl, 5432);
    const poolProxy = await proxyFor(own.infra.databaseUrl, 5432);
    const amqpProxy = await proxyFor(own.infra.amqpUrl, 5672);
    let old: BusNode | undefined;
    let next: BusNode | undefined;
    try {
      old = await startNode({
        databaseUrl: viaProxy(own.infra.databaseUrl, poolProxy),
        relayDatabaseUrl: viaProxy(own.infra.databaseUrl, leaseProxy),
        amqpUrl: viaProxy(own.infra.amqpUrl, amqpProxy),
        relayBatchSize: 3,
        relayConcurrency: 1,
        relayPollMs: 100,
        relayConfirmTimeoutMs: 2_000,
        relayLeaseGraceMs: 120_000,
      });
      await expectEventually(() => expect(old!.relay.isLeading).toBe(true), { timeoutMs: 15_000 });
      amqpProxy.freeze();
      await write(own.consumer, 0, 3);
      await expectEventually(async () => {
        old!.relay.kick();
        expect(await claimable(own.consumer)).toEqual({ pending: 3, unlocked: 0 });
      }, { timeoutMs: 15_000, intervalMs: 20 });
      // The old leader's host is gone: its pool's links go silent (the server still sees the claim's session, idle in its
      // transaction, and nothing asks that session's client for a sign of life) and its lease is freed (the lease's
      // session has keepalives).
      poolProxy.freeze();
      leaseProxy.pause();
      await write(own.consumer, 3, 3);
      next = await startNode({ databaseUrl: own.infra.databaseUrl, amqpUrl: own.infra.amqpUrl, relayPollMs: 100 });
      // The claim's session ends 2 s + the margin after it went idle; without that, its rows stayed locked for hours.
      await expectEventually(() => expect(got).toHaveLength(6), { timeoutMs: 45_000 });
      expect(got).toEqual([0, 1, 2, 3, 4, 5]);
    } finally {
      await amqpProxy.close();
      await poolProxy.close();
      await leaseProxy.close();
      await old?.stop();
      await next?.stop();
    }
  }, 90_000);
});
