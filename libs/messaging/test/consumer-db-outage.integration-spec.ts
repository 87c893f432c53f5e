import { busMetrics } from '@elo/observability';
import { createTestInfra, expectEventually, startTcpProxy, viaProxy, type TcpProxy, type TestInfra } from '@elo/testing';
import { connect } from 'amqplib';
import pino from 'pino';
import { BusProbe } from '../src/bus-probe';
import { queueNames } from '../src/topology';
import { closedEvent, counts, migrate, recordEffects, SCHEMA, SERVICE, startNode, type BusNode } from './harness';

/** The consumer's database away: what it holds is neither acknowledged nor retried nor parked; it is handled once the database is back. */
describe('consumer: PostgreSQL unreachable while events arrive', () => {
  let infra: TestInfra;
  let pgProxy: TcpProxy;
  let node: BusNode | undefined;

  beforeAll(async () => {
    infra = await createTestInfra('bus_consumer_pg_down');
    await migrate(infra.databaseUrl);
    const pg = new URL(infra.databaseUrl);
    pgProxy = await startTcpProxy(pg.hostname, Number(pg.port || 5432));
  });

  afterAll(async () => {
    pgProxy?.resume();
    await node?.stop();
    await pgProxy?.close();
    await infra?.cleanup();
  });

  it('retries the transaction, not the events: once the database is back each is handled once, and none went to retry or the parking lot', async () => {
    const lines: string[] = [];
    const consumerLogger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const failedTries = () => lines.filter((l) => l.includes('consumer transaction failed')).length;
    // Retries after 100 and 200 ms: were an outage taken for a failing handler, the events would be parked within a second.
    node = await startNode({
      databaseUrl: viaProxy(infra.databaseUrl, pgProxy), amqpUrl: infra.amqpUrl, relay: false, retryDelaysMs: [100, 200], consumerLogger,
      handler: { type: 'chat.conversation.closed', batch: true, fn: recordEffects },
    });
    await node.ds.query(`TRUNCATE "${SCHEMA}".effects`);
    const parked0 = await parkedCount();
    const events = Array.from({ length: 20 }, (_, i) => closedEvent(node!, `pg-down-${i}`));
    const probe = await BusProbe.connect(infra.amqpUrl, []);
    pgProxy.pause();
    const pausedAt = Date.now();
    try {
      await probe.publish(...events);
      // An outage of three seconds at least, with failed tries in it: ten times what the retry schedule takes to park an event.
      await expectEventually(() => {
        expect(failedTries()).toBeGreaterThanOrEqual(3);
        expect(Date.now() - pausedAt).toBeGreaterThanOrEqual(3_000);
      }, { timeoutMs: 30_000, intervalMs: 100 });
    } finally {
      pgProxy.resume();
      await probe.close();
    }
    await expectEventually(async () => expect(await counts(node!.ds)).toEqual({ total: 20, distinct: 20 }), { timeoutMs: 30_000 });
    expect(await parkedCount()).toBe(parked0);
    const model = await connect(infra.amqpUrl);
    try {
      const ch = await model.createChannel();
      const q = queueNames(SERVICE);
      expect((await ch.checkQueue(q.dead)).messageCount).toBe(0);
      for (const ms of [100, 200]) expect((await ch.checkQueue(q.retry(ms))).messageCount).toBe(0);
    } finally {
      await model.close();
    }
  }, 90_000);
});

async function parkedCount(): Promise<number> {
  return ((await busMetrics.parked.get()).values as Array<{ value: number }>).reduce((n, v) => n + v.value, 0);
}
