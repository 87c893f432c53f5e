import { randomUUID } from 'node:crypto';
import { createEvent, EVENT_CATALOGUE, type CatalogueEntry, type CloudEvent } from '@elo/contracts';
import { busMetrics } from '@elo/observability';
import { createTestInfra, expectEventually, startTcpProxy, viaProxy, type TcpProxy, type TestInfra } from '@elo/testing';
import { connect } from 'amqplib';
import { BusProbe } from '../src/bus-probe';
import { ParkedEvents } from '../src/parked-events';
import { queueNames, UNROUTABLE_QUEUE } from '../src/topology';
import type { SingleHandler } from '../src/types';
import { counts, effectsOf, migrate, produce, recordEffects, SCHEMA, SERVICE, startNode, startRecordingNode, startRetryingNode, type BusNode } from './harness';

describe('bus: outbox → RabbitMQ → inbox', () => {
  let infra: TestInfra;
  let proxy: TcpProxy;
  const nodes: BusNode[] = [];

  beforeAll(async () => {
    infra = await createTestInfra('bus');
    await migrate(infra.databaseUrl);
    const amqp = new URL(infra.amqpUrl);
    proxy = await startTcpProxy(amqp.hostname, Number(amqp.port || 5672));
  });

  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.stop();
  });

  afterAll(async () => {
    await proxy?.close();
    await infra?.cleanup();
  });

  it('delivers 5,000 events exactly once in effect while the broker connections keep dropping', async () => {
    const node = await startNode({
      databaseUrl: infra.databaseUrl,
      amqpUrl: viaProxy(infra.amqpUrl, proxy),
      handler: { type: 'chat.conversation.closed', batch: true, fn: recordEffects },
    });
    nodes.push(node);
    let drops = 0;
    const ids = await produce(node, 5_000, 100, (done) => {
      // Cut every broker connection (relay and consumer) five times along the stream.
      if (done % 1_000 === 0 && done < 5_000) {
        proxy.dropAll();
        drops++;
      }
    });
    expect(ids).toHaveLength(5_000);
    await expectEventually(async () => expect((await counts(node.ds)).total).toBeGreaterThanOrEqual(5_000), {
      timeoutMs: 90_000,
      intervalMs: 250,
    });
    // Give late redeliveries their chance to (wrongly) double an effect: the outbox must be empty and
    // the queue drained before we count.
    await expectEventually(async () => expect(await node.relay.backlog()).toBe(0), { timeoutMs: 30_000 });
    expect(drops).toBe(4);
    const c = await counts(node.ds);
    expect(c).toEqual({ total: 5_000, distinct: 5_000 });
  }, 180_000);

  it('drops a binding an earlier version made once the current ones are declared (retiredBindings)', async () => {
    const opened = (): CloudEvent =>
      createEvent({
        type: 'chat.conversation.opened', tenantId: 'tenant-a', source: 'elo://test',
        data: { conversationId: randomUUID(), channelId: randomUUID(), provider: 'whatsapp', contact: { phone: '+5541999990000' }, queue: 'bot' },
      });
    const unroutable = async () => {
      const model = await connect(infra.amqpUrl);
      try {
        const ch = await model.createChannel();
        return (await ch.checkQueue(UNROUTABLE_QUEUE)).messageCount;
      } finally {
        await model.close();
      }
    };
    const probe = await BusProbe.connect(infra.amqpUrl, []);
    try {
      // The earlier version took everything.
      const earlier = await startNode({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, handler: { type: '#', batch: true, fn: recordEffects } });
      await earlier.stop();
      const before = await unroutable();
      // This one wants one type: an event of another type no longer reaches its queue.
      nodes.push(await startNode({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, handler: { type: 'chat.conversation.closed', batch: true, fn: recordEffects }, retiredBindings: ['#'] }));
      await probe.publish(opened());
      await expectEventually(async () => expect(await unroutable()).toBe(before + 1), { timeoutMs: 10_000 });
    } finally {
      await probe.close();
    }
  }, 30_000);

  it('acknowledges a redelivered event and skips it', async () => {
    const node = await startRecordingNode(infra);
    nodes.push(node);
    const probe = await BusProbe.connect(infra.amqpUrl, []);
    try {
      const e = node.outbox.event({
        type: 'chat.conversation.closed',
        tenantId: 't',
        data: { conversationId: '00000000-0000-4000-8000-000000000001', channelId: '00000000-0000-4000-8000-000000000002', reason: 'dup' },
      });
      await probe.publish(e, e, e);
      await expectEventually(async () => expect((await counts(node.ds)).total).toBe(1));
      const inbox = await node.ds.query(`SELECT count(*)::int AS n FROM "${SCHEMA}".inbox WHERE event_id = $1`, [e.id]);
      expect(inbox[0].n).toBe(1);
      await expectEventually(async () => {
        const q = await queueDepth(infra, SERVICE);
        expect(q).toBe(0);
      });
      expect((await counts(node.ds)).total).toBe(1);
    } finally {
      await probe.close();
    }
  });

  it('retries a failing handler through the delay queues, then parks it; a replay handles it', async () => {
    let failuresLeft = 100;
    const node = await startRetryingNode(infra, () => {
      if (failuresLeft-- > 0) throw new Error('CRM is down');
    });
    nodes.push(node);
    await node.ds.query(`TRUNCATE "${SCHEMA}".effects`);
    const parked = new ParkedEvents(node.bus, SERVICE);
    const probe = await BusProbe.connect(infra.amqpUrl, []);
    try {
      const e = node.outbox.event({
        type: 'chat.conversation.closed',
        tenantId: 't',
        data: { conversationId: '00000000-0000-4000-8000-000000000001', channelId: '00000000-0000-4000-8000-000000000002', reason: 'retry' },
      });
      await probe.publish(e);
      // first try + 2 retries, then the parking lot
      const list = await expectEventually(async () => {
        const l = await parked.list();
        expect(l.map((p) => p.eventId)).toContain(e.id);
        return l;
      }, { timeoutMs: 15_000 });
      const p = list.find((x) => x.eventId === e.id)!;
      expect(p.attempts).toBe(3);
      expect(p.reason).toContain('CRM is down');
      expect(failuresLeft).toBe(97);
      expect((await counts(node.ds)).total).toBe(0);
      // the handler recovers; the operator replays
      failuresLeft = 0;
      expect(await parked.replay([e.id])).toBe(1);
      await expectEventually(async () => expect((await counts(node.ds)).total).toBe(1));
      expect(await parked.list()).toHaveLength(0);
    } finally {
      await probe.close();
    }
  });

  it('parks an invalid event at once instead of retrying it', async () => {
    const node = await startNode({
      databaseUrl: infra.databaseUrl,
      amqpUrl: infra.amqpUrl,
      relay: false,
      handler: { type: 'chat.conversation.closed', batch: true, fn: recordEffects },
    });
    nodes.push(node);
    const parked = new ParkedEvents(node.bus, SERVICE);
    const probe = await BusProbe.connect(infra.amqpUrl, []);
    try {
      const bad = node.outbox.event({ type: 'chat.conversation.closed', tenantId: 't', data: { reason: 'no ids' } });
      await probe.publish(bad);
      await expectEventually(async () => {
        const l = await parked.list();
        const p = l.find((x) => x.eventId === bad.id);
        expect(p?.reason).toMatch(/invalid event/);
        expect(p?.attempts).toBe(1);
      });
      await parked.replay(); // leave the lot empty for the other tests (it will park again, harmlessly)
    } finally {
      await probe.close();
    }
  });

  describe('event versions', () => {
    const entry = EVENT_CATALOGUE['chat.conversation.closed'] as CatalogueEntry;
    const shipped = entry.version;
    const closed = (reason: string, version?: number) =>
      createEvent({
        type: 'chat.conversation.closed', tenantId: 't', source: 'elo://test', version,
        data: { conversationId: '00000000-0000-4000-8000-000000000001', channelId: '00000000-0000-4000-8000-000000000002', reason },
      });
    const retried = async () => ((await busMetrics.retried.get()).values as Array<{ value: number; labels: { type?: string } }>)
      .filter((v) => v.labels.type === 'chat.conversation.closed').reduce((n, v) => n + v.value, 0);

    afterEach(() => {
      entry.version = shipped;
      delete (entry as { upgrades?: unknown }).upgrades;
    });

    it('an event of a version newer than this release reads is tried again later, not parked, and handled once the release reads it', async () => {
      const seen: CloudEvent<{ reason: string }>[] = [];
      const node = await startNode({
        databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, relay: false, retryDelaysMs: [200, 2_000, 2_000, 2_000, 2_000],
        handler: {
          type: 'chat.conversation.closed', batch: false,
          fn: (async (event, ctx) => {
            seen.push(event as CloudEvent<{ reason: string }>);
            await ctx.manager.query(`INSERT INTO "${SCHEMA}".effects (event_id) VALUES ($1)`, [event.id]);
          }) satisfies SingleHandler,
        },
      });
      nodes.push(node);
      const parked = new ParkedEvents(node.bus, SERVICE);
      const probe = await BusProbe.connect(infra.amqpUrl, []);
      try {
        const before = await retried();
        // A producer already on the next release sends v(shipped + 1); this consumer is not there yet.
        const newer = closed('from the next release', shipped + 1);
        await probe.publish(newer);
        await expectEventually(async () => expect(await retried()).toBeGreaterThan(before));
        expect(await effectsOf(node.ds, newer.id)).toBe(0);
        expect((await parked.list()).map((p) => p.eventId)).not.toContain(newer.id);
        // This replica is upgraded (its catalogue reads the new version): the next try handles the event.
        entry.version = shipped + 1;
        entry.upgrades = { [shipped]: (d: { reason: string }) => ({ ...d, reason: `upgraded: ${d.reason}` }) };
        await expectEventually(async () => expect(await effectsOf(node.ds, newer.id)).toBe(1), { timeoutMs: 10_000 });
        expect(seen.find((e) => e.id === newer.id)?.data.reason).toBe('from the next release');
        // An event of the version before, still in flight at the raise (an outbox, a queue), is read through its upgrade.
        const older = closed('written before the raise', shipped);
        await probe.publish(older);
        await expectEventually(async () => expect(await effectsOf(node.ds, older.id)).toBe(1));
        const read = seen.find((e) => e.id === older.id)!;
        expect(read.data.reason).toBe('upgraded: written before the raise');
        expect(read.dataschema).toBe(`urn:elo:chat.conversation.closed:v${shipped + 1}`);
        expect((await parked.list()).map((p) => p.eventId)).not.toContain(newer.id);
      } finally {
        await probe.close();
      }
    }, 30_000);

    it('an event of a newer version is parked only once its retries run out, saying why; one of a version raised without an upgrade is parked at once', async () => {
      const node = await startRetryingNode(infra, () => undefined);
      nodes.push(node);
      const parked = new ParkedEvents(node.bus, SERVICE);
      const probe = await BusProbe.connect(infra.amqpUrl, []);
      try {
        const newer = closed('never read', shipped + 7);
        await probe.publish(newer);
        await expectEventually(async () => {
          const p = (await parked.list()).find((x) => x.eventId === newer.id);
          expect(p?.attempts).toBe(3); // the first try and both retries
          expect(p?.reason).toBe(`chat.conversation.closed v${shipped + 7} is newer than this release reads (v${shipped})`);
        }, { timeoutMs: 15_000 });
        entry.version = shipped + 1; // raised, without the upgrade from the version before
        const older = closed('unreadable', shipped);
        await probe.publish(older);
        await expectEventually(async () => {
          const p = (await parked.list()).find((x) => x.eventId === older.id);
          expect(p?.attempts).toBe(1);
          expect(p?.reason).toMatch(new RegExp(`invalid event: .*no upgrade from v${shipped}`));
        });
        expect(await effectsOf(node.ds, newer.id)).toBe(0);
        expect(await effectsOf(node.ds, older.id)).toBe(0);
      } finally {
        entry.version = shipped;
        await parked.replay(); // leave the lot empty for the other tests (the newer one parks again, harmlessly; the older one is handled)
        await probe.close();
      }
    }, 30_000);
  });
});

async function queueDepth(infra: TestInfra, queue: string): Promise<number> {
  const mgmt = new URL(process.env.ELO_TEST_RABBITMQ_MANAGEMENT_URL ?? 'http://guest:guest@127.0.0.1:15672');
  const auth = Buffer.from(`${decodeURIComponent(mgmt.username)}:${decodeURIComponent(mgmt.password)}`).toString('base64');
  mgmt.username = '';
  mgmt.password = '';
  const res = await fetch(new URL(`/api/queues/${encodeURIComponent(infra.vhost)}/${encodeURIComponent(queue)}`, mgmt), {
    headers: { authorization: `Basic ${auth}` },
  });
  const body = (await res.json()) as { messages?: number };
  return body.messages ?? -1;
}

export { queueNames };
