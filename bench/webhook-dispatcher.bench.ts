/**
 * webhook-dispatcher benchmark (run on demand, not in tests):
 *
 *   node -r @swc-node/register bench/webhook-dispatcher.bench.ts [deliveries=10000]
 *
 * Elo: `deliveries` chat.message.received events are published to the bus as chat-ingress's outbox relay
 * publishes a backlog (runs of one type in batch messages, in chunks of 500, as BullMQ's side adds its jobs
 * in bulk); one enabled integration
 * matches each, and the service renders, signs (Standard Webhooks), POSTs to a local sink that answers
 * 200, and logs every attempt. Measured: deliveries per second from first publish to last request
 * received, and p50/p99 from an event's publish to its request at the sink.
 * Baseline, same run: what a Node team typically writes — a BullMQ queue on the local Redis, a worker
 * (concurrency 64) that builds the same JSON body, signs it the same way, POSTs it with fetch and
 * inserts an attempt row into PostgreSQL. Prints both and the ratio. Target: ≥ 3,000 deliveries/s and
 * ahead of the baseline. Needs local PostgreSQL, RabbitMQ and Redis (REDIS_URL, default 127.0.0.1:6379).
 *
 * As in production, each side runs alone in a process of its own: the service (services/webhook-dispatcher/
 * src/main.ts, spawned with its env) or the BullMQ worker (a child of this file), and the sink, an outside
 * system, in another child that notes when each request arrived and hands the times back at the end. This
 * process only publishes (to RabbitMQ, or adds the jobs to the BullMQ queue). Both sides use one database
 * of the run's own (createTestInfra) and the same kind of sink.
 *
 * The CPU a delivery is printed per process (service or worker, sink, publisher, the PostgreSQL backends of
 * the run's database, the RabbitMQ node, Redis), counted until the side has logged every attempt (for Elo
 * also published every outcome event), not only until the last request arrived: writing the log is part
 * of the work. The machine is shared: the absolute rates follow its load; compare the ratio of the same run
 * and the CPU a delivery. BENCH_ELO_ONLY=1 runs Elo alone; BENCH_PROFILE=<dir> writes the service's
 * (or the worker's) CPU profile there (--cpu-prof).
 */
import 'reflect-metadata';
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { createEvent, type CloudEvent } from '@elo/contracts';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, type TestInfra } from '@elo/testing';
import { Client, Pool } from 'pg';
import { cpuDelta, cpuMs, cpuOf, pgCpuMs } from './proc';
import { freePort, waitReady } from './service-process';

process.env.ELO_TEST_DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/postgres';
process.env.ELO_TEST_AMQP_URL ??= 'amqp://guest:guest@127.0.0.1:5672';
const N = Number(process.argv[2] ?? 10_000);
const ADMIN_KEY = 'a'.repeat(40);
const API_KEY_SECRET = 'sk_bench_0123456789';
const out = (s: string) => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Wall-clock time in ms with sub-millisecond precision, comparable across this machine's processes. */
const now = () => performance.timeOrigin + performance.now();
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const forkSelf = (args: string[], profile = false): ChildProcess =>
  fork(__filename, args, { execArgv: [...profileArgs(profile), '-r', '@swc-node/register'] });

function profileArgs(on: boolean): string[] {
  return on && process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
}

/** The next message from `child` that `pick` accepts. */
function message<T>(child: ChildProcess, pick: (m: Record<string, unknown>) => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: Record<string, unknown>) => {
      const v = pick(m);
      if (v === undefined) return;
      child.off('message', on);
      child.off('exit', exit);
      resolve(v);
    };
    const exit = (code: number | null) => reject(new Error(`child process exited (${code})`));
    child.on('message', on);
    child.once('exit', exit);
  });
}

async function stopChild(child: ChildProcess, how: () => void): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  how();
  await exited;
}

// ---------------------------------------------------------------- the sink (a child process)

/**
 * Answers 200 to everything; notes when each event id's request first arrived. Tells the parent once
 * `expect` distinct ids have arrived, and sends the arrival times when asked.
 */
function runSink(): void {
  const arrivals = new Map<string, number>();
  let expected = Infinity;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = now();
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string };
        if (!arrivals.has(body.id)) {
          arrivals.set(body.id, at);
          if (arrivals.size === expected) process.send!({ done: arrivals.size });
        }
      } catch {
        /* not ours */
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send!({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}` }));
  process.on('message', (m: { expect?: number; get?: boolean; stop?: boolean }) => {
    if (m.expect !== undefined) expected = m.expect;
    if (m.get) process.send!({ arrivals: [...arrivals] });
    if (m.stop) server.close(() => process.exit(0));
  });
}

interface Sink {
  child: ChildProcess;
  url: string;
  /** Resolves once `n` distinct ids have arrived. */
  done: Promise<unknown>;
  arrivals(): Promise<Map<string, number>>;
}

async function startSink(n: number): Promise<Sink> {
  const child = forkSelf(['--sink']);
  const url = await message(child, (m) => m['url'] as string | undefined);
  const done = message(child, (m) => m['done']);
  child.send({ expect: n });
  return {
    child, url, done,
    arrivals: async () => {
      const got = message(child, (m) => m['arrivals'] as Array<[string, number]> | undefined);
      child.send({ get: true });
      return new Map(await got);
    },
  };
}

// ---------------------------------------------------------------- the BullMQ worker (a child process)

interface WorkerArgs {
  queue: string;
  sinkUrl: string;
  table: string;
  databaseUrl: string;
  secret: string;
}

/** The baseline's worker: builds the body, signs it, POSTs it with fetch and logs the attempt. */
function runBullWorker(a: WorkerArgs): void {
  const connection = redisConnection();
  const pool = new Pool({ connectionString: a.databaseUrl, max: 8 });
  const secret = Buffer.from(a.secret, 'base64');
  const worker = new Worker(a.queue, async (job) => {
    const e = job.data as CloudEvent<{ contact: { attributes: { cpf: string } }; message: { text: string } }>;
    const body = JSON.stringify({ id: e.id, customer: { cpf: e.data.contact.attributes.cpf }, text: e.data.message.text });
    const ts = Math.floor(Date.now() / 1000).toString();
    const sig = createHmac('sha256', secret).update(`${job.id}.${ts}.${body}`).digest('base64');
    const started = performance.now();
    const res = await fetch(`${a.sinkUrl}/hook`, {
      method: 'POST', body, redirect: 'manual',
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY_SECRET, 'webhook-id': String(job.id), 'webhook-timestamp': ts, 'webhook-signature': `v1,${sig}` },
    });
    await res.arrayBuffer();
    await pool.query(`INSERT INTO ${a.table} (delivery_id, request, status, duration_ms) VALUES ($1, $2, $3, $4)`, [
      String(job.id), { url: `${a.sinkUrl}/hook`, body }, res.status, Math.round(performance.now() - started),
    ]);
    if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status}`);
  }, { connection, concurrency: 64 });
  void worker.waitUntilReady().then(() => process.send!({ ready: true }));
  process.on('message', (m: { stop?: boolean }) => {
    if (m.stop) void worker.close().then(() => pool.end()).then(() => process.exit(0));
  });
}

function redisConnection(): { host: string; port: number; maxRetriesPerRequest: null } {
  const redis = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  return { host: redis.hostname, port: Number(redis.port || 6379), maxRetriesPerRequest: null };
}

// ---------------------------------------------------------------- measuring

function chatMessage(tenantId: string, i: number): CloudEvent {
  const conversationId = randomUUID();
  return createEvent({
    type: 'chat.message.received', tenantId, source: 'elo://bench', subject: conversationId,
    data: {
      channelId: randomUUID(), provider: 'whatsapp', conversationId, providerMessageId: `wamid.${i}`,
      contact: { phone: '+5511999990000', name: 'Ana', attributes: { cpf: '12345678909' } },
      message: { kind: 'text', text: `hello ${i}` }, providerTimestamp: new Date().toISOString(),
    },
  });
}

/** CPU so far (ms) of each process doing the work. */
interface CpuSample {
  worker: number;
  sink: number;
  publisher: number;
  pg: Map<string, number>;
  mq: Map<string, number>;
  redis: Map<string, number>;
}

function sampleCpu(workerPid: number, sinkPid: number, database: string): CpuSample {
  const self = process.cpuUsage();
  return {
    worker: cpuMs(workerPid),
    sink: cpuMs(sinkPid),
    publisher: (self.user + self.system) / 1000,
    pg: pgCpuMs(database),
    mq: cpuOf((c) => c.includes('beam.smp') && c.includes('rabbit')),
    redis: cpuOf((c) => c.startsWith('redis-server')),
  };
}

/**
 * Prints the rate (first publish to last arrival), the latencies, how long the side took to log every
 * attempt, and the CPU a delivery by process from `c0` to `c1` (taken once everything was logged).
 */
function report(label: string, workerName: string, published: Map<string, number>, arrivals: Map<string, number>, t0: number, loggedAt: number, c0: CpuSample, c1: CpuSample): number {
  const last = Math.max(...arrivals.values());
  const rate = arrivals.size / ((last - t0) / 1000);
  const lags = [...arrivals].map(([id, at]) => at - (published.get(id) ?? at));
  const us = (ms: number) => ((ms * 1000) / arrivals.size).toFixed(0);
  const total = c1.worker - c0.worker + c1.sink - c0.sink + c1.publisher - c0.publisher + cpuDelta(c0.pg, c1.pg) + cpuDelta(c0.mq, c1.mq) + cpuDelta(c0.redis, c1.redis);
  out(`${label}: ${arrivals.size} deliveries in ${((last - t0) / 1000).toFixed(2)} s = ${Math.round(rate)}/s; publish→received p50 ${pct(lags, 50).toFixed(0)} ms, p99 ${pct(lags, 99).toFixed(0)} ms; `
    + `every attempt logged after ${((loggedAt - t0) / 1000).toFixed(2)} s`);
  out(`  CPU µs a delivery: ${workerName} ${us(c1.worker - c0.worker)}, PostgreSQL backends ${us(cpuDelta(c0.pg, c1.pg))}, RabbitMQ ${us(cpuDelta(c0.mq, c1.mq))}, `
    + `Redis ${us(cpuDelta(c0.redis, c1.redis))} (the broker and Redis whole), sink ${us(c1.sink - c0.sink)}, publisher ${us(c1.publisher - c0.publisher)}; `
    + `all ${us(total)}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  return rate;
}

/** Polls `count` until it reaches `n`; the time it did. */
async function until(n: number, count: () => Promise<number>): Promise<number> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    if ((await count()) >= n) return now();
    if (Date.now() > deadline) throw new Error(`still short of ${n} after 2 minutes`);
    await sleep(20);
  }
}

async function admin<T>(url: string, path: string, body: unknown, key = ADMIN_KEY): Promise<T> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function count(db: Client, sql: string): Promise<number> {
  return ((await db.query(sql)).rows[0] as { n: number }).n;
}

// ---------------------------------------------------------------- the two sides

async function elo(infra: TestInfra, db: Client): Promise<number> {
  const sink = await startSink(N);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const service = spawn(process.execPath, [...profileArgs(true), '-r', '@swc-node/register', join(__dirname, '..', 'services', 'webhook-dispatcher', 'src', 'main.ts')], {
    env: {
      ...process.env, DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: String(port), ELO_ADMIN_KEY: ADMIN_KEY,
      ELO_ENCRYPTION_KEYS: 'k1:' + Buffer.alloc(32, 7).toString('base64'), ELO_ENCRYPTION_ACTIVE_KEY: 'k1',
      EGRESS_ALLOW_PRIVATE: '127.0.0.1/32', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      // One sink, one integration: let it use the whole worker (the baseline runs 64 at once too).
      DISPATCHER_CONCURRENCY: process.env.DISPATCHER_CONCURRENCY ?? '64',
      DISPATCHER_PER_INTEGRATION_CONCURRENCY: process.env.DISPATCHER_CONCURRENCY ?? '64',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  let probe: BusProbe | undefined;
  try {
    await waitReady(url, service);
    probe = await BusProbe.connect(infra.amqpUrl, []);
    const { id: tenantId } = await admin<{ id: string }>(url, '/tenants', { name: `bench-${Date.now()}` });
    const { key } = await admin<{ key: string }>(url, `/tenants/${tenantId}/keys`, { name: 'bench', permissions: ['integrations:manage'] });
    await admin(url, '/integrations', {
      name: 'sink', kind: 'http',
      request: { method: 'POST', url: `${sink.url}/hook`, headers: 'X-Api-Key: {secret.k}', body: { kind: 'keyvalue', pairs: [
        { key: 'id', value: '{event.id}' }, { key: 'customer[cpf]', value: '{contact.attributes.cpf}' }, { key: 'text', value: '{message.text}' },
      ] } },
      trigger: { eventTypes: ['chat.message.received'] }, secrets: { k: API_KEY_SECRET },
    }, key);
    const events = Array.from({ length: N }, (_, i) => chatMessage(tenantId, i));
    const published = new Map<string, number>();
    const c0 = sampleCpu(service.pid!, sink.child.pid!, infra.databaseName);
    const t0 = now();
    for (let i = 0; i < events.length; i += 500) {
      const chunk = events.slice(i, i + 500);
      const at = now();
      for (const e of chunk) published.set(e.id, at);
      await probe.publishBatched(...chunk);
    }
    await sink.done;
    const loggedAt = await until(N, () => count(db, `SELECT (SELECT count(*) FROM dispatcher.attempts)::int
      - (SELECT count(*) FROM dispatcher.outbox)::int AS n`));
    const c1 = sampleCpu(service.pid!, sink.child.pid!, infra.databaseName);
    const rate = report('elo webhook-dispatcher', 'service', published, await sink.arrivals(), t0, loggedAt, c0, c1);
    const [w] = (await db.query(
      `SELECT extract(epoch FROM max(d.created_at) - min(d.created_at))::float AS written,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.created_at - d.created_at))::float AS wait_p50,
              count(DISTINCT a.delivery_id)::int AS delivered, count(a.*)::int AS attempts
       FROM dispatcher.deliveries d LEFT JOIN dispatcher.attempts a ON a.delivery_id = d.id`,
    )).rows as Array<{ written: number; wait_p50: number; delivered: number; attempts: number }>;
    out(`  ${w.attempts} attempts logged for ${w.delivered} deliveries; deliveries written by the consumer over ${w.written.toFixed(2)} s; delivery written→attempt logged p50 ${(w.wait_p50 * 1000).toFixed(0)} ms`);
    return rate;
  } finally {
    await probe?.close();
    // SIGINT: the service closes (and writes its CPU profile when asked to) before it exits.
    await stopChild(service, () => service.kill('SIGINT'));
    await stopChild(sink.child, () => sink.child.send({ stop: true }));
  }
}

async function bullmq(infra: TestInfra, db: Client): Promise<number> {
  const sink = await startSink(N);
  const name = `bench-webhooks-${Date.now()}`;
  const queue = new Queue(name, { connection: redisConnection() });
  const table = `bench_attempts_${Date.now()}`;
  await db.query(`CREATE UNLOGGED TABLE ${table} (id bigserial PRIMARY KEY, delivery_id text, request jsonb, status int, duration_ms int, at timestamptz DEFAULT now())`);
  const args: WorkerArgs = { queue: name, sinkUrl: sink.url, table, databaseUrl: infra.databaseUrl, secret: randomBytes(32).toString('base64') };
  const worker = forkSelf(['--bullmq-worker', JSON.stringify(args)], true);
  try {
    await message(worker, (m) => m['ready']);
    const events = Array.from({ length: N }, (_, i) => chatMessage('bench', i));
    const published = new Map<string, number>();
    const c0 = sampleCpu(worker.pid!, sink.child.pid!, infra.databaseName);
    const t0 = now();
    for (let i = 0; i < events.length; i += 500) {
      const chunk = events.slice(i, i + 500);
      const at = now();
      for (const e of chunk) published.set(e.id, at);
      await queue.addBulk(chunk.map((e) => ({ name: 'deliver', data: e, opts: { attempts: 7, backoff: { type: 'exponential', delay: 5000 }, removeOnComplete: true } })));
    }
    await sink.done;
    const loggedAt = await until(N, () => count(db, `SELECT count(*)::int AS n FROM ${table}`));
    const c1 = sampleCpu(worker.pid!, sink.child.pid!, infra.databaseName);
    return report('baseline BullMQ worker', 'worker', published, await sink.arrivals(), t0, loggedAt, c0, c1);
  } finally {
    await stopChild(worker, () => worker.send({ stop: true }));
    await stopChild(sink.child, () => sink.child.send({ stop: true }));
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

async function main(): Promise<void> {
  const infra = await createTestInfra('bench_dispatcher');
  const db = new Client({ connectionString: infra.databaseUrl });
  await db.connect();
  try {
    const eloRate = await elo(infra, db);
    // BENCH_ELO_ONLY=1: Elo alone (profiling, before/after comparisons of the service).
    if (process.env.BENCH_ELO_ONLY === '1') return;
    const baseRate = await bullmq(infra, db);
    out(`ratio elo / baseline: ${(eloRate / baseRate).toFixed(2)}× (target: ≥ 3,000/s and > 1×)`);
  } finally {
    await db.end();
    await infra.cleanup();
  }
}

const role = process.argv[2];
const run = role === '--sink' ? Promise.resolve(runSink())
  : role === '--bullmq-worker' ? Promise.resolve(runBullWorker(JSON.parse(process.argv[3]!) as WorkerArgs))
  : main().then(() => process.exit(0));
run.catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
