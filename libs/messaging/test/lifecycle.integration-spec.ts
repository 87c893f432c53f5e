import { createEvent, type CloudEvent } from '@elo/contracts';
import { busMetrics, currentCorrelationId } from '@elo/observability';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { connect, type ChannelModel } from 'amqplib';
import { BusProbe } from '../src/bus-probe';
import { Outbox } from '../src/outbox';
import type { BatchHandler, SingleHandler } from '../src/types';
import { effectsOf, migrate, recordEffects, SCHEMA, SERVICE, startNode, startRetryingNode, type BusNode } from './harness';

const CLOSED = 'chat.conversation.closed';
const OPENED = 'chat.conversation.opened';

const closed = (reason: string, correlationId?: string): CloudEvent =>
  createEvent({
    type: CLOSED, tenantId: 'tenant-a', source: 'elo://test', correlationId,
    data: { conversationId: '00000000-0000-4000-8000-000000000001', channelId: '00000000-0000-4000-8000-000000000002', reason },
  });

/** A follow-up event a handler publishes for `e` (its reason in the queue field, to find it again). */
const followUp = (e: CloudEvent) => ({
  type: OPENED as typeof OPENED,
  tenantId: e.tenantid,
  data: {
    conversationId: '00000000-0000-4000-8000-000000000003', channelId: '00000000-0000-4000-8000-000000000004',
    provider: 'whatsapp', contact: { phone: '+5541999990000' }, queue: (e.data as { reason: string }).reason,
  },
});

/**
 * Writes events to the outbox without waking any relay (no wake-up in this process, no NOTIFY): only polling
 * finds them. First an ordinary event is written and awaited, so the relay's wake-ups from its start are spent.
 */
async function writeUnannounced(node: BusNode, events: CloudEvent[]): Promise<void> {
  const marker = closed('marker');
  await node.ds.transaction((m) => node.outbox.add(m, [marker]));
  await expectEventually(async () => expect(await effectsOf(node.ds, marker.id)).toBe(1), { timeoutMs: 20_000 });
  const silent = new Outbox(SCHEMA, `elo://${SERVICE}`, () => undefined);
  await node.ds.transaction((m) => silent.add(m, events));
}

const counter = async (c: { get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown> }> }> }, labels: Record<string, string>) =>
  (await c.get()).values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
const gauge = async (g: { get(): Promise<{ values: Array<{ value: number }> }> }) => (await g.get()).values[0]?.value ?? 0;

describe('bus: correlation ids, metrics, the polling fallback and a graceful stop', () => {
  let infra: TestInfra;
  let model: ChannelModel;
  let probe: BusProbe;
  const nodes: BusNode[] = [];

  beforeAll(async () => {
    infra = await createTestInfra('bus_lifecycle');
    await migrate(infra.databaseUrl);
    model = await connect(infra.amqpUrl);
    probe = await BusProbe.connect(infra.amqpUrl, []);
  });

  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.stop();
  });

  afterAll(async () => {
    await probe?.close();
    await model?.close().catch(() => undefined);
    await infra?.cleanup();
  });

  /** The stored follow-up events (relay off, so they stay in the outbox), by the reason of the event they answer. */
  const followUps = async (node: BusNode): Promise<Map<string, CloudEvent>> => {
    const rows = (await node.ds.query(`SELECT body FROM "${SCHEMA}".outbox WHERE type = $1`, [OPENED])) as Array<{ body: string }>;
    return new Map(rows.map((r) => JSON.parse(r.body) as CloudEvent).map((e) => [(e.data as { queue: string }).queue, e]));
  };

  it("a single handler runs in its event's correlation id (logs carry it) and its follow-up events carry it on", async () => {
    const seen = new Map<string, string | undefined>();
    const fn: SingleHandler = async (e, ctx) => {
      seen.set((e.data as { reason: string }).reason, currentCorrelationId());
      await ctx.publish(followUp(e));
    };
    const node = await startNode({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, relay: false, handler: { type: CLOSED, batch: false, fn } });
    nodes.push(node);
    await probe.publish(closed('single-a', 'corr-single-a'), closed('single-b', 'corr-single-b'));
    const out = await expectEventually(async () => {
      const m = await followUps(node);
      expect(m.size).toBeGreaterThanOrEqual(2);
      return m;
    }, { timeoutMs: 20_000 });
    expect(seen.get('single-a')).toBe('corr-single-a');
    expect(seen.get('single-b')).toBe('corr-single-b');
    expect(out.get('single-a')?.correlationid).toBe('corr-single-a');
    expect(out.get('single-b')?.correlationid).toBe('corr-single-b');
  });

  it("a batch handler whose events share a correlation id runs in it, and its follow-ups carry it; with mixed ids it runs in none", async () => {
    const seen: Array<{ reasons: string[]; correlationId: string | undefined }> = [];
    const fn: BatchHandler = async (events, ctx) => {
      seen.push({ reasons: events.map((e) => (e.data as { reason: string }).reason), correlationId: currentCorrelationId() });
      for (const e of events) await ctx.publish(followUp(e));
    };
    const node = await startNode({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, relay: false, concurrency: 1, handler: { type: CLOSED, batch: true, fn } });
    nodes.push(node);
    // One broker message each, each handled before the next is sent (the consumer gathers messages that
    // arrive together into one call): a batch message reaches the handler in one call.
    const handled = (...reasons: string[]) =>
      expectEventually(async () => {
        const m = await followUps(node);
        for (const r of reasons) expect(m.has(r)).toBe(true);
        return m;
      }, { timeoutMs: 20_000 });
    await probe.publishBatched(closed('batch-1', 'corr-batch'), closed('batch-2', 'corr-batch'));
    await handled('batch-1', 'batch-2');
    await probe.publish(closed('lone', 'corr-lone'));
    await handled('lone');
    await probe.publishBatched(closed('mixed-1', 'corr-m1'), closed('mixed-2', 'corr-m2'));
    const out = await handled('mixed-1', 'mixed-2');
    expect(out.get('batch-1')?.correlationid).toBe('corr-batch');
    expect(out.get('batch-2')?.correlationid).toBe('corr-batch');
    expect(out.get('lone')?.correlationid).toBe('corr-lone');
    const callOf = (r: string) => seen.find((s) => s.reasons.includes(r));
    expect(callOf('lone')?.correlationId).toBe('corr-lone');
    expect(callOf('batch-1')?.reasons).toContain('batch-2');
    expect(callOf('batch-1')?.correlationId).toBe('corr-batch');
    // Two requests' events in one call: neither id is the call's (a made-up one would be worse).
    if (callOf('mixed-1') === callOf('mixed-2')) {
      expect(callOf('mixed-1')?.correlationId).toBeUndefined();
      expect(out.get('mixed-1')?.correlationid).toBeUndefined();
    }
  });

  it('the relay publishes rows nothing announced (no wake-up, no NOTIFY) by polling', async () => {
    const node = await startNode({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, relayPollMs: 200, handler: { type: CLOSED, batch: true, fn: recordEffects } });
    nodes.push(node);
    const events = [closed('polled-1'), closed('polled-2')];
    await writeUnannounced(node, events);
    await expectEventually(async () => {
      for (const e of events) expect(await effectsOf(node.ds, e.id)).toBe(1);
    }, { timeoutMs: 20_000 });
    expect(await node.relay.backlog()).toBe(0);
  });

  it('counts what it publishes, handles, skips as duplicate, retries and parks, and measures the backlog', async () => {
    // A relay that may not publish (its lease connection's URL refuses, and its grace outlasts the test)
    // still measures the backlog, every 5 s.
    const held = await startNode({
      databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, relayDatabaseUrl: 'postgres://postgres@127.0.0.1:1/nowhere', relayLeaseGraceMs: 600_000,
      handler: { type: CLOSED, batch: true, fn: recordEffects },
    });
    nodes.push(held);
    const waiting = [closed('gauge-1'), closed('gauge-2'), closed('gauge-3')];
    await held.ds.transaction((m) => held.outbox.add(m, waiting));
    await expectEventually(async () => {
      expect(await gauge(busMetrics.outboxBacklog)).toBe(3);
      expect(await gauge(busMetrics.outboxOldestAgeSeconds)).toBeGreaterThan(0);
    }, { timeoutMs: 30_000, intervalMs: 250 });
    await held.stop();
    nodes.splice(0);
    const published0 = await counter(busMetrics.published, { type: CLOSED });
    const handled0 = await counter(busMetrics.consumed, { type: CLOSED, outcome: 'handled' });
    const duplicate0 = await counter(busMetrics.consumed, { type: CLOSED, outcome: 'duplicate' });
    // A relay that may: the three waiting and two more go out.
    const node = await startNode({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, handler: { type: CLOSED, batch: true, fn: recordEffects } });
    nodes.push(node);
    const more = [closed('count-1'), closed('count-2')];
    await node.ds.transaction((m) => node.outbox.add(m, more));
    await expectEventually(async () => {
      for (const e of [...waiting, ...more]) expect(await effectsOf(node.ds, e.id)).toBe(1);
    }, { timeoutMs: 20_000 });
    expect((await counter(busMetrics.published, { type: CLOSED })) - published0).toBe(5);
    expect((await counter(busMetrics.consumed, { type: CLOSED, outcome: 'handled' })) - handled0).toBe(5);
    await expectEventually(async () => expect(await gauge(busMetrics.outboxBacklog)).toBe(0), { timeoutMs: 30_000, intervalMs: 250 });
    // The same event again: skipped, and counted as a duplicate.
    await probe.publish(waiting[0]!);
    await expectEventually(async () => expect((await counter(busMetrics.consumed, { type: CLOSED, outcome: 'duplicate' })) - duplicate0).toBe(1));
    expect(await effectsOf(node.ds, waiting[0]!.id)).toBe(1);
    await node.stop();
    nodes.splice(0);

    const retried0 = await counter(busMetrics.retried, { type: CLOSED });
    const parked0 = await counter(busMetrics.parked, { type: CLOSED });
    const failing = await startRetryingNode(infra, () => {
      throw new Error('CRM is down');
    });
    nodes.push(failing);
    await probe.publish(closed('count-parked'));
    // First try and two retries (100 and 200 ms), then the parking lot.
    await expectEventually(async () => expect((await counter(busMetrics.parked, { type: CLOSED })) - parked0).toBe(1), { timeoutMs: 20_000 });
    expect((await counter(busMetrics.retried, { type: CLOSED })) - retried0).toBe(2);
    const ch = await model.createChannel();
    await ch.purgeQueue(`${SERVICE}.dead`);
    await ch.close();
  }, 90_000);

  it('stop() publishes what the outbox still holds before it returns', async () => {
    const node = await startNode({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, relayPollMs: 60_000, handler: { type: CLOSED, batch: true, fn: recordEffects } });
    nodes.push(node);
    const events = [closed('flush-1'), closed('flush-2'), closed('flush-3')];
    await writeUnannounced(node, events);
    expect(await node.relay.backlog()).toBe(3);
    await node.relay.stop(20_000);
    expect(await node.relay.backlog()).toBe(0);
    // And they reached the broker: the consumer, still running, handles them.
    await expectEventually(async () => {
      for (const e of events) expect(await effectsOf(node.ds, e.id)).toBe(1);
    }, { timeoutMs: 20_000 });
  }, 60_000);

  it('stop() takes no new delivery, lets the one in hand finish and acknowledges it', async () => {
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => (entered = r));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const fn: SingleHandler = async (e, ctx) => {
      if ((e.data as { reason: string }).reason === 'in-hand') {
        entered();
        await released;
      }
      await ctx.manager.query(`INSERT INTO "${SCHEMA}".effects (event_id) VALUES ($1)`, [e.id]);
    };
    const node = await startNode({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, relay: false, handler: { type: CLOSED, batch: false, fn } });
    nodes.push(node);
    const inHand = closed('in-hand');
    await probe.publish(inHand);
    await inHandler;
    // Told when the broker has confirmed the cancel of every consumer (a quorum queue keeps counting a
    // cancelled consumer while its delivery is unacknowledged, so the queue's consumer count cannot say).
    const ch = (node.consumers as unknown as { channel: { cancel(tag: string): Promise<unknown> } }).channel;
    const cancel = ch.cancel.bind(ch);
    let cancels = 0;
    let allCancelled!: () => void;
    const cancelled = new Promise<void>((r) => (allCancelled = r));
    ch.cancel = async (tag: string) => {
      const ok = await cancel(tag);
      if (++cancels === 2) allCancelled(); // the service queue's consumer and the ordered queue's
      return ok;
    };
    let stopReturned = false;
    const stopped = node.consumers.stop(30_000).then(() => (stopReturned = true));
    const check = await model.createChannel();
    try {
      await cancelled;
      // No consumer any more: what comes now waits in the queue.
      const later = closed('after-stop');
      await probe.publish(later);
      expect(stopReturned).toBe(false);
      release();
      await stopped;
      // It returned only once the one in hand was handled, and acknowledged it: only the later one is in the queue.
      expect(await effectsOf(node.ds, inHand.id)).toBe(1);
      expect(await effectsOf(node.ds, later.id)).toBe(0);
      await expectEventually(async () => expect((await check.checkQueue(SERVICE)).messageCount).toBe(1), { timeoutMs: 20_000 });
      await check.purgeQueue(SERVICE);
    } finally {
      release();
      await check.close().catch(() => undefined);
    }
  }, 60_000);
});
