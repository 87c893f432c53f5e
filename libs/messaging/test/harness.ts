import { createServiceDataSource, runMigrations } from '@elo/persistence';
import pino, { type Logger } from 'pino';
import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';
import { BusConnection } from '../src/connection';
import { ConsumerHost } from '../src/consumer-host';
import { leanerMessagingIndexes, messagingTablesSql, Outbox, outboxKeepsOnlyPending } from '../src/outbox';
import { OutboxRelay } from '../src/relay';
import { declareTopology } from '../src/topology';
import type { CloudEvent } from '@elo/contracts';
import type { BatchHandler, HandlerContext, SingleHandler } from '../src/types';

export const SCHEMA = 'bus_test';
export const SERVICE = 'bus-test';
export const logger = pino({ level: process.env.ELO_TEST_LOG ?? 'silent' });

class BusTestInit1763800000000 implements MigrationInterface {
  name = 'BusTestInit1763800000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of messagingTablesSql(SCHEMA)) await q.query(sql);
    // Effects without a unique key, so a doubled effect would show as a second row.
    await q.query(`CREATE TABLE "${SCHEMA}".effects (event_id text NOT NULL, at timestamptz NOT NULL DEFAULT now())`);
  }
  async down(): Promise<void> {}
}

export async function migrate(databaseUrl: string): Promise<void> {
  const ds = createServiceDataSource({ url: databaseUrl, schema: SCHEMA, migrations: [BusTestInit1763800000000, leanerMessagingIndexes(SCHEMA), outboxKeepsOnlyPending(SCHEMA)] });
  await ds.initialize();
  await runMigrations(ds);
  await ds.destroy();
}

/** Records each event once per handling in `effects`: the count shows losses and doubles. */
export const recordEffects: BatchHandler = async (events, ctx) => {
  await ctx.manager.query(`INSERT INTO "${SCHEMA}".effects (event_id) SELECT unnest($1::text[])`, [
    events.map((e) => e.id),
  ]);
};

export interface NodeOptions {
  databaseUrl: string;
  amqpUrl: string;
  relay?: boolean;
  handler?: { type: string | readonly string[]; batch: boolean; idempotent?: boolean; ordered?: boolean; fn: SingleHandler | BatchHandler };
  retryDelaysMs?: number[];
  batchSize?: number;
  relayBatchSize?: number;
  /** The relay's batches in flight at once (its default: 2). */
  relayConcurrency?: number;
  /** The relay's polling fallback (default 200 ms). */
  relayPollMs?: number;
  /** The relay's own database URL (its LISTEN and lease connection); the node's by default. */
  relayDatabaseUrl?: string;
  /** How long the relay goes on without its lease connection before it publishes without it. */
  relayLeaseGraceMs?: number;
  /** How long the relay waits for a batch's publisher confirms. */
  relayConfirmTimeoutMs?: number;
  /** How often the relay's cleanup (of inbox rows past 30 days) runs. */
  relayCleanupMs?: number;
  prefetch?: number;
  concurrency?: number;
  retiredBindings?: string[];
  /** The relay's logger (silent by default), for a test that waits for what the relay says. */
  relayLogger?: Logger;
  /** The consumer's logger (silent by default), for a test that waits for what the consumer says. */
  consumerLogger?: Logger;
}

export interface BusNode {
  ds: DataSource;
  bus: BusConnection;
  outbox: Outbox;
  relay: OutboxRelay;
  consumers: ConsumerHost;
  stop(): Promise<void>;
}

/** One service process's worth of bus machinery, wired like MessagingModule does. */
export async function startNode(o: NodeOptions): Promise<BusNode> {
  const ds = createServiceDataSource({ url: o.databaseUrl, schema: SCHEMA, poolSize: 5 });
  await ds.initialize();
  const bus = new BusConnection({ url: o.amqpUrl, name: SERVICE, logger, maxBackoffMs: 500 });
  const relay = new OutboxRelay(
    ds,
    bus,
    {
      schema: SCHEMA,
      databaseUrl: o.relayDatabaseUrl ?? o.databaseUrl,
      leaseGraceMs: o.relayLeaseGraceMs,
      pollIntervalMs: o.relayPollMs ?? 200,
      batchSize: o.relayBatchSize,
      concurrency: o.relayConcurrency,
      cleanupIntervalMs: o.relayCleanupMs,
      confirmTimeoutMs: o.relayConfirmTimeoutMs,
    },
    o.relayLogger ?? logger,
  );
  const outbox = new Outbox(SCHEMA, `elo://${SERVICE}`, () => relay.committed());
  const retryDelaysMs = o.retryDelaysMs ?? [200, 400];
  const consumers = new ConsumerHost(
    ds,
    outbox,
    { service: SERVICE, schema: SCHEMA, prefetch: o.prefetch ?? 1_000, batchSize: o.batchSize ?? 500, concurrency: o.concurrency ?? 2, retryDelaysMs },
    o.consumerLogger ?? logger,
  );
  if (o.handler) consumers.register({ ...o.handler, name: 'test' });
  bus.onConnect(async (model) => {
    const ch = await model.createChannel();
    await declareTopology(ch, { service: SERVICE, bindings: consumers.bindings(), orderedBindings: consumers.orderedBindings(), retiredBindings: o.retiredBindings, retryDelaysMs });
    await ch.close();
  });
  if (o.relay !== false) relay.attach();
  consumers.attach(bus);
  await bus.start();
  if (o.relay !== false) await relay.start();
  return {
    ds,
    bus,
    outbox,
    relay,
    consumers,
    stop: async () => {
      await consumers.stop();
      await relay.stop();
      await bus.close();
      await ds.destroy();
    },
  };
}

/** A node without a relay that records the closed events it takes (a batch handler), its effects emptied first. */
export async function startRecordingNode(infra: { databaseUrl: string; amqpUrl: string }): Promise<BusNode> {
  const node = await startNode({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, relay: false, handler: { type: 'chat.conversation.closed', batch: true, fn: recordEffects } });
  await node.ds.query(`TRUNCATE "${SCHEMA}".effects`);
  return node;
}

/**
 * A node without a relay whose handler takes closed events one by one: runs `before` (which fails the
 * handling when it throws), then records the effect; retries after 100 and 200 ms.
 */
export function startRetryingNode(infra: { databaseUrl: string; amqpUrl: string }, before: (event: CloudEvent, ctx: HandlerContext) => unknown): Promise<BusNode> {
  const fn: SingleHandler = async (event, ctx) => {
    await before(event, ctx);
    await ctx.manager.query(`INSERT INTO "${SCHEMA}".effects (event_id) VALUES ($1)`, [event.id]);
  };
  return startNode({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, relay: false, retryDelaysMs: [100, 200], handler: { type: 'chat.conversation.closed', batch: false, fn } });
}

/** How many times the test handler recorded the event `id` (a count over all events counts earlier tests' too). */
export async function effectsOf(ds: DataSource, id: string): Promise<number> {
  const [r] = (await ds.query(`SELECT count(*)::int AS n FROM "${SCHEMA}".effects WHERE event_id = $1`, [id])) as Array<{ n: number }>;
  return r.n;
}

export async function counts(ds: DataSource): Promise<{ total: number; distinct: number }> {
  const [r] = (await ds.query(
    `SELECT count(*)::int AS total, count(DISTINCT event_id)::int AS distinct FROM "${SCHEMA}".effects`,
  )) as Array<{ total: number; distinct: number }>;
  return r;
}

/** A `chat.conversation.closed` test event of tenant-a, built by the node's outbox (not yet written). */
export const closedEvent = (node: BusNode, reason: string) =>
  node.outbox.event({
    type: 'chat.conversation.closed',
    tenantId: 'tenant-a',
    data: { conversationId: '00000000-0000-4000-8000-000000000001', channelId: '00000000-0000-4000-8000-000000000002', reason },
  });

/** Writes `n` test events to the outbox in transactions of `perTx`. */
export async function produce(node: BusNode, n: number, perTx = 100, onBatch?: (done: number) => void): Promise<string[]> {
  const ids: string[] = [];
  for (let done = 0; done < n; done += perTx) {
    const size = Math.min(perTx, n - done);
    await node.ds.transaction(async (m) => {
      const events = Array.from({ length: size }, (_, i) =>
        node.outbox.event({
          type: 'chat.conversation.closed',
          tenantId: 'tenant-a',
          data: {
            conversationId: '00000000-0000-4000-8000-000000000001',
            channelId: '00000000-0000-4000-8000-000000000002',
            reason: `n${done + i}`,
          },
        }),
      );
      await node.outbox.add(m, events);
      ids.push(...events.map((e) => e.id));
    });
    onBatch?.(done + size);
  }
  return ids;
}
