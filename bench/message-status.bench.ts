/**
 * message-status benchmark (run on demand, not in tests):
 *
 *   ELO_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
 *   ELO_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5672 \
 *   node -r @swc-node/register bench/message-status.bench.ts [messages=25000] [lagSeconds=20]
 *
 * 1. Throughput: `2 × messages` provider statuses (delivered, then read) wait in the service queue; the
 *    service starts and we time until every message reads `read`. Prints statuses applied per second.
 * 2. Lag: statuses published at a steady 2,000/s; for a sample of them, the time from publish until the
 *    new status is visible in the service's read path (the query behind GET /messages/{id}). Prints p50/p99.
 * It uses a database and vhost of its own (createTestInfra) and drops them at the end.
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { createEvent, type CloudEvent } from '@elo/contracts';
import { BusProbe } from '@elo/messaging';
import { createTestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { MessageQueryService } from '../services/message-status/src/api/message-query.service';
import { startTrackingCore } from '../services/message-status/test/tracking-core.module';

const MESSAGES = Number(process.argv[2] ?? 25_000);
const LAG_SECONDS = Number(process.argv[3] ?? 20);
const LAG_RATE = 2_000;
const tenant = randomUUID();
const channelId = randomUUID();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const out = (s: string) => process.stdout.write(`${s}\n`);

interface Msg {
  id: string;
  pmid: string;
}

function statusEvent(m: Msg, status: 'delivered' | 'read', ts: Date): CloudEvent {
  return createEvent({
    type: 'chat.message.status',
    tenantId: tenant,
    source: 'elo://bench',
    data: { channelId, provider: 'whatsapp', providerMessageId: m.pmid, status, providerTimestamp: ts.toISOString() },
  });
}

async function seed(ds: DataSource, n: number): Promise<Msg[]> {
  const msgs = Array.from({ length: n }, () => ({ id: randomUUID(), pmid: `wamid.${randomUUID()}` }));
  for (let i = 0; i < msgs.length; i += 5_000) {
    const chunk = msgs.slice(i, i + 5_000);
    await ds.query(
      `INSERT INTO message_status.messages (id, tenant_id, channel_id, provider, provider_message_id, status, status_rank, status_at)
       SELECT id, $1, $2, 'whatsapp', pmid, 'sent', 1, now() FROM unnest($3::uuid[], $4::text[]) AS u(id, pmid)`,
      [tenant, channelId, chunk.map((m) => m.id), chunk.map((m) => m.pmid)],
    );
  }
  return msgs;
}

async function count(ds: DataSource, status: string, ids?: string[]): Promise<number> {
  const [{ n }] = ids
    ? await ds.query(`SELECT count(*)::int AS n FROM message_status.messages WHERE status = $1 AND id = ANY($2::uuid[])`, [status, ids])
    : await ds.query(`SELECT count(*)::int AS n FROM message_status.messages WHERE tenant_id = $1 AND status = $2`, [tenant, status]);
  return n as number;
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function main(): Promise<void> {
  const infra = await createTestInfra('bench_message_status');
  const probe = await BusProbe.connect(infra.amqpUrl, []);
  try {
    // Boot once to create the schema, the queue and its bindings; then stop consuming.
    let app = await startTrackingCore(infra.databaseUrl, infra.amqpUrl);
    const msgs = await seed(app.get(DataSource), MESSAGES);
    await app.close();

    const t0 = Date.now();
    const base = new Date();
    const events: CloudEvent[] = [];
    for (const m of msgs) events.push(statusEvent(m, 'delivered', new Date(base.getTime() + 1_000)));
    for (const m of msgs) events.push(statusEvent(m, 'read', new Date(base.getTime() + 2_000)));
    for (let i = 0; i < events.length; i += 2_000) await probe.publish(...events.slice(i, i + 2_000));
    out(`queued ${events.length} status events in ${Date.now() - t0} ms`);

    const start = Date.now();
    app = await startTrackingCore(infra.databaseUrl, infra.amqpUrl);
    const ds = app.get(DataSource);
    while ((await count(ds, 'read')) < msgs.length) await sleep(50);
    const secs = (Date.now() - start) / 1_000;
    out(`throughput: ${events.length} statuses applied in ${secs.toFixed(2)} s = ${Math.round(events.length / secs)} statuses/s (target ≥ 10,000/s)`);

    // Lag at a steady rate: fresh messages, one `delivered` each.
    const lagMsgs = await seed(ds, LAG_RATE * LAG_SECONDS);
    const queries = app.get(MessageQueryService);
    const published = new Map<string, number>();
    const lags: number[] = [];
    let done = false;
    const sampleEvery = 20;
    const watcher = (async () => {
      while (!done || published.size > 0) {
        const ids = [...published.keys()];
        if (ids.length > 0) {
          const rows: Array<{ id: string }> = await ds.query(
            `SELECT id FROM message_status.messages WHERE id = ANY($1::uuid[]) AND status = 'delivered'`,
            [ids],
          );
          const now = Date.now();
          for (const r of rows) {
            lags.push(now - published.get(r.id)!);
            published.delete(r.id);
          }
        }
        await sleep(10);
      }
    })();
    const tickMs = 50;
    const perTick = (LAG_RATE * tickMs) / 1_000;
    const lagStart = Date.now();
    for (let i = 0; i < lagMsgs.length; i += perTick) {
      const due = lagStart + (i / perTick) * tickMs;
      if (due > Date.now()) await sleep(due - Date.now());
      const batch = lagMsgs.slice(i, i + perTick);
      const sentAt = Date.now();
      await probe.publish(...batch.map((m) => statusEvent(m, 'delivered', new Date())));
      batch.forEach((m, k) => {
        if ((i + k) % sampleEvery === 0) published.set(m.id, sentAt);
      });
    }
    const rate = lagMsgs.length / ((Date.now() - lagStart) / 1_000);
    done = true;
    await Promise.race([watcher, sleep(30_000)]);
    lags.sort((a, b) => a - b);
    // One check through the API's read path as well.
    const sample = await queries.get(tenant, lagMsgs[0].id);
    out(`lag at ${Math.round(rate)} statuses/s for ${LAG_SECONDS} s (${lags.length} samples, ${published.size} never seen): ` +
      `p50 ${pct(lags, 50)} ms, p99 ${pct(lags, 99)} ms, max ${lags[lags.length - 1]} ms (target p99 < 1000 ms); ` +
      `GET /messages/{id} read path: ${sample?.status}`);
    await app.close();
  } finally {
    await probe.close();
    await infra.cleanup();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
