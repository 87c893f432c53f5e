// Events per second through outbox → relay → RabbitMQ → consumer with inbox, against the raw amqplib
// ceiling (confirmed publish + acked consume of the same messages) measured in the same run.
// Rounds alternate raw and end-to-end; medians and their ratio are printed (the machine is shared).
//   node -r @swc-node/register bench/bus.bench.ts [events=20000] [rounds=5]
// Needs local PostgreSQL and RabbitMQ (ELO_TEST_DATABASE_URL / ELO_TEST_AMQP_URL or the defaults).
import 'reflect-metadata';
import { connect } from 'amqplib';
import { createEvent } from '@elo/contracts';
import { createTestInfra } from '@elo/testing';
import { afterCommit } from '@elo/persistence';
import type { BatchHandler } from '../libs/messaging/src/types';
import { counts, migrate, produce, recordEffects, SERVICE, startNode } from '../libs/messaging/test/harness';
import { cpuMeter } from './proc';

process.env.ELO_TEST_DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/postgres';
process.env.ELO_TEST_AMQP_URL ??= 'amqp://guest:guest@127.0.0.1:5672';
const N = Number(process.argv[2] ?? 20_000);
const ROUNDS = Number(process.argv[3] ?? 5);
/** BUS_PREFETCH, BUS_BATCH_SIZE, BUS_CONCURRENCY and RELAY_BATCH_SIZE override the services' defaults. */
const envNumber = (name: string) => (process.env[name] ? Number(process.env[name]) : undefined);
const TUNING = {
  prefetch: envNumber('BUS_PREFETCH'),
  batchSize: envNumber('BUS_BATCH_SIZE'),
  concurrency: envNumber('BUS_CONCURRENCY'),
  relayBatchSize: envNumber('RELAY_BATCH_SIZE'),
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const cpuLine = (c: { node: number; pg: number; broker: number }) =>
  `CPU µs/event: Node ${c.node.toFixed(0)}, PostgreSQL ${c.pg.toFixed(0)}, RabbitMQ ${c.broker.toFixed(0)}`;

/**
 * The messages end to end carries, built beforehand: the same CloudEvents the producers write (type,
 * tenant, source and payload shape) and the relay's publish properties.
 */
function sameMessages(): Array<{ body: Buffer; id: string }> {
  return Array.from({ length: N }, (_, i) => {
    const e = createEvent({
      type: 'chat.conversation.closed',
      tenantId: 'tenant-a',
      source: `elo://${SERVICE}`,
      data: { conversationId: '00000000-0000-4000-8000-000000000001', channelId: '00000000-0000-4000-8000-000000000002', reason: `n${i}` },
    });
    return { body: Buffer.from(JSON.stringify(e)), id: e.id };
  });
}

async function rawCeiling(amqpUrl: string, database: string): Promise<number> {
  const messages = sameMessages();
  const model = await connect(amqpUrl);
  const pub = await model.createConfirmChannel();
  const sub = await model.createChannel();
  const q = 'bench.raw';
  await pub.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await pub.purgeQueue(q);
  await sub.prefetch(400);
  let got = 0;
  const meter = cpuMeter(database);
  const t0 = performance.now();
  const done = new Promise<void>((resolve) => {
    void sub.consume(q, (m) => {
      if (!m) return;
      sub.ack(m);
      if (++got === N) resolve();
    });
  });
  for (let i = 0; i < N; i += 500) {
    for (let j = i; j < Math.min(N, i + 500); j++) {
      const m = messages[j]!;
      pub.sendToQueue(q, m.body, { persistent: true, mandatory: true, messageId: m.id, contentType: 'application/cloudevents+json', type: 'chat.conversation.closed' });
    }
    await pub.waitForConfirms();
  }
  await done;
  const rate = N / ((performance.now() - t0) / 1000);
  process.stdout.write(`raw: ${cpuLine(meter.stop(N))}\n`);
  await pub.deleteQueue(q);
  await model.close();
  return rate;
}

async function endToEnd(databaseUrl: string, amqpUrl: string, database: string): Promise<number> {
  // Effects are counted as their inbox transactions commit, in memory: counting rows in the database
  // while the run goes would cost PostgreSQL CPU the pipeline needs. One real count closes the round.
  let committed = 0;
  const handler: BatchHandler = async (events, ctx) => {
    await recordEffects(events, ctx);
    afterCommit(ctx.manager, () => (committed += events.length));
  };
  const node = await startNode({ databaseUrl, amqpUrl, handler: { type: 'chat.conversation.closed', batch: true, fn: handler }, ...TUNING });
  const walAt = async () => ((await node.ds.query('SELECT pg_current_wal_lsn()::text AS lsn')) as Array<{ lsn: string }>)[0]!.lsn;
  const wal0 = await walAt();
  const meter = cpuMeter(database);
  const t0 = performance.now();
  // Four writers at once, as concurrent requests to a service would be.
  await Promise.all(Array.from({ length: 4 }, () => produce(node, N / 4, 500)));
  const produced = performance.now();
  let relayed = 0;
  for (let i = 0; committed < N; i++) {
    if (!relayed && i % 20 === 0 && (await node.relay.backlog()) === 0) relayed = performance.now();
    await new Promise((r) => setTimeout(r, 5));
  }
  const end = performance.now();
  const stored = await counts(node.ds);
  if (stored.total !== N || stored.distinct !== N) throw new Error(`expected ${N} effects once each, found ${JSON.stringify(stored)}`);
  const cpu = meter.stop(N);
  const [{ bytes }] = (await node.ds.query('SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::float8 AS bytes', [await walAt(), wal0])) as Array<{ bytes: number }>;
  const rate = N / ((end - t0) / 1000);
  process.stdout.write(
    `end-to-end: outbox written ${(produced - t0).toFixed(0)} ms, relayed ${((relayed || end) - t0).toFixed(0)} ms, consumed ${(end - t0).toFixed(0)} ms; ` +
      `${cpuLine(cpu)} (Node: producer + relay + consumer in this process); WAL ${(bytes / N).toFixed(0)} bytes/event\n`,
  );
  await node.stop();
  return rate;
}

/** Empties the effects and the outbox between rounds. */
async function migrateFresh(databaseUrl: string): Promise<void> {
  const { Client } = await import('pg');
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  await c.query('TRUNCATE bus_test.effects, bus_test.outbox, bus_test.inbox');
  await c.end();
}

async function main(): Promise<void> {
  const infra = await createTestInfra('bench');
  try {
    await migrate(infra.databaseUrl);
    const raws: number[] = [];
    const e2es: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      raws.push(await rawCeiling(infra.amqpUrl, infra.databaseName));
      await migrateFresh(infra.databaseUrl);
      e2es.push(await endToEnd(infra.databaseUrl, infra.amqpUrl, infra.databaseName));
      process.stdout.write(`round ${r + 1}: raw ${raws[r]!.toFixed(0)} msg/s, end-to-end ${e2es[r]!.toFixed(0)} events/s\n`);
    }
    const raw = median(raws);
    const e2e = median(e2es);
    // Each round's pair ran back to back, so its ratio is less exposed to the machine's load swings.
    const paired = median(e2es.map((x, i) => x / raws[i]!));
    process.stdout.write(
      `events per round: ${N}, rounds: ${ROUNDS}\n` +
        `raw amqplib confirmed publish + acked consume (median): ${raw.toFixed(0)} msg/s\n` +
        `outbox → relay → RabbitMQ → consumer + inbox (median):  ${e2e.toFixed(0)} events/s\n` +
        `ratio of medians end-to-end / raw: ${(e2e / raw).toFixed(2)}; median of per-round ratios: ${paired.toFixed(2)}\n`,
    );
  } finally {
    await infra.cleanup();
  }
}

void main();
