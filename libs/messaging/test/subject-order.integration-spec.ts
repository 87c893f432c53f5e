import type { CloudEvent } from '@elo/contracts';
import type { ConsumeMessage } from 'amqplib';
import { createTestInfra, expectEventually, startTcpProxy, viaProxy, type TestInfra } from '@elo/testing';
import { ParkedEvents } from '../src/parked-events';
import { queueNames } from '../src/topology';
import type { BatchHandler, SingleHandler } from '../src/types';
import { closedEvent, counts, migrate, recordEffects, SERVICE, startNode, type BusNode } from './harness';

describe('consumer: events of one subject are never in two concurrent batches', () => {
  let infra: TestInfra;
  let node: BusNode;
  const subjects = ['conv-a', 'conv-b', 'conv-c', 'conv-d'];
  const seen = new Map<string, number[]>();
  const inBatch = new Set<string>();
  let overlaps = 0;

  // Small batches, four at once, and each batch takes a while: without the rule, batches holding the
  // same subjects would run side by side.
  const handler: BatchHandler = async (events: CloudEvent[], ctx) => {
    const mine = [...new Set(events.filter((e) => e.subject).map((e) => `${e.tenantid}/${e.subject}`))];
    for (const s of mine) if (inBatch.has(s)) overlaps++;
    for (const s of mine) inBatch.add(s);
    try {
      for (const e of events) {
        const seq = Number((e.data as { reason: string }).reason);
        seen.set(e.subject!, [...(seen.get(e.subject!) ?? []), seq]);
      }
      await ctx.manager.query('SELECT pg_sleep(0.01)');
      await recordEffects(events, ctx);
    } finally {
      for (const s of mine) inBatch.delete(s);
    }
  };

  beforeAll(async () => {
    infra = await createTestInfra('subject-order');
    await migrate(infra.databaseUrl);
    node = await startNode({
      databaseUrl: infra.databaseUrl,
      amqpUrl: infra.amqpUrl,
      handler: { type: 'chat.conversation.closed', batch: true, fn: handler },
      batchSize: 5,
      concurrency: 4,
      prefetch: 200,
    });
  });

  afterAll(async () => {
    await node?.stop();
    await infra?.cleanup();
  });

  it('handles each subject\'s events once each, in the order they were published', async () => {
    const total = 200;
    await node.ds.transaction((m) =>
      node.outbox.add(
        m,
        Array.from({ length: total }, (_, i) =>
          node.outbox.event({
            type: 'chat.conversation.closed',
            tenantId: 'tenant-a',
            // Every fifth event has no subject: those may go in any batch.
            subject: i % 5 === 4 ? undefined : subjects[i % subjects.length],
            data: { conversationId: '00000000-0000-4000-8000-000000000001', channelId: '00000000-0000-4000-8000-000000000002', reason: String(i) },
          }),
        ),
      ),
    );
    await expectEventually(async () => expect((await counts(node.ds)).total).toBe(total), { timeoutMs: 30_000 });
    expect(overlaps).toBe(0);
    subjects.forEach((s, k) => {
      const published = Array.from({ length: total }, (_, i) => i).filter((i) => i % 5 !== 4 && i % subjects.length === k);
      expect(seen.get(s)).toEqual(published);
    });
  }, 60_000);
});

describe('relay: batches claimed at once are published in the order their events were written', () => {
  let infra: TestInfra;
  let node: BusNode;
  const got: number[] = [];

  beforeAll(async () => {
    infra = await createTestInfra('relay-order');
    await migrate(infra.databaseUrl);
    // Batches of three, four in flight: claims overlap all the time.
    node = await startNode({
      databaseUrl: infra.databaseUrl,
      amqpUrl: infra.amqpUrl,
      handler: {
        type: 'chat.conversation.closed', batch: true,
        fn: (async (events: CloudEvent[], ctx) => {
          for (const e of events) got.push(Number((e.data as { reason: string }).reason));
          await recordEffects(events, ctx);
        }) satisfies BatchHandler,
      },
      relayBatchSize: 3,
      relayConcurrency: 4,
      concurrency: 1,
    });
  });

  afterAll(async () => {
    await node?.stop();
    await infra?.cleanup();
  });

  it("one subject's events reach the consumer in the order they were written, across the relay's concurrent batches", async () => {
    const total = 600;
    // Many small commits, each waking the relay's loops together. 200 batches of three, each a transaction and a wait
    // for the broker's confirms: a few seconds, many more on a loaded machine.
    for (let i = 0; i < total; i += 6) {
      await node.ds.transaction((m) =>
        node.outbox.add(m, Array.from({ length: 6 }, (_, j) => node.outbox.event({
          type: 'chat.conversation.closed', tenantId: 'tenant-a', subject: 'conv-1',
          data: { conversationId: '00000000-0000-4000-8000-000000000001', channelId: '00000000-0000-4000-8000-000000000002', reason: String(i + j) },
        }))),
      );
    }
    await expectEventually(async () => expect((await counts(node.ds)).total).toBe(total), { timeoutMs: 60_000 });
    expect(got).toEqual(Array.from({ length: total }, (_, i) => i));
  }, 120_000);
});

describe('relay: two replicas publish one outbox in the order its events were written', () => {
  let infra: TestInfra;
  let a: BusNode;
  let b: BusNode;
  const got: number[] = [];

  beforeAll(async () => {
    infra = await createTestInfra('relay-replicas');
    await migrate(infra.databaseUrl);
    const relay = { relayBatchSize: 3, relayConcurrency: 2, relayPollMs: 100 };
    // Replica a consumes (one batch at a time, so what it sees is the queue's order); both relay.
    a = await startNode({
      databaseUrl: infra.databaseUrl,
      amqpUrl: infra.amqpUrl,
      handler: {
        type: 'chat.conversation.closed', batch: true,
        fn: (async (events: CloudEvent[], ctx) => {
          for (const e of events) got.push(Number((e.data as { reason: string }).reason));
          await recordEffects(events, ctx);
        }) satisfies BatchHandler,
      },
      concurrency: 1,
      ...relay,
    });
    b = await startNode({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, ...relay });
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await infra?.cleanup();
  });

  const write = (node: BusNode, from: number, n: number) =>
    node.ds.transaction((m) =>
      node.outbox.add(m, Array.from({ length: n }, (_, j) => node.outbox.event({
        type: 'chat.conversation.closed', tenantId: 'tenant-a', subject: 'conv-1',
        data: { conversationId: '00000000-0000-4000-8000-000000000001', channelId: '00000000-0000-4000-8000-000000000002', reason: String(from + j) },
      }))),
    );

  it("one subject's events written through both replicas reach the consumer in the order they were written", async () => {
    await expectEventually(async () => expect([a.relay.isLeading, b.relay.isLeading].filter(Boolean)).toHaveLength(1));
    const total = 600;
    // Small commits, one replica then the other, each waking its own relay (or, not leading, the leader). As above,
    // 200 batches of three: 3 s on a quiet machine, 28 s on a loaded one.
    for (let i = 0; i < total; i += 6) await write(i % 12 === 0 ? a : b, i, 6);
    await expectEventually(async () => expect((await counts(a.ds)).total).toBe(total), { timeoutMs: 60_000 });
    expect(got).toEqual(Array.from({ length: total }, (_, i) => i));
  }, 120_000);

  it('a replica whose lease connection cannot be opened publishes without the lease once leaseGraceMs passed, so nothing waits for it', async () => {
    const pg = new URL(infra.databaseUrl);
    const proxy = await startTcpProxy(pg.hostname, Number(pg.port || 5432));
    proxy.pause();
    // No other relay: the only one left has no lease connection (its URL refuses every connection).
    for (const n of [a, b]) await n.relay.stop();
    const alone = await startNode({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, relayDatabaseUrl: viaProxy(infra.databaseUrl, proxy), relayLeaseGraceMs: 1_000 });
    try {
      const before = (await counts(a.ds)).total;
      await write(alone, 20_000, 6);
      await expectEventually(async () => expect((await counts(a.ds)).total).toBe(before + 6), { timeoutMs: 10_000 });
      expect(alone.relay.isLeading).toBe(false);
    } finally {
      await alone.stop();
      await proxy.close();
      for (const n of [a, b]) await n.relay.start();
    }
  }, 30_000);

  it('when the leading replica stops, the other takes the lease and publishes', async () => {
    const leader = a.relay.isLeading ? a : b;
    const other = leader === a ? b : a;
    await leader.relay.stop();
    await expectEventually(async () => expect(other.relay.isLeading).toBe(true), { timeoutMs: 10_000 });
    const before = (await counts(a.ds)).total;
    await write(other, 10_000, 6);
    await expectEventually(async () => expect((await counts(a.ds)).total).toBe(before + 6), { timeoutMs: 10_000 });
    await leader.relay.start();
    expect(leader.relay.isLeading).toBe(false);
  }, 30_000);
});

describe('ordered handlers: one subject\'s events keep their order with two replicas consuming', () => {
  let infra: TestInfra;
  const nodes = new Map<string, BusNode>();
  const subjects = ['conv-a', 'conv-b', 'conv-c'];
  /** Each handling as it starts: which replica, which subject, which event. */
  const handled: Array<{ node: string; subject: string; seq: number }> = [];

  const handlerOf = (node: string): BatchHandler => async (events: CloudEvent[], ctx) => {
    for (const e of events) handled.push({ node, subject: e.subject!, seq: Number((e.data as { reason: string }).reason) });
    // Long enough for the other replica's batches to overtake, were it consuming too.
    await ctx.manager.query('SELECT pg_sleep(0.005)');
    await recordEffects(events, ctx);
  };

  const produceOrdered = async (node: BusNode, from: number, n: number) => {
    for (let i = from; i < from + n; i += 10) {
      await node.ds.transaction((m) => node.outbox.add(m, Array.from({ length: 10 }, (_, j) => node.outbox.event({
        type: 'chat.conversation.closed', tenantId: 'tenant-a', subject: subjects[(i + j) % subjects.length],
        data: { conversationId: '00000000-0000-4000-8000-000000000001', channelId: '00000000-0000-4000-8000-000000000002', reason: String(i + j) },
      }))));
    }
  };

  const inOrder = (seqs: number[]) => expect(seqs).toEqual([...seqs].sort((x, y) => x - y));

  beforeAll(async () => {
    infra = await createTestInfra('ordered-replicas');
    await migrate(infra.databaseUrl);
    for (const name of ['a', 'b']) {
      nodes.set(name, await startNode({
        databaseUrl: infra.databaseUrl,
        amqpUrl: infra.amqpUrl,
        handler: { type: 'chat.conversation.closed', batch: true, ordered: true, fn: handlerOf(name) },
        // Small batches, two at once, a small prefetch: without the ordered queue both replicas take turns at it.
        batchSize: 5,
        concurrency: 2,
        prefetch: 4,
      }));
    }
  });

  afterAll(async () => {
    for (const node of nodes.values()) await node.stop();
    await infra?.cleanup();
  });

  it("handles each subject's events once each, in the order they were published, on one replica at a time", async () => {
    const total = 300;
    await produceOrdered(nodes.get('a')!, 0, total);
    await expectEventually(async () => expect((await counts(nodes.get('a')!.ds)).total).toBe(total), { timeoutMs: 30_000 });
    for (const s of subjects) inOrder(handled.filter((h) => h.subject === s).map((h) => h.seq));
    expect(new Set(handled.map((h) => h.node)).size).toBe(1);
  }, 60_000);

  it('when the consuming replica stops, the other takes the ordered queue over', async () => {
    const active = handled[0]!.node;
    const standby = active === 'a' ? 'b' : 'a';
    await nodes.get(active)!.stop();
    nodes.delete(active);
    const before = (await counts(nodes.get(standby)!.ds)).total;
    await produceOrdered(nodes.get(standby)!, 1_000, 30);
    await expectEventually(async () => expect((await counts(nodes.get(standby)!.ds)).total).toBe(before + 30), { timeoutMs: 15_000 });
    const after = handled.filter((h) => h.seq >= 1_000);
    expect(new Set(after.map((h) => h.node))).toEqual(new Set([standby]));
    for (const s of subjects) inOrder(after.filter((h) => h.subject === s).map((h) => h.seq));
  }, 30_000);
});

describe("ordered handlers: a failed event is retried through the ordered queue's own retry queue, parked and replayed", () => {
  let infra: TestInfra;
  let node: BusNode;
  let failuresLeft = 0;
  /**
   * Every message the consumer took, as it took it: the queue, its message id (the event's) and the queues it
   * expired from on its way back (`x-death`). A record, so the route is checked after the fact: the copy sits in
   * the retry queue for its delay only, and a test polling the queue's depth could miss it on a loaded machine.
   */
  const arrivals: Array<{ queue: string; id: unknown; expiredIn: unknown[] }> = [];

  beforeAll(async () => {
    infra = await createTestInfra('ordered-retry');
    await migrate(infra.databaseUrl);
    node = await startNode({
      databaseUrl: infra.databaseUrl,
      amqpUrl: infra.amqpUrl,
      retryDelaysMs: [1_500],
      handler: {
        type: 'chat.conversation.closed', batch: false, ordered: true,
        fn: (async (event: CloudEvent, ctx) => {
          if (failuresLeft-- > 0) throw new Error('CRM is down');
          await recordEffects([event], ctx);
        }) satisfies SingleHandler,
      },
    });
    const host = node.consumers as unknown as { receive(ch: unknown, queue: string, msg: ConsumeMessage): void };
    const receive = host.receive.bind(host);
    host.receive = (ch, queue, msg) => {
      const deaths = (msg.properties.headers?.['x-death'] ?? []) as Array<{ queue: string }>;
      arrivals.push({ queue, id: msg.properties.messageId, expiredIn: deaths.map((d) => d.queue) });
      receive(ch, queue, msg);
    };
  });

  afterAll(async () => {
    await node?.stop();
    await infra?.cleanup();
  });

  it('a failed event waits in the ordered queue\'s retry queue, is handled from there, and once parked is replayed', async () => {
    const q = queueNames(SERVICE);
    const ch = await node.bus.createConfirmChannel();
    try {
      failuresLeft = 1;
      const retried = closedEvent(node, 'retried');
      await node.ds.transaction((m) => node.outbox.add(m, [retried]));
      await expectEventually(async () => expect((await counts(node.ds)).total).toBe(1), { timeoutMs: 10_000 });
      // Taken from the ordered queue, failed, and taken from it again once its delay ran out in the ordered
      // queue's own retry queue (not the service queue's).
      expect(arrivals.filter((a) => a.id === retried.id)).toEqual([
        { queue: q.ordered, id: retried.id, expiredIn: [] },
        { queue: q.ordered, id: retried.id, expiredIn: [q.orderedRetry(1_500)] },
      ]);
      expect((await ch.checkQueue(q.retry(1_500))).messageCount).toBe(0);

      failuresLeft = 2;
      const e = closedEvent(node, 'parked');
      await node.ds.transaction((m) => node.outbox.add(m, [e]));
      const parked = new ParkedEvents(node.bus, SERVICE);
      await expectEventually(async () => expect((await parked.list()).map((p) => p.eventId)).toEqual([e.id]), { timeoutMs: 10_000 });
      expect(await parked.replay([e.id])).toBe(1);
      await expectEventually(async () => expect((await counts(node.ds)).total).toBe(2), { timeoutMs: 10_000 });
    } finally {
      await ch.close();
    }
  }, 30_000);
});
