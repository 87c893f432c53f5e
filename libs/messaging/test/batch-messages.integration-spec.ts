import type { CloudEvent } from '@elo/contracts';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { connect, type ChannelModel } from 'amqplib';
import { BusProbe } from '../src/bus-probe';
import { ParkedEvents } from '../src/parked-events';
import { EVENTS_EXCHANGE, queueNames } from '../src/topology';
import { BATCH_CONTENT_TYPE, EVENT_CONTENT_TYPE, MAX_BATCH_EVENTS } from '../src/wire';
import { closedEvent, counts, migrate, produce, recordEffects, SCHEMA, SERVICE, startNode, startRecordingNode, startRetryingNode, type BusNode } from './harness';

describe('bus: several events in one broker message (CloudEvents batch format)', () => {
  let infra: TestInfra;
  let model: ChannelModel;
  const nodes: BusNode[] = [];

  beforeAll(async () => {
    infra = await createTestInfra('bus_batch');
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

  /**
   * Waits until `queues` hold no ready message, then stops `node` and checks that the service queue still
   * holds none: an unacknowledged message would be ready again once its consumer's channel is closed.
   */
  const expectDrained = async (node: BusNode, queues: string[]) => {
    const ch = await model.createChannel();
    try {
      await expectEventually(async () => {
        for (const q of queues) expect([q, (await ch.checkQueue(q)).messageCount]).toEqual([q, 0]);
      });
      await node.stop();
      nodes.splice(nodes.indexOf(node), 1);
      expect((await ch.checkQueue(SERVICE)).messageCount).toBe(0);
    } finally {
      await ch.close();
    }
  };

  /** A node without a relay that records closed events, with its parking lot; effects emptied. */
  const startParkingNode = async () => {
    const node = await startRecordingNode(infra);
    nodes.push(node);
    return { node, parked: new ParkedEvents(node.bus, SERVICE) };
  };

  it('the relay sends a run of one type as batch messages of at most MAX_BATCH_EVENTS, in order, and a change of type starts a new message', async () => {
    const node = await startNode({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl });
    nodes.push(node);
    // A raw queue sees the messages as the broker carries them.
    const ch = await model.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, EVENTS_EXCHANGE, 'chat.conversation.*');
    const messages: Array<{ contentType: string; ids: string[] }> = [];
    await ch.consume(queue, (msg) => {
      if (!msg) return;
      const body = JSON.parse(msg.content.toString('utf8')) as { id: string } | Array<{ id: string }>;
      messages.push({ contentType: String(msg.properties.contentType), ids: Array.isArray(body) ? body.map((e) => e.id) : [body.id] });
    }, { noAck: true });
    // One transaction: 120 closed, 1 opened, 3 closed.
    const written: string[] = [];
    await node.ds.transaction(async (m) => {
      const events: CloudEvent[] = Array.from({ length: 120 }, (_, i) => closedEvent(node, `a${i}`));
      events.push(node.outbox.event({
        type: 'chat.conversation.opened',
        tenantId: 'tenant-a',
        data: { conversationId: '00000000-0000-4000-8000-000000000003', channelId: '00000000-0000-4000-8000-000000000002', provider: 'whatsapp', contact: { phone: '+5541999990000' }, queue: 'bot' },
      }));
      events.push(...Array.from({ length: 3 }, (_, i) => closedEvent(node, `b${i}`)));
      await node.outbox.add(m, events);
      written.push(...events.map((e) => e.id));
    });
    await expectEventually(async () => expect(messages.flatMap((x) => x.ids)).toHaveLength(124), { timeoutMs: 15_000 });
    expect(messages.flatMap((x) => x.ids)).toEqual(written);
    expect(messages.map((x) => x.ids.length)).toEqual([MAX_BATCH_EVENTS, MAX_BATCH_EVENTS, 120 - 2 * MAX_BATCH_EVENTS, 1, 3]);
    expect(messages.map((x) => x.contentType)).toEqual([BATCH_CONTENT_TYPE, BATCH_CONTENT_TYPE, BATCH_CONTENT_TYPE, EVENT_CONTENT_TYPE, BATCH_CONTENT_TYPE]);
    await ch.close();
  });

  it('handles every event of batch messages once, and acknowledges each message once all of its events are', async () => {
    const node = await startNode({
      databaseUrl: infra.databaseUrl,
      amqpUrl: infra.amqpUrl,
      // Consumer batches cut across broker messages: 7 events a transaction, 50 a message.
      batchSize: 7,
      handler: { type: 'chat.conversation.closed', batch: true, fn: recordEffects },
    });
    nodes.push(node);
    await node.ds.query(`TRUNCATE "${SCHEMA}".effects`);
    await produce(node, 500, 250);
    await expectEventually(async () => expect(await counts(node.ds)).toEqual({ total: 500, distinct: 500 }), { timeoutMs: 30_000 });
    await expectDrained(node, [SERVICE]);
  });

  it('one failing event of a batch message goes to retry alone; its neighbours are handled once, and it is handled when it comes back', async () => {
    let failuresLeft = 1;
    const seen: string[] = [];
    const node = await startRetryingNode(infra, (event) => {
      seen.push((event.data as { reason: string }).reason);
      if ((event.data as { reason: string }).reason === 'flaky' && failuresLeft-- > 0) throw new Error('CRM is down');
    });
    nodes.push(node);
    await node.ds.query(`TRUNCATE "${SCHEMA}".effects`);
    const probe = await BusProbe.connect(infra.amqpUrl, []);
    try {
      const events = [closedEvent(node, 'one'), closedEvent(node, 'flaky'), closedEvent(node, 'three')];
      await probe.publishBatched(...events);
      await expectEventually(async () => expect(await counts(node.ds)).toEqual({ total: 3, distinct: 3 }));
      // Once each, the flaky one twice (its retry), and no neighbour again.
      expect(seen.sort()).toEqual(['flaky', 'flaky', 'one', 'three']);
      const ch = await model.createChannel();
      await expectEventually(async () => expect((await ch.checkQueue(SERVICE)).messageCount).toBe(0));
      await ch.close();
    } finally {
      await probe.close();
    }
  });

  it('when the broker refuses the failed event of a batch message, the whole message goes back to the queue; its neighbours are not handled again, and the event is retried once the broker takes it', async () => {
    // Until `lift` runs, the broker refuses everything sent to the retry queues (it nacks the copy).
    const refusal: { lift?: () => Promise<void>; lifted?: Promise<void> } = {};
    const seen: string[] = [];
    const flakyAttempts: number[] = [];
    const node = await startRetryingNode(infra, async (event, ctx) => {
      const reason = (event.data as { reason: string }).reason;
      seen.push(reason);
      if (reason !== 'flaky') return;
      flakyAttempts.push(ctx.attempt);
      // The second call can only come from the whole message coming back (its retry copy was refused):
      // the broker takes copies again from then on, and this one fails once more, into the retry queue.
      if (flakyAttempts.length === 2) await (refusal.lifted = refusal.lift!());
      if (flakyAttempts.length <= 2) throw new Error('CRM is down');
    });
    nodes.push(node);
    await node.ds.query(`TRUNCATE "${SCHEMA}".effects`);
    refusal.lift = await infra.queuePolicy('refuse-retries', `^${SERVICE}\\.retry\\.`, { 'max-length': 0, overflow: 'reject-publish' }, queueNames(SERVICE).retry(100));
    const probe = await BusProbe.connect(infra.amqpUrl, []);
    try {
      await probe.publishBatched(closedEvent(node, 'one'), closedEvent(node, 'flaky'), closedEvent(node, 'three'));
      await expectEventually(async () => expect(await counts(node.ds)).toEqual({ total: 3, distinct: 3 }), { timeoutMs: 15_000 });
      expect(refusal.lifted).toBeDefined();
      // Failed, came back with its whole message (still its first attempt: the retry copy was refused), failed
      // again into the retry queue, and was handled on its second attempt; the neighbours were handled once
      // (their redelivery was skipped by the inbox).
      expect(flakyAttempts).toEqual([1, 1, 2]);
      expect(seen.sort()).toEqual(['flaky', 'flaky', 'flaky', 'one', 'three']);
      await expectDrained(node, [SERVICE, queueNames(SERVICE).retry(100), queueNames(SERVICE).dead]);
    } finally {
      await probe.close();
      if (!refusal.lifted) await refusal.lift();
    }
  });

  it('a batch message parked whole (its delivery limit ran out) is listed event by event; replaying one sends it alone and keeps the others parked', async () => {
    const { node, parked } = await startParkingNode();
    const events = [closedEvent(node, 'p-1'), closedEvent(node, 'p-2'), closedEvent(node, 'p-3')];
    const ch = await model.createConfirmChannel();
    ch.sendToQueue(queueNames(SERVICE).dead, Buffer.from(JSON.stringify(events)), {
      contentType: BATCH_CONTENT_TYPE, messageId: 'batch:x+3', persistent: true, headers: { 'x-elo-error': 'crashed the consumer' },
    });
    await ch.waitForConfirms();
    await ch.close();
    const listed = await parked.list();
    expect(listed.map((p) => p.eventId)).toEqual(events.map((e) => e.id));
    expect(listed.every((p) => p.type === 'chat.conversation.closed' && p.tenantId === 'tenant-a' && p.reason === 'crashed the consumer')).toBe(true);
    expect(await parked.replay([events[1]!.id])).toBe(1);
    await expectEventually(async () => {
      const rows = (await node.ds.query(`SELECT event_id FROM "${SCHEMA}".effects`)) as Array<{ event_id: string }>;
      expect(rows.map((r) => r.event_id)).toEqual([events[1]!.id]);
    });
    expect((await parked.list()).map((p) => p.eventId).sort()).toEqual([events[0]!.id, events[2]!.id].sort());
    expect(await parked.replay()).toBe(2);
    await expectEventually(async () => expect(await counts(node.ds)).toEqual({ total: 3, distinct: 3 }));
    expect(await parked.list()).toEqual([]);
  });

  it('an invalid event in a batch message is parked alone under its own id; the valid ones are handled', async () => {
    const { node, parked } = await startParkingNode();
    const probe = await BusProbe.connect(infra.amqpUrl, []);
    try {
      const good = [closedEvent(node, 'ok-1'), closedEvent(node, 'ok-2')];
      const bad = node.outbox.event({ type: 'chat.conversation.closed', tenantId: 't', data: { reason: 'no ids' } });
      await probe.publishBatched(good[0]!, bad, good[1]!);
      await expectEventually(async () => expect(await counts(node.ds)).toEqual({ total: 2, distinct: 2 }));
      const list = await expectEventually(async () => {
        const l = await parked.list();
        expect(l).toHaveLength(1);
        return l;
      });
      expect(list[0]).toMatchObject({ eventId: bad.id, type: 'chat.conversation.closed', attempts: 1 });
      expect(list[0]!.reason).toMatch(/invalid event/);
      expect((list[0]!.event as { id: string }).id).toBe(bad.id);
      const ch = await model.createChannel();
      // Empty the lot for the other tests.
      await ch.purgeQueue(queueNames(SERVICE).dead);
      await ch.close();
    } finally {
      await probe.close();
    }
  });
});
