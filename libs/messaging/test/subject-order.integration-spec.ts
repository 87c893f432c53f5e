import type { CloudEvent } from '@elo/contracts';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import type { BatchHandler } from '../src/types';
import { counts, migrate, recordEffects, startNode, type BusNode } from './harness';

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
    // Many small commits, each waking the relay's loops together.
    for (let i = 0; i < total; i += 6) {
      await node.ds.transaction((m) =>
        node.outbox.add(m, Array.from({ length: 6 }, (_, j) => node.outbox.event({
          type: 'chat.conversation.closed', tenantId: 'tenant-a', subject: 'conv-1',
          data: { conversationId: '00000000-0000-4000-8000-000000000001', channelId: '00000000-0000-4000-8000-000000000002', reason: String(i + j) },
        }))),
      );
    }
    await expectEventually(async () => expect((await counts(node.ds)).total).toBe(total), { timeoutMs: 30_000 });
    expect(got).toEqual(Array.from({ length: total }, (_, i) => i));
  }, 60_000);
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
    // Small commits, one replica then the other, each waking its own relay (or, not leading, the leader).
    for (let i = 0; i < total; i += 6) await write(i % 12 === 0 ? a : b, i, 6);
    await expectEventually(async () => expect((await counts(a.ds)).total).toBe(total), { timeoutMs: 30_000 });
    expect(got).toEqual(Array.from({ length: total }, (_, i) => i));
  }, 60_000);

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
