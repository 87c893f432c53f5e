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
        // Keep each transaction open a moment so the kill lands mid-batch, and so the stream lasts seconds: the test
        // kills once 500 are in, and a test process held up on a loaded machine could otherwise kill a consumer
        // that had already finished (20 ms a batch: the 3,000 took about a second).
        await ctx.manager.query('SELECT pg_sleep(0.1)');
      }) as BatchHandler,
    },
  });
  process.stdout.write('ready\n');
}

void main();
