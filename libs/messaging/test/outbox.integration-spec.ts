import { createTestInfra, expectEventually, startTcpProxy, viaProxy, type TestInfra } from '@elo/testing';
import { connect } from 'amqplib';
import { Client } from 'pg';
import { outboxChannel } from '../src/outbox';
import { UNROUTABLE_EXCHANGE, UNROUTABLE_QUEUE } from '../src/topology';
import { BATCH_CONTENT_TYPE } from '../src/wire';
import { closedEvent, counts, effectsOf, migrate, recordEffects, SCHEMA, startNode, type BusNode } from './harness';

describe('outbox: addWith (domain change and events in one statement)', () => {
  let infra: TestInfra;
  let node: BusNode;
  const things = `"${SCHEMA}".things`;
  const insertThing = (name: string | null) => ({ sql: `INSERT INTO ${things} (name) VALUES ($1)`, params: [name] });
  const rows = async () => {
    const [r] = await node.ds.query(
      `SELECT (SELECT count(*)::int FROM ${things}) AS things, (SELECT count(*)::int FROM "${SCHEMA}".outbox) AS outbox`,
    );
    return r as { things: number; outbox: number };
  };

  beforeAll(async () => {
    infra = await createTestInfra('outbox-addwith');
    await migrate(infra.databaseUrl);
    // No relay in this node: the rows it writes stay in the outbox (a relay deletes what it has published)
    // until a test starts one (withRelay).
    node = await startNode({
      databaseUrl: infra.databaseUrl,
      amqpUrl: infra.amqpUrl,
      relay: false,
      handler: { type: 'chat.conversation.closed', batch: true, fn: recordEffects },
      relayPollMs: 60_000,
    });
    await node.ds.query(`CREATE TABLE ${things} (name text NOT NULL)`);
  });

  /** Runs `fn` with a node whose relay runs (polling once a minute: only a commit or a NOTIFY wakes it soon). */
  const withRelay = async (fn: (relayed: BusNode) => Promise<void>) => {
    const relayed = await startNode({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, relayPollMs: 60_000 });
    try {
      await fn(relayed);
    } finally {
      await relayed.stop();
    }
  };

  afterAll(async () => {
    await node?.stop();
    await infra?.cleanup();
  });

  it('writes the change and the outbox row without a transaction, wakes the relay at once, and the event is delivered and leaves the outbox', async () => {
    await withRelay(async (relayed) => {
      // The relay polls once a minute here: delivery within seconds means the commit woke it.
      const e = closedEvent(relayed, 'addWith');
      await relayed.outbox.addWith(relayed.ds.manager, insertThing('a'), [e]);
      expect((await rows()).things).toBe(1);
      await expectEventually(async () => expect(await counts(node.ds)).toEqual({ total: 1, distinct: 1 }), { timeoutMs: 10_000 });
      const [effect] = await node.ds.query(`SELECT event_id FROM "${SCHEMA}".effects`);
      expect(effect.event_id).toBe(e.id);
      await expectEventually(async () => expect((await rows()).outbox).toBe(0));
    });
  }, 30_000);

  it('a replica without a relay of its own asks the others by NOTIFY after its commit', async () => {
    await withRelay(async () => {
      const listener = new Client({ connectionString: infra.databaseUrl });
      await listener.connect();
      const heard: string[] = [];
      listener.on('notification', (n) => heard.push(n.channel));
      await listener.query(`LISTEN "${outboxChannel(SCHEMA)}"`);
      try {
        const e = closedEvent(node, 'from the replica without a relay');
        await node.ds.transaction((m) => node.outbox.add(m, [e]));
        await expectEventually(() => expect(heard).toContain(outboxChannel(SCHEMA)));
        await expectEventually(async () => expect(await effectsOf(node.ds, e.id)).toBe(1), { timeoutMs: 10_000 });
      } finally {
        await listener.end();
      }
    });
  }, 30_000);

  it('stores several events in one statement, each body byte for byte (newlines, quotes, backslashes and non-ASCII included) and in order', async () => {
    const reasons = ['line one\nline "two"', 'back\\slash \\n not a newline', 'ção 🚀 \u2028 end', 'a\ttab'];
    const events = reasons.map((r) => closedEvent(node, r));
    await node.ds.transaction((m) => node.outbox.add(m, events));
    const stored = (await node.ds.query(`SELECT event_id, type, tenant_id, body FROM "${SCHEMA}".outbox WHERE event_id = ANY($1::uuid[]) ORDER BY id`, [
      events.map((e) => e.id),
    ])) as Array<{ event_id: string; type: string; tenant_id: string; body: string }>;
    expect(stored.map((r) => r.event_id)).toEqual(events.map((e) => e.id));
    expect(stored.map((r) => r.body)).toEqual(events.map((e) => JSON.stringify(e)));
    expect(stored.map((r) => JSON.parse(r.body).data.reason)).toEqual(reasons);
    expect(stored.every((r) => r.type === 'chat.conversation.closed' && r.tenant_id === 'tenant-a')).toBe(true);
  });

  it('onlyIfChanged: writes the events only when the change returned a row, and says so', async () => {
    await node.ds.query(`CREATE UNIQUE INDEX IF NOT EXISTS things_name_uq ON ${things} (name)`);
    const once = (e: ReturnType<typeof closedEvent>) =>
      node.outbox.addWith(
        node.ds.manager,
        { ctes: `named AS (SELECT $1::text AS name)`, sql: `INSERT INTO ${things} (name) SELECT name FROM named ON CONFLICT DO NOTHING RETURNING 1`, params: ['once'] },
        [e],
        { onlyIfChanged: true },
      );
    const before = await rows();
    const first = closedEvent(node, 'first');
    expect(await once(first)).toBe(true);
    expect(await once(closedEvent(node, 'repeat'))).toBe(false);
    expect(await rows()).toEqual({ things: before.things + 1, outbox: before.outbox + 1 });
    const [stored] = await node.ds.query(`SELECT event_id FROM "${SCHEMA}".outbox ORDER BY id DESC LIMIT 1`);
    expect(stored.event_id).toBe(first.id);
  });

  it('writes neither when the change fails, nor when an event is invalid', async () => {
    const before = await rows();
    await expect(node.outbox.addWith(node.ds.manager, insertThing(null), [closedEvent(node, 'x')])).rejects.toThrow(/null value/);
    const invalid = node.outbox.event({ type: 'chat.conversation.closed', tenantId: 't', data: { reason: 'no ids' } });
    await expect(node.outbox.addWith(node.ds.manager, insertThing('b'), [invalid])).rejects.toThrow(/refusing to publish invalid/);
    expect(await rows()).toEqual(before);
  });

  it('joins the caller transaction: a rollback takes both back', async () => {
    const before = await rows();
    await expect(
      node.ds.transaction(async (m) => {
        await node.outbox.addWith(m, insertThing('c'), [closedEvent(node, 'rolled back')]);
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(await rows()).toEqual(before);
  });

  it('synchronousCommit: false holds for that transaction only', async () => {
    const q = node.ds.createQueryRunner();
    try {
      await q.connect();
      const show = async () => ((await q.query('SHOW synchronous_commit')) as Array<{ synchronous_commit: string }>)[0]!.synchronous_commit;
      await node.outbox.addWith(q.manager, insertThing('d'), [closedEvent(node, 'async')], { synchronousCommit: false });
      expect(await show()).toBe('on');
      await q.startTransaction();
      await node.outbox.addWith(q.manager, insertThing('e'), [closedEvent(node, 'async in tx')], { synchronousCommit: false });
      expect(await show()).toBe('off');
      await q.commitTransaction();
      expect(await show()).toBe('on');
    } finally {
      await q.release();
    }
  });

  it('events the broker returns (not even the alternate exchange could route them) stay pending, with the attempt recorded, and go out once they can; a returned batch message keeps all of its events', async () => {
    await withRelay(async (relayed) => {
      const model = await connect(infra.amqpUrl);
      const ch = await model.createChannel();
      try {
        // Nothing binds chat.conversation.opened here, so it goes to the alternate exchange; without its queue, it comes back.
        await ch.deleteQueue(UNROUTABLE_QUEUE);
        // Three in one transaction: the relay sends them as one batch message.
        const events = [1, 2, 3].map((n) =>
          node.outbox.event({
            type: 'chat.conversation.opened',
            tenantId: 'tenant-a',
            data: { conversationId: `00000000-0000-4000-8000-00000000000${n}`, channelId: '00000000-0000-4000-8000-000000000009', provider: 'whatsapp', contact: { phone: '+5541999990000' }, queue: 'bot' },
          }),
        );
        await node.ds.transaction((m) => node.outbox.add(m, events));
        const rows = async () =>
          (await node.ds.query(`SELECT event_id, attempts, last_error FROM "${SCHEMA}".outbox WHERE event_id = ANY($1) ORDER BY id`, [events.map((e) => e.id)])) as Array<{
            event_id: string;
            attempts: number;
            last_error: string | null;
          }>;
        // Still pending, in their order, each with its return recorded.
        await expectEventually(async () => {
          const r = await rows();
          expect(r.map((x) => x.event_id)).toEqual(events.map((e) => e.id));
          expect(r.every((x) => x.attempts >= 1 && x.last_error === 'returned unroutable')).toBe(true);
        }, { timeoutMs: 10_000 });
        await ch.assertQueue(UNROUTABLE_QUEUE, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
        await ch.bindQueue(UNROUTABLE_QUEUE, UNROUTABLE_EXCHANGE, '');
        relayed.relay.kick();
        // Published at last: gone from the outbox.
        await expectEventually(async () => expect(await rows()).toEqual([]), { timeoutMs: 10_000 });
        const msg = await expectEventually(async () => {
          const m = await ch.get(UNROUTABLE_QUEUE, { noAck: true });
          expect(m).toBeTruthy();
          return m as Exclude<typeof m, false>;
        }, { timeoutMs: 10_000 });
        expect(msg.properties.contentType).toBe(BATCH_CONTENT_TYPE);
        expect((JSON.parse(msg.content.toString()) as Array<{ id: string }>).map((e) => e.id)).toEqual(events.map((e) => e.id));
      } finally {
        await model.close();
      }
    });
  }, 30_000);

  it('a batch whose confirms never come (the broker link gone silently dead) fails after confirmTimeoutMs: its rows are unlocked and another replica publishes them', async () => {
    const amqp = new URL(infra.amqpUrl);
    const proxy = await startTcpProxy(amqp.hostname, Number(amqp.port || 5672));
    // The claim is seen while its confirms are awaited: 5 s, so a test process held up on a loaded machine still sees it.
    const stuck = await startNode({ databaseUrl: infra.databaseUrl, amqpUrl: viaProxy(infra.amqpUrl, proxy), relayPollMs: 60_000, relayConfirmTimeoutMs: 5_000 });
    let other: BusNode | undefined;
    const claimable = async () => {
      const [r] = await node.ds.query(
        `SELECT (SELECT count(*)::int FROM "${SCHEMA}".outbox) AS pending,
                (SELECT count(*)::int FROM (SELECT 1 FROM "${SCHEMA}".outbox FOR UPDATE SKIP LOCKED) l) AS unlocked`,
      );
      return r as { pending: number; unlocked: number };
    };
    try {
      proxy.freeze();
      const e = closedEvent(stuck, 'never confirmed');
      await stuck.ds.transaction((m) => stuck.outbox.add(m, [e]));
      // Claimed and published into the dead link: the row is locked by the claim's open transaction. (Taking the
      // lease and claiming can take seconds on a loaded machine.)
      await expectEventually(async () => {
        stuck.relay.kick();
        expect(await claimable()).toEqual({ pending: 1, unlocked: 0 });
      }, { timeoutMs: 10_000, intervalMs: 20 });
      // Another replica, polling every 200 ms (the heartbeat would take minutes to notice the dead link): it publishes
      // once the claim gave up after confirmTimeoutMs.
      other = await startNode({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl });
      await expectEventually(async () => expect(await effectsOf(node.ds, e.id)).toBe(1), { timeoutMs: 15_000 });
    } finally {
      await proxy.close();
      await stuck.stop();
      await other?.stop();
    }
  }, 60_000);

  it('cleans up on its schedule: inbox rows past 30 days go, recent ones stay', async () => {
    const cleaner = await startNode({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, relayPollMs: 60_000, relayCleanupMs: 200 });
    const ib = `"${SCHEMA}".inbox`;
    try {
      await cleaner.ds.query(`INSERT INTO ${ib} (consumer, event_id, handled_at) VALUES ('x', 'old', now() - interval '31 days'), ('x', 'recent', now())`);
      await expectEventually(
        async () => {
          const inbox = (await cleaner.ds.query(`SELECT event_id FROM ${ib} WHERE consumer = 'x'`)) as Array<{ event_id: string }>;
          expect(inbox.map((r) => r.event_id)).toEqual(['recent']);
        },
        { timeoutMs: 10_000 },
      );
    } finally {
      await cleaner.stop();
    }
  }, 30_000);
});
