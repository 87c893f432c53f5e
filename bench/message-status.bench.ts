/**
 * message-status benchmark (run on demand, not in tests):
 *
 *   ELO_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
 *   ELO_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5672 \
 *   node -r @swc-node/register bench/message-status.bench.ts [messages=25000] [lagSeconds=20] [rounds=3]
 *
 * 1. Throughput, `rounds` times: `2 × messages` provider statuses (delivered, then read) wait in the service
 *    queue; the service starts and we time until every message reads `read` (boot included). Prints each
 *    round and the median, in statuses applied per second, and the CPU a status cost: this process (the
 *    service runs in it; the publishing is done before the clock starts) and the database's PostgreSQL
 *    client backends.
 * 2. Lag: statuses published at a steady 2,000/s; for a sample of them, the time from publish until the
 *    new status is visible in the service's read path (the query behind GET /messages/{id}). Prints p50/p99.
 * The consumer runs with the service's bus settings; BUS_PREFETCH, BUS_BATCH_SIZE and BUS_CONCURRENCY in
 * the environment override them, as they do for the service. The load average is printed beside each
 * figure: the machine is shared, and the figures follow its load.
 * It uses a database and vhost of its own (createTestInfra) and drops them at the end.
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { createEvent, type CloudEvent } from '@elo/contracts';
import { BusProbe } from '@elo/messaging';
import { createTestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { MessageQueryService } from '../services/message-status/src/api/message-query.service';
import { BUS_TUNING } from '../services/message-status/src/app.module';
import { startTrackingCore, type TrackingCoreOptions } from '../services/message-status/test/tracking-core.module';
import { brokerPid, cpuDelta, cpuMs, pgCpuMs } from './proc';

const MESSAGES = Number(process.argv[2] ?? 25_000);
const LAG_SECONDS = Number(process.argv[3] ?? 20);
const ROUNDS = Number(process.argv[4] ?? 3);
const LAG_RATE = 2_000;
const tenant = randomUUID();
const channelId = randomUUID();
const envInt = (k: string) => (process.env[k] ? Number(process.env[k]) : undefined);
const overrides = { prefetch: envInt('BUS_PREFETCH'), batchSize: envInt('BUS_BATCH_SIZE'), concurrency: envInt('BUS_CONCURRENCY') };
const core: TrackingCoreOptions = { bus: Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) };
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
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

async function count(ds: DataSource, status: string, ids: string[]): Promise<number> {
  const [{ n }] = await ds.query(`SELECT count(*)::int AS n FROM message_status.messages WHERE status = $1 AND id = ANY($2::uuid[])`, [status, ids]);
  return n as number;
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function main(): Promise<void> {
  const infra = await createTestInfra('bench_message_status');
  const probe = await BusProbe.connect(infra.amqpUrl, []);
  try {
    out(`bus settings ${JSON.stringify({ ...BUS_TUNING, ...core.bus })}; load average at start ${load()}`);
    // Boot once to create the schema, the queue and its bindings; then stop consuming.
    let app = await startTrackingCore(infra.databaseUrl, infra.amqpUrl, core);
    await app.close();
    const rates: number[] = [];
    const cpu: Array<{ node: number; pg: number; mq: number }> = [];
    const broker = brokerPid();
    for (let round = 1; round <= ROUNDS; round++) {
      app = await startTrackingCore(infra.databaseUrl, infra.amqpUrl, core);
      const msgs = await seed(app.get(DataSource), MESSAGES);
      await app.close();

      const t0 = Date.now();
      const base = new Date();
      const events: CloudEvent[] = [];
      for (const m of msgs) events.push(statusEvent(m, 'delivered', new Date(base.getTime() + 1_000)));
      for (const m of msgs) events.push(statusEvent(m, 'read', new Date(base.getTime() + 2_000)));
      for (let i = 0; i < events.length; i += 2_000) await probe.publish(...events.slice(i, i + 2_000));
      const queuedMs = Date.now() - t0;

      const start = Date.now();
      const loadBefore = load();
      const [node0, pg0, mq0] = [cpuMs(process.pid), pgCpuMs(infra.databaseName), broker ? cpuMs(broker) : 0];
      app = await startTrackingCore(infra.databaseUrl, infra.amqpUrl, core);
      const ids = msgs.map((m) => m.id);
      // Polled on a sample first (the last statuses published are among the last applied), then on every message:
      // counting all of them every 50 ms would be a good part of the PostgreSQL CPU measured.
      const sample = ids.filter((_, i) => i % 50 === 0 || i >= ids.length - 50);
      while ((await count(app.get(DataSource), 'read', sample)) < sample.length) await sleep(50);
      while ((await count(app.get(DataSource), 'read', ids)) < ids.length) await sleep(50);
      const secs = (Date.now() - start) / 1_000;
      const used = { node: cpuMs(process.pid) - node0, pg: cpuDelta(pg0, pgCpuMs(infra.databaseName)), mq: broker ? cpuMs(broker) - mq0 : 0 };
      cpu.push(used);
      rates.push(events.length / secs);
      const us = (ms: number) => `${Math.round((ms * 1_000) / events.length)} µs`;
      out(`round ${round}: ${events.length} statuses (queued in ${queuedMs} ms) applied in ${secs.toFixed(2)} s = ` +
        `${Math.round(events.length / secs)} statuses/s; CPU a status: Node ${us(used.node)}, PostgreSQL ${us(used.pg)}` +
        `${broker ? `, RabbitMQ ${us(used.mq)} (the whole broker: other users' traffic counts too)` : ''}; ` +
        `load average ${loadBefore} → ${load()}`);
      if (round < ROUNDS) await app.close();
    }
    out(`throughput, median of ${ROUNDS}: ${Math.round(median(rates))} statuses/s ` +
      `(rounds ${rates.map((r) => Math.round(r)).join(', ')}; target ≥ 10,000/s); median CPU a status: ` +
      `Node ${Math.round((median(cpu.map((c) => c.node)) * 1_000) / (2 * MESSAGES))} µs, ` +
      `PostgreSQL ${Math.round((median(cpu.map((c) => c.pg)) * 1_000) / (2 * MESSAGES))} µs (boot included)`);
    const ds = app.get(DataSource);

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
    const lagLoad = load();
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
      `GET /messages/{id} read path: ${sample?.status}; load average ${lagLoad} → ${load()}`);
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
