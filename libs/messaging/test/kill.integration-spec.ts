import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { counts, migrate, produce, startNode, type BusNode } from './harness';

const root = join(__dirname, '..', '..', '..');

function startConsumer(infra: TestInfra): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', join(__dirname, 'consumer-process.ts')], {
    cwd: root,
    env: { ...process.env, BUS_TEST_DATABASE_URL: infra.databaseUrl, BUS_TEST_AMQP_URL: infra.amqpUrl },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve(child));
    child.on('exit', (code) => reject(new Error(`consumer exited early (${code})`)));
  });
}

describe('bus: a consumer killed with SIGKILL mid-batch', () => {
  let infra: TestInfra;
  let producer: BusNode;

  beforeAll(async () => {
    infra = await createTestInfra('buskill');
    await migrate(infra.databaseUrl);
    // The producer declares the topology (with the consumer's binding) and relays the outbox.
    producer = await startNode({
      databaseUrl: infra.databaseUrl,
      amqpUrl: infra.amqpUrl,
      handler: { type: 'chat.conversation.closed', batch: true, fn: async () => { throw new Error('producer does not consume'); } },
    });
    await producer.consumers.stop(); // the binding stays; only the separate process consumes
  });

  afterAll(async () => {
    await producer?.stop();
    await infra?.cleanup();
  });

  it('loses no event and applies none twice after a restart', async () => {
    await produce(producer, 3_000, 250);
    await expectEventually(async () => expect(await producer.relay.backlog()).toBe(0), { timeoutMs: 30_000 });

    const first = await startConsumer(infra);
    await expectEventually(async () => expect((await counts(producer.ds)).total).toBeGreaterThanOrEqual(500), {
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const atKill = (await counts(producer.ds)).total;
    expect(atKill).toBeLessThan(3_000);

    const second = await startConsumer(infra);
    try {
      await expectEventually(async () => expect((await counts(producer.ds)).total).toBeGreaterThanOrEqual(3_000), {
        timeoutMs: 60_000,
        intervalMs: 100,
      });
      expect(await counts(producer.ds)).toEqual({ total: 3_000, distinct: 3_000 });
    } finally {
      second.kill('SIGTERM');
      await new Promise((r) => second.once('exit', r));
    }
  }, 120_000);
});
