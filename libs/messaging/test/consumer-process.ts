// A consumer in its own process, for the SIGKILL fault test: handles events until killed.
import 'reflect-metadata';
import type { BatchHandler } from '../src/types';
import { recordEffects, startNode } from './harness';

async function main(): Promise<void> {
  await startNode({
    databaseUrl: process.env.BUS_TEST_DATABASE_URL!,
    amqpUrl: process.env.BUS_TEST_AMQP_URL!,
    relay: false,
    batchSize: 50,
    handler: {
      type: 'chat.conversation.closed',
      batch: true,
      fn: (async (events, ctx) => {
        await recordEffects(events, ctx);
        // Keep each transaction open a moment so the kill lands mid-batch.
        await ctx.manager.query('SELECT pg_sleep(0.02)');
      }) as BatchHandler,
    },
  });
  process.stdout.write('ready\n');
}

void main();
