import type { INestApplicationContext } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { CloudEvent } from '@elo/contracts';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, expectEventually, withAdminClient, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { sendRequested, sent, status } from './events.fixture';
import { startTrackingCore } from './tracking-core.module';

/**
 * Replicas compete on the queue, each with batches in flight at once: their transactions touch the same
 * messages through every kind of event. Each batch locks its messages in one ordered statement, so
 * they never deadlock (a deadlock would cost a second and a one-by-one replay of the batch).
 */
describe('message-status replicas with batches in flight at once (real PostgreSQL and RabbitMQ)', () => {
  let infra: TestInfra;
  let probe: BusProbe;
  const replicas: INestApplicationContext[] = [];
  const tenant = randomUUID();

  beforeAll(async () => {
    infra = await createTestInfra('message_status_replicas');
    probe = await BusProbe.connect(infra.amqpUrl, ['message.#']);
  });

  afterAll(async () => {
    await probe?.close();
    for (const r of replicas.splice(0)) await r.close();
    await infra?.cleanup();
  });

  it('events in any order: every message ends right, no move lost or doubled, and no deadlock', async () => {
    // Small batches, two in flight per replica: many transactions overlap on the same messages.
    for (let i = 0; i < 2; i++) {
      replicas.push(await startTrackingCore(infra.databaseUrl, infra.amqpUrl, { bus: { concurrency: 2, batchSize: 8, prefetch: 64 } }));
    }
    const ds = replicas[0].get(DataSource);
    const channelId = randomUUID();
    const ms = Array.from({ length: 80 }, () => ({ messageId: randomUUID(), channelId, pmid: `wamid.${randomUUID()}` }));
    const events: CloudEvent[] = ms.flatMap((m) => [
      sendRequested(tenant, { messageId: m.messageId, channelId, time: 0 }),
      sent(tenant, { ...m, provider: 'whatsapp', t: 1 }),
      status(tenant, { ...m, eloMessageId: m.messageId, provider: 'whatsapp', status: 'delivered', t: 2 }),
      status(tenant, { ...m, provider: 'whatsapp', status: 'read', t: 3 }),
    ]);
    let seed = 7;
    for (let i = events.length - 1; i > 0; i--) {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      const j = seed % (i + 1);
      [events[i], events[j]] = [events[j], events[i]];
    }
    await probe.publish(...events);

    const ids = ms.map((m) => m.messageId);
    await expectEventually(async () => {
      const rows: Array<{ status: string; n: number }> = await ds.query(
        `SELECT x.status, (SELECT count(*)::int FROM message_status.message_events e WHERE e.message_id = x.id) AS n
           FROM message_status.messages x WHERE x.id = ANY($1::uuid[])`,
        [ids],
      );
      expect(rows.map((r) => `${r.status}/${r.n}`)).toEqual(ids.map(() => 'read/4'));
    }, { timeoutMs: 30_000 });
    await expectEventually(() => {
      for (const id of ids) {
        const moves = probe.ofType<{ messageId: string; status: string }>('message.status.changed').filter((e) => e.data.messageId === id).map((e) => e.data.status);
        expect(new Set(moves).size).toBe(moves.length);
        expect(moves).toContain('read');
      }
    });

    // A backend reports its deadlocks to the statistics when it exits: stop every replica first.
    const database = new URL(infra.databaseUrl).pathname.slice(1);
    for (const r of replicas.splice(0)) await r.close();
    await withAdminClient(infra.databaseUrl, async (c) => {
      await expectEventually(async () => {
        const { rows } = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [database]);
        expect(rows[0].n).toBe(0);
      });
      const { rows } = await c.query<{ deadlocks: string }>(`SELECT deadlocks::text FROM pg_stat_database WHERE datname = $1`, [database]);
      expect(rows[0].deadlocks).toBe('0');
    });
  });
});
