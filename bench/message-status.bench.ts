/**
 * message-status benchmark (run on demand, not in tests):
 *
 *   ELO_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
 *   ELO_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5672 \
 *   node -r @swc-node/register bench/message-status.bench.ts [messages=25000] [lagSeconds=20] [rounds=3]
 *
 * The service runs in a child process of its own (the whole app, HTTP included, as `npm start` runs it),
 * so the load generator and the polling do not share its event loop; it boots afresh for each round
 * inside that process (boot included in the round's time and CPU).
 * 1. Throughput, `rounds` times after one warm-up round that is printed but not counted (a running service
 *    is warm; a process booted afresh is not): `2 × messages` provider statuses (delivered, then read) wait in the service
 *    queue while the service is stopped, published as chat-ingress's outbox relay publishes a backlog (runs
 *    of one type in batch messages; BENCH_SINGLE=1 publishes one event a message); the service starts and
 *    we time until every message reads `read` in the database, from the first status handled (the boot
 *    applies nothing; the rate counting the boot is printed too). Prints each round and the median, in
 *    statuses applied per second, and the CPU a
 *    status cost: the service process, the PostgreSQL client backends serving it and the RabbitMQ node;
 *    and, apart, this process's own polling and the backends serving it.
 * 2. Lag: statuses published at a steady 2,000/s; for a sample of them, the time from publish until the
 *    new status is visible in the database (the rows GET /messages/{id} reads); one read through
 *    GET /messages/{id} itself at the end. Prints p50/p99.
 * BUS_PREFETCH, BUS_BATCH_SIZE and BUS_CONCURRENCY in the environment override the service's bus settings,
 * as they do for the service. BENCH_CPU_PROFILE=<dir> writes a CPU profile of the service over the last
 * throughput round. The load average is printed beside each figure: the machine is shared, and the
 * figures follow its load.
 * It uses a database and vhost of its own (createTestInfra) and drops them at the end.
 */
import 'reflect-metadata';
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createEvent, type CloudEvent } from '@elo/contracts';
import { BusConnection, BusProbe } from '@elo/messaging';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { createTestInfra } from '@elo/testing';
import type { INestApplication } from '@nestjs/common';
import { Pool } from 'pg';
import { AppModule, BUS_TUNING, SERVICE } from '../services/message-status/src/app.module';
import { MessageStatusConfig } from '../services/message-status/src/config/message-status.config';
import { brokerPid, cpuDelta, cpuMs, pgCpuMs } from './proc';

const MESSAGES = Number(process.argv[2] ?? 25_000);
const LAG_SECONDS = Number(process.argv[3] ?? 20);
const ROUNDS = Number(process.argv[4] ?? 3);
const LAG_RATE = 2_000;
const ADMIN = 'b'.repeat(40);
const channelId = randomUUID();
const envInt = (k: string) => (process.env[k] ? Number(process.env[k]) : undefined);
const overrides = { prefetch: envInt('BUS_PREFETCH'), batchSize: envInt('BUS_BATCH_SIZE'), concurrency: envInt('BUS_CONCURRENCY') };
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const out = (s: string) => process.stdout.write(`${s}\n`);
const BENCH_APP = 'elo-bench-message-status';

/** CPU used since `before` by this database's backends, split into the bench's own (its polling) and the rest (the service's). */
async function pgSplit(db: Pool, database: string, before: Map<string, number>): Promise<{ service: number; bench: number }> {
  const after = pgCpuMs(database);
  const { rows } = await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [BENCH_APP]);
  const mine = new Set(rows.map((r) => String(r.pid)));
  const part = (keep: (pid: string) => boolean) =>
    cpuDelta(new Map([...before].filter(([pid]) => keep(pid))), new Map([...after].filter(([pid]) => keep(pid))));
  return { service: part((pid) => !mine.has(pid)), bench: part((pid) => mine.has(pid)) };
}

interface Msg {
  id: string;
  pmid: string;
}

function statusEvent(tenant: string, m: Msg, status: 'delivered' | 'read', ts: Date): CloudEvent {
  return createEvent({
    type: 'chat.message.status',
    tenantId: tenant,
    source: 'elo://bench',
    data: { channelId, provider: 'whatsapp', providerMessageId: m.pmid, status, providerTimestamp: ts.toISOString() },
  });
}

async function seed(db: Pool, tenant: string, n: number): Promise<Msg[]> {
  const msgs = Array.from({ length: n }, () => ({ id: randomUUID(), pmid: `wamid.${randomUUID()}` }));
  for (let i = 0; i < msgs.length; i += 5_000) {
    const chunk = msgs.slice(i, i + 5_000);
    await db.query(
      `INSERT INTO message_status.messages (id, tenant_id, channel_id, provider, provider_message_id, status, status_rank, status_at)
       SELECT id, $1, $2, 'whatsapp', pmid, 'sent', 1, now() FROM unnest($3::uuid[], $4::text[]) AS u(id, pmid)`,
      [tenant, channelId, chunk.map((m) => m.id), chunk.map((m) => m.pmid)],
    );
  }
  return msgs;
}

async function count(db: Pool, status: string, ids: string[]): Promise<number> {
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM message_status.messages WHERE status = $1 AND id = ANY($2::uuid[])`, [status, ids]);
  return rows[0].n as number;
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

/**
 * Child process: the service, started and stopped on the parent's word ('start' → { url }, 'stop' →
 * { stopped }, 'profile-start' / 'profile-stop' → { file }, 'exit').
 */
function serve(databaseUrl: string, amqpUrl: string): void {
  const env = { ...process.env, DATABASE_URL: databaseUrl, AMQP_URL: amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN,
    ELO_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 9).toString('base64')}`, ELO_ENCRYPTION_ACTIVE_KEY: 'k1', LOG_LEVEL: 'warn',
    RATE_LIMIT_PER_KEY_PER_MINUTE: '0' };
  let app: INestApplication | undefined;
  const profiler = process.env.BENCH_CPU_PROFILE ? new Session() : undefined;
  profiler?.connect();
  const inspect = (method: string) =>
    new Promise<{ profile?: object }>((resolve, reject) => profiler!.post(method, (err, r) => (err ? reject(err) : resolve(r as { profile?: object }))));
  const handle = async (m: string): Promise<object> => {
    if (m === 'start') {
      const config = loadConfig(MessageStatusConfig, env);
      app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'message-status', config });
      await app.listen(0, '127.0.0.1');
      await app.get(BusConnection).waitReady(15_000);
      return { url: await app.getUrl() };
    }
    if (m === 'stop') {
      await app?.close();
      app = undefined;
      return { stopped: true };
    }
    if (m === 'profile-start') {
      await inspect('Profiler.enable');
      await inspect('Profiler.start');
      return { profiling: true };
    }
    if (m === 'profile-stop') {
      const { profile } = await inspect('Profiler.stop');
      const file = join(process.env.BENCH_CPU_PROFILE!, `message-status-${Date.now()}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      return { file };
    }
    await app?.close();
    process.exit(0);
  };
  process.on('message', (m: string) => {
    handle(m).then(
      (r) => process.send!(r),
      (err: Error) => {
        process.stderr.write(`service: ${err.stack ?? err.message}\n`);
        process.exit(1);
      },
    );
  });
}

/** Sends `what` to the service process and waits for its answer. */
function ask<T>(child: ChildProcess, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`the service exited (${code})`));
    child.once('exit', onExit);
    child.once('message', (m: T) => {
      child.off('exit', onExit);
      resolve(m);
    });
    child.send(what);
  });
}

async function api<T>(url: string, path: string, key: string, body?: unknown): Promise<T> {
  const res = await fetch(`${url}${path}`, {
    method: body ? 'POST' : 'GET',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function main(): Promise<void> {
  const infra = await createTestInfra('bench_message_status');
  const probe = await BusProbe.connect(infra.amqpUrl, []);
  // Named, so the CPU its backends spend polling is told apart from the service's.
  const db = new Pool({ connectionString: infra.databaseUrl, max: 4, idleTimeoutMillis: 0, application_name: BENCH_APP });
  if (process.env.BENCH_CPU_PROFILE) mkdirSync(process.env.BENCH_CPU_PROFILE, { recursive: true });
  const child = fork(__filename, ['--serve', infra.databaseUrl, infra.amqpUrl], { execArgv: ['-r', '@swc-node/register'] });
  try {
    const settings = { ...BUS_TUNING, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) };
    out(`bus settings ${JSON.stringify(settings)}; load average at start ${load()}`);
    // Boot once to create the schema, the queue and its bindings, and a tenant with a dashboard key; then stop consuming.
    let { url } = await ask<{ url: string }>(child, 'start');
    const { id: tenant } = await api<{ id: string }>(url, '/tenants', ADMIN, { name: 'bench' });
    const { key } = await api<{ key: string }>(url, `/tenants/${tenant}/keys`, ADMIN, { name: 'bench', permissions: ['dashboard:read'] });
    await ask(child, 'stop');
    const rates: number[] = [];
    const withBoot: number[] = [];
    const cpu: Array<{ node: number; pg: number; mq: number }> = [];
    const broker = brokerPid();
    // Round 0 warms the service up and is not counted: a process booted afresh runs its first seconds in
    // code not yet optimised (its first round cost 90-106 µs of service CPU a status against 62-68 in the
    // next, 4 December), and a running service is warm.
    for (let round = 0; round <= ROUNDS; round++) {
      const msgs = await seed(db, tenant, MESSAGES);
      const t0 = Date.now();
      const base = new Date();
      const events: CloudEvent[] = [];
      for (const m of msgs) events.push(statusEvent(tenant, m, 'delivered', new Date(base.getTime() + 1_000)));
      for (const m of msgs) events.push(statusEvent(tenant, m, 'read', new Date(base.getTime() + 2_000)));
      for (let i = 0; i < events.length; i += 2_000) await (process.env.BENCH_SINGLE ? probe.publish(...events.slice(i, i + 2_000)) : probe.publishBatched(...events.slice(i, i + 2_000)));
      const queuedMs = Date.now() - t0;

      const profiling = process.env.BENCH_CPU_PROFILE && round === ROUNDS;
      if (profiling) await ask(child, 'profile-start');
      const start = Date.now();
      const loadBefore = load();
      const [svc0, self0, pg0, mq0] = [cpuMs(child.pid!), cpuMs(process.pid), pgCpuMs(infra.databaseName), broker ? cpuMs(broker) : 0];
      ({ url } = await ask<{ url: string }>(child, 'start'));
      const ids = msgs.map((m) => m.id);
      // Polled on a sample first (the last statuses published are among the last applied), then on every message:
      // counting all of them every 50 ms would be a good part of the PostgreSQL CPU measured.
      const sample = ids.filter((_, i) => i % 500 === 0 || i >= ids.length - 20);
      while ((await count(db, 'read', sample)) < sample.length) await sleep(50);
      while ((await count(db, 'read', ids)) < ids.length) await sleep(50);
      const end = Date.now();
      const secs = (end - start) / 1_000;
      // When the first of these statuses was handled (its transaction's start): the boot before it applies nothing.
      const { rows: [first] } = await db.query<{ at: number }>(
        `SELECT extract(epoch FROM min(received_at)) * 1000 AS at FROM message_status.message_events WHERE message_id = ANY($1::uuid[])`, [ids]);
      const applySecs = (end - Number(first!.at)) / 1_000;
      const pg = await pgSplit(db, infra.databaseName, pg0);
      const used = { node: cpuMs(child.pid!) - svc0, pg: pg.service, mq: broker ? cpuMs(broker) - mq0 : 0 };
      const self = cpuMs(process.pid) - self0;
      if (profiling) out(`service CPU profile of round ${round}: ${(await ask<{ file: string }>(child, 'profile-stop')).file}`);
      if (round > 0) {
        cpu.push(used);
        rates.push(events.length / applySecs);
        withBoot.push(events.length / secs);
      }
      const us = (ms: number) => `${Math.round((ms * 1_000) / events.length)} µs`;
      out(`${round ? `round ${round}` : 'warm-up round (not counted)'}: ${events.length} statuses (queued in ${queuedMs} ms) applied in ${applySecs.toFixed(2)} s from the first one ` +
        `handled = ${Math.round(events.length / applySecs)} statuses/s (${secs.toFixed(2)} s and ${Math.round(events.length / secs)}/s ` +
        `counting the service's boot); CPU a status: service ${us(used.node)}, PostgreSQL ${us(used.pg)}` +
        `${broker ? `, RabbitMQ ${us(used.mq)} (the whole broker: other users' traffic counts too)` : ''}; ` +
        `bench process ${us(self)} and its PostgreSQL backends ${us(pg.bench)}; load average ${loadBefore} → ${load()}`);
      if (round < ROUNDS) await ask(child, 'stop');
    }
    const perStatus = (xs: number[]) => Math.round((median(xs) * 1_000) / (2 * MESSAGES));
    out(`throughput, median of ${ROUNDS}: ${Math.round(median(rates))} statuses/s applied ` +
      `(rounds ${rates.map((r) => Math.round(r)).join(', ')}; target ≥ 10,000/s); counting the boot ${Math.round(median(withBoot))}/s; median CPU a status: ` +
      `service ${perStatus(cpu.map((c) => c.node))} µs, PostgreSQL ${perStatus(cpu.map((c) => c.pg))} µs, ` +
      `RabbitMQ ${perStatus(cpu.map((c) => c.mq))} µs (boot included)`);

    // Lag at a steady rate: fresh messages, one `delivered` each.
    const lagMsgs = await seed(db, tenant, LAG_RATE * LAG_SECONDS);
    const published = new Map<string, number>();
    const lags: number[] = [];
    let done = false;
    const sampleEvery = 20;
    const watcher = (async () => {
      while (!done || published.size > 0) {
        const ids = [...published.keys()];
        if (ids.length > 0) {
          const { rows } = await db.query<{ id: string }>(
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
      await probe.publish(...batch.map((m) => statusEvent(tenant, m, 'delivered', new Date())));
      batch.forEach((m, k) => {
        if ((i + k) % sampleEvery === 0) published.set(m.id, sentAt);
      });
    }
    const rate = lagMsgs.length / ((Date.now() - lagStart) / 1_000);
    done = true;
    await Promise.race([watcher, sleep(30_000)]);
    lags.sort((a, b) => a - b);
    // One read through the API itself as well.
    const viewed = await api<{ status: string }>(url, `/messages/${lagMsgs[0].id}`, key);
    out(`lag at ${Math.round(rate)} statuses/s for ${LAG_SECONDS} s (${lags.length} samples, ${published.size} never seen): ` +
      `p50 ${pct(lags, 50)} ms, p99 ${pct(lags, 99)} ms, max ${lags[lags.length - 1]} ms (target p99 < 1000 ms); ` +
      `GET /messages/{id}: ${viewed.status}; load average ${lagLoad} → ${load()}`);
  } finally {
    if (child.exitCode === null) await ask(child, 'exit').catch(() => undefined);
    await db.end();
    await probe.close();
    await infra.cleanup();
  }
}

const run = process.argv[2] === '--serve' ? (serve(process.argv[3], process.argv[4]), new Promise<void>(() => undefined)) : main();
run.then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
