import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { connect, type ChannelModel } from 'amqplib';
import { BusProbe } from '../src/bus-probe';
import { ParkedEvents } from '../src/parked-events';
import { EVENTS_EXCHANGE, queueNames } from '../src/topology';
import { closedEvent, counts, migrate, produce, recordEffects, SCHEMA, SERVICE, startNode, startRecordingNode, startRetryingNode, type BusNode } from './harness';

describe('bus: poison events, missing queues and channels the broker closes', () => {
  let infra: TestInfra;
  let model: ChannelModel;
  const nodes: BusNode[] = [];

  beforeAll(async () => {
    infra = await createTestInfra('bus_faults');
    await migrate(infra.databaseUrl);
    model = await connect(infra.amqpUrl);
  });

  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.stop();
  });

  afterAll(async () => {
    await model?.close().catch(() => undefined);
    await infra?.cleanup();
  });

  it('an event whose id the inbox cannot store (a NUL in it, or too long for its index) is parked; the events beside it are handled', async () => {
    const node = await startRecordingNode(infra);
    nodes.push(node);
    const parked = new ParkedEvents(node.bus, SERVICE);
    const probe = await BusProbe.connect(infra.amqpUrl, []);
    try {
      const good = [closedEvent(node, 'ok-1'), closedEvent(node, 'ok-2'), closedEvent(node, 'ok-3')];
      const nul = { ...closedEvent(node, 'nul'), id: 'evil\u0000id' };
      // Random characters do not compress: past the btree's limit for an index row.
      const long = { ...closedEvent(node, 'long'), id: Array.from({ length: 3_000 }, () => String.fromCharCode(33 + Math.floor(Math.random() * 90))).join('') };
      await probe.publishBatched(good[0]!, nul, good[1]!);
      await probe.publishBatched(good[2]!, long);
      await expectEventually(async () => expect(await counts(node.ds)).toEqual({ total: 3, distinct: 3 }));
      const list = await expectEventually(async () => {
        const l = await parked.list();
        expect(l.map((p) => p.eventId).sort()).toEqual([nul.id, long.id].sort());
        return l;
      });
      expect(list.every((p) => p.type === 'chat.conversation.closed')).toBe(true);
      const ch = await model.createChannel();
      await expectEventually(async () => expect((await ch.checkQueue(SERVICE)).messageCount).toBe(0));
      await ch.purgeQueue(queueNames(SERVICE).dead);
      await ch.close();
    } finally {
      await probe.close();
    }
  });

  it('a failed event whose retry queue is gone is not lost: its message goes back to the queue and is handled when it comes back', async () => {
    const attempts: number[] = [];
    const node = await startRetryingNode(infra, (_event, ctx) => {
      attempts.push(ctx.attempt);
      if (attempts.length === 1) throw new Error('CRM is down');
    });
    nodes.push(node);
    await node.ds.query(`TRUNCATE "${SCHEMA}".effects`);
    // Someone deleted the first retry queue (an old schedule's queue cleaned up while a replica still uses it).
    const ch = await model.createChannel();
    await ch.deleteQueue(queueNames(SERVICE).retry(100));
    await ch.close();
    const probe = await BusProbe.connect(infra.amqpUrl, []);
    try {
      await probe.publish(closedEvent(node, 'flaky'));
      await expectEventually(async () => expect(await counts(node.ds)).toEqual({ total: 1, distinct: 1 }));
      // Came back whole, still its first attempt.
      expect(attempts).toEqual([1, 1]);
    } finally {
      await probe.close();
    }
  });

  it('the relay comes back when the broker closes its channel (its connection still up): nothing stays in the outbox', async () => {
    const node = await startNode({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, handler: { type: 'chat.conversation.closed', batch: true, fn: recordEffects } });
    nodes.push(node);
    await node.ds.query(`TRUNCATE "${SCHEMA}".effects`);
    // The exchange goes away: the relay's next publish gets its channel closed by the broker (404).
    const ch = await model.createChannel();
    await ch.deleteExchange(EVENTS_EXCHANGE);
    await ch.close();
    await produce(node, 10, 10);
    await expectEventually(async () => expect(await counts(node.ds)).toEqual({ total: 10, distinct: 10 }), { timeoutMs: 15_000 });
    expect(await node.relay.backlog()).toBe(0);
  });

  it('the consumer comes back when the broker cancels it (its queue deleted), with its queue declared again', async () => {
    const node = await startRecordingNode(infra);
    nodes.push(node);
    const ch = await model.createChannel();
    await ch.deleteQueue(SERVICE);
    await ch.close();
    const probe = await BusProbe.connect(infra.amqpUrl, []);
    try {
      const events = [closedEvent(node, 'after-1'), closedEvent(node, 'after-2')];
      await expectEventually(async () => {
        // checkQueue on a missing queue has the broker close this channel.
        const check = await model.createChannel();
        check.on('error', () => undefined);
        try {
          // Consumed again, not just declared: the consumer comes back after the queue's bindings, and an event published
          // between the queue's declaration and its bindings would be unroutable (lost to this queue).
          expect((await check.checkQueue(SERVICE)).consumerCount).toBeGreaterThan(0);
        } finally {
          await check.close().catch(() => undefined);
        }
      }, { timeoutMs: 15_000 });
      await probe.publish(...events);
      await expectEventually(async () => expect(await counts(node.ds)).toEqual({ total: 2, distinct: 2 }), { timeoutMs: 15_000 });
    } finally {
      await probe.close();
    }
  });
});
