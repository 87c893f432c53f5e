// Events per second through outbox → relay → RabbitMQ → consumer with inbox, against the raw amqplib
// ceiling (confirmed publish + acked consume of the same messages) measured in the same run.
//   node -r @swc-node/register bench/bus.bench.ts [events=20000]
// Needs local PostgreSQL and RabbitMQ (ELO_TEST_DATABASE_URL / ELO_TEST_AMQP_URL or the defaults).
import 'reflect-metadata';
import { connect } from 'amqplib';
import { createTestInfra } from '@elo/testing';
import { counts, migrate, produce, recordEffects, startNode } from '../libs/messaging/test/harness';

process.env.ELO_TEST_DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/postgres';
process.env.ELO_TEST_AMQP_URL ??= 'amqp://guest:guest@127.0.0.1:5672';
const N = Number(process.argv[2] ?? 20_000);

async function rawCeiling(amqpUrl: string, payload: Buffer): Promise<number> {
  const model = await connect(amqpUrl);
  const pub = await model.createConfirmChannel();
  const sub = await model.createChannel();
  const q = 'bench.raw';
  await pub.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await pub.purgeQueue(q);
  await sub.prefetch(400);
  let got = 0;
  const t0 = performance.now();
  const done = new Promise<void>((resolve) => {
    void sub.consume(q, (m) => {
      if (!m) return;
      sub.ack(m);
      if (++got === N) resolve();
    });
  });
  for (let i = 0; i < N; i += 500) {
    for (let j = i; j < Math.min(N, i + 500); j++) pub.sendToQueue(q, payload, { persistent: true });
    await pub.waitForConfirms();
  }
  await done;
  const rate = N / ((performance.now() - t0) / 1000);
  await pub.deleteQueue(q);
  await model.close();
  return rate;
}

async function endToEnd(databaseUrl: string, amqpUrl: string): Promise<number> {
  const node = await startNode({ databaseUrl, amqpUrl, handler: { type: 'chat.conversation.closed', batch: true, fn: recordEffects } });
  const t0 = performance.now();
  await produce(node, N, 1_000);
  for (;;) {
    if ((await counts(node.ds)).total >= N) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const rate = N / ((performance.now() - t0) / 1000);
  await node.stop();
  return rate;
}

async function main(): Promise<void> {
  const infra = await createTestInfra('bench');
  try {
    await migrate(infra.databaseUrl);
    const sample = Buffer.from(JSON.stringify({ specversion: '1.0', id: '00000000-0000-4000-8000-000000000000', type: 'chat.conversation.closed', data: { reason: 'x'.repeat(60) } }));
    const raw = await rawCeiling(infra.amqpUrl, sample);
    const e2e = await endToEnd(infra.databaseUrl, infra.amqpUrl);
    process.stdout.write(
      `events: ${N}\n` +
        `raw amqplib confirmed publish + acked consume: ${raw.toFixed(0)} msg/s\n` +
        `outbox → relay → RabbitMQ → consumer + inbox:  ${e2e.toFixed(0)} events/s\n` +
        `ratio end-to-end / raw: ${(e2e / raw).toFixed(2)}\n`,
    );
  } finally {
    await infra.cleanup();
  }
}

void main();
