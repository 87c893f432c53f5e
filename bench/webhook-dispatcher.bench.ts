/**
 * webhook-dispatcher benchmark (run on demand, not in tests):
 *
 *   node -r @swc-node/register bench/webhook-dispatcher.bench.ts [deliveries=10000]
 *
 * Elo: `deliveries` chat.message.received events are published to the bus; one enabled integration
 * matches each, and the service renders, signs (Standard Webhooks), POSTs to a local sink that answers
 * 200, and logs every attempt. Measured: deliveries per second from first publish to last request
 * received, and p50/p99 from an event's publish to its request at the sink.
 * Baseline, same run: what a Node team typically writes — a BullMQ queue on the local Redis, a worker
 * (concurrency 64) that builds the same JSON body, signs it the same way, POSTs it with fetch and
 * inserts an attempt row into PostgreSQL. Prints both and the ratio. Target: ≥ 3,000 deliveries/s and
 * ahead of the baseline. Needs local PostgreSQL, RabbitMQ and Redis (REDIS_URL, default 127.0.0.1:6379).
 * The machine is shared: the absolute numbers follow its load; the ratio is the comparable figure.
 */
import 'reflect-metadata';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { loadavg } from 'node:os';
import { Queue, Worker } from 'bullmq';
import { createEvent, type CloudEvent } from '@elo/contracts';
import { BusConnection, BusProbe } from '@elo/messaging';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { createTestInfra } from '@elo/testing';
import { Client, Pool } from 'pg';
import { DataSource as DataSourceToken } from 'typeorm';
import { AppModule, SERVICE } from '../services/webhook-dispatcher/src/app.module';
import { WebhookDispatcherConfig } from '../services/webhook-dispatcher/src/config/webhook-dispatcher.config';
import { cpuDelta, cpuOf } from './proc';

process.env.ELO_TEST_DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/postgres';
process.env.ELO_TEST_AMQP_URL ??= 'amqp://guest:guest@127.0.0.1:5672';
process.env.EGRESS_ALLOW_PRIVATE = '127.0.0.1/32';
process.env.LOG_LEVEL ??= 'warn';
const N = Number(process.argv[2] ?? 10_000);
const ADMIN_KEY = 'a'.repeat(40);
const out = (s: string) => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

/**
 * CPU of the other processes doing the work: the PostgreSQL client backends serving `database`, the RabbitMQ node and Redis (both whole: other traffic on the machine counts too).
 */
function othersCpu(database: string): Record<'pg' | 'mq' | 'redis', Map<string, number>> {
  return {
    pg: cpuOf((c) => new RegExp(`^postgres: [^:]+: \\S+ ${database} `).test(c)),
    mq: cpuOf((c) => c.includes('beam.smp') && c.includes('rabbit')),
    redis: cpuOf((c) => c.startsWith('redis-server')),
  };
}

/** Answers 200 to everything; notes when each event id's request arrived. */
async function startSink(): Promise<{ url: string; arrivals: Map<string, number>; server: Server }> {
  const arrivals = new Map<string, number>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string };
        if (!arrivals.has(body.id)) arrivals.set(body.id, at);
      } catch {
        /* not ours */
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, arrivals, server };
}

function message(tenantId: string, i: number): CloudEvent {
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

async function admin<T>(url: string, path: string, body: unknown, key = ADMIN_KEY): Promise<T> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/**
 * Prints the rate and latencies, and this process's CPU time per delivery (user + system, from
 * `cpu0`): the figure that moves least with the shared machine's load (the broker, the database and
 * Redis run in their own processes and are not counted).
 */
function report(
  label: string, published: Map<string, number>, arrivals: Map<string, number>, t0: number, cpu0: NodeJS.CpuUsage,
  database: string, others0: ReturnType<typeof othersCpu>,
): number {
  const last = Math.max(...arrivals.values());
  const rate = arrivals.size / ((last - t0) / 1000);
  const lags = [...arrivals].map(([id, at]) => at - (published.get(id) ?? at));
  const cpu = process.cpuUsage(cpu0);
  const others = othersCpu(database);
  const us = (ms: number) => ((ms * 1000) / arrivals.size).toFixed(0);
  out(`${label}: ${arrivals.size} deliveries in ${((last - t0) / 1000).toFixed(2)} s = ${Math.round(rate)}/s; publish→received p50 ${pct(lags, 50).toFixed(0)} ms, p99 ${pct(lags, 99).toFixed(0)} ms; `
    + `CPU ${((cpu.user + cpu.system) / 1000 / arrivals.size).toFixed(3)} ms/delivery in this process`);
  out(`  CPU µs a delivery: node ${us((cpu.user + cpu.system) / 1000)}, PostgreSQL backends ${us(cpuDelta(others0.pg, others.pg))}, `
    + `RabbitMQ ${us(cpuDelta(others0.mq, others.mq))}, Redis ${us(cpuDelta(others0.redis, others.redis))} (the broker and Redis whole); `
    + `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  return rate;
}

async function elo(sink: Awaited<ReturnType<typeof startSink>>): Promise<number> {
  const infra = await createTestInfra('bench_dispatcher');
  const config = loadConfig(WebhookDispatcherConfig, {
    DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN_KEY,
    ELO_ENCRYPTION_KEYS: 'k1:' + Buffer.alloc(32, 7).toString('base64'), ELO_ENCRYPTION_ACTIVE_KEY: 'k1',
    EGRESS_ALLOW_PRIVATE: '127.0.0.1/32', LOG_LEVEL: 'warn',
    // One sink, one integration: let it use the whole worker (the baseline runs 64 at once too).
    DISPATCHER_CONCURRENCY: process.env.DISPATCHER_CONCURRENCY ?? '64',
    DISPATCHER_PER_INTEGRATION_CONCURRENCY: process.env.DISPATCHER_CONCURRENCY ?? '64',
  });
  const app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'bench', config });
  await app.listen(0, '127.0.0.1');
  await app.get(BusConnection).waitReady(15_000);
  const url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  const probe = await BusProbe.connect(infra.amqpUrl, []);
  try {
    const { id: tenantId } = await admin<{ id: string }>(url, '/tenants', { name: `bench-${Date.now()}` });
    const { key } = await admin<{ key: string }>(url, `/tenants/${tenantId}/keys`, { name: 'bench', permissions: ['integrations:manage'] });
    await admin(url, '/integrations', {
      name: 'sink', kind: 'http',
      request: { method: 'POST', url: `${sink.url}/hook`, headers: 'X-Api-Key: {secret.k}', body: { kind: 'keyvalue', pairs: [
        { key: 'id', value: '{event.id}' }, { key: 'customer[cpf]', value: '{contact.attributes.cpf}' }, { key: 'text', value: '{message.text}' },
      ] } },
      trigger: { eventTypes: ['chat.message.received'] }, secrets: { k: 'sk_bench_0123456789' },
    }, key);
    const events = Array.from({ length: N }, (_, i) => message(tenantId, i));
    const published = new Map<string, number>();
    const others0 = othersCpu(infra.databaseName);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < events.length; i += 500) {
      const chunk = events.slice(i, i + 500);
      const at = performance.now();
      for (const e of chunk) published.set(e.id, at);
      await probe.publish(...chunk);
    }
    while (sink.arrivals.size < N) await sleep(20);
    const rate = report('elo webhook-dispatcher', published, sink.arrivals, t0, cpu0, infra.databaseName, others0);
    const [{ n }] = (await app.get(DataSourceToken).query('SELECT count(*)::int AS n FROM dispatcher.attempts')) as Array<{ n: number }>;
    out(`  attempts logged: ${n}`);
    // Where the time went: events turned into deliveries (the bus consumer), then deliveries sent (the worker).
    const [w] = (await app.get(DataSourceToken).query(
      `SELECT extract(epoch FROM max(d.created_at) - min(d.created_at))::float AS written,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.created_at - d.created_at))::float AS wait_p50
       FROM dispatcher.deliveries d LEFT JOIN dispatcher.attempts a ON a.delivery_id = d.id`,
    )) as Array<{ written: number; wait_p50: number }>;
    out(`  deliveries written by the consumer over ${w.written.toFixed(2)} s; delivery written→attempt logged p50 ${(w.wait_p50 * 1000).toFixed(0)} ms`);
    return rate;
  } finally {
    await probe.close();
    await app.close();
    await infra.cleanup();
  }
}

async function bullmq(sink: Awaited<ReturnType<typeof startSink>>): Promise<number> {
  const redis = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const connection = { host: redis.hostname, port: Number(redis.port || 6379), maxRetriesPerRequest: null };
  const name = `bench-webhooks-${Date.now()}`;
  const queue = new Queue(name, { connection });
  const pg = new Client({ connectionString: process.env.ELO_TEST_DATABASE_URL });
  await pg.connect();
  const table = `bench_attempts_${Date.now()}`;
  await pg.query(`CREATE UNLOGGED TABLE ${table} (id bigserial PRIMARY KEY, delivery_id text, request jsonb, status int, duration_ms int, at timestamptz DEFAULT now())`);
  const pool = new Pool({ connectionString: process.env.ELO_TEST_DATABASE_URL, max: 8 });
  const secret = Buffer.from(randomBytes(32));
  const worker = new Worker(name, async (job) => {
    const e = job.data as CloudEvent<{ contact: { attributes: { cpf: string } }; message: { text: string } }>;
    const body = JSON.stringify({ id: e.id, customer: { cpf: e.data.contact.attributes.cpf }, text: e.data.message.text });
    const ts = Math.floor(Date.now() / 1000).toString();
    const sig = createHmac('sha256', secret).update(`${job.id}.${ts}.${body}`).digest('base64');
    const started = performance.now();
    const res = await fetch(`${sink.url}/hook`, {
      method: 'POST', body, redirect: 'manual',
      headers: { 'content-type': 'application/json', 'x-api-key': 'sk_bench_0123456789', 'webhook-id': String(job.id), 'webhook-timestamp': ts, 'webhook-signature': `v1,${sig}` },
    });
    await res.arrayBuffer();
    await pool.query(`INSERT INTO ${table} (delivery_id, request, status, duration_ms) VALUES ($1, $2, $3, $4)`, [
      String(job.id), { url: `${sink.url}/hook`, body }, res.status, Math.round(performance.now() - started),
    ]);
    if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status}`);
  }, { connection, concurrency: 64 });
  try {
    const events = Array.from({ length: N }, (_, i) => message('bench', i));
    const published = new Map<string, number>();
    const database = new URL(process.env.ELO_TEST_DATABASE_URL ?? '').pathname.slice(1);
    const others0 = othersCpu(database);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < events.length; i += 500) {
      const chunk = events.slice(i, i + 500);
      const at = performance.now();
      for (const e of chunk) published.set(e.id, at);
      await queue.addBulk(chunk.map((e) => ({ name: 'deliver', data: e, opts: { attempts: 7, backoff: { type: 'exponential', delay: 5000 }, removeOnComplete: true } })));
    }
    while (sink.arrivals.size < N) await sleep(20);
    return report('baseline BullMQ worker', published, sink.arrivals, t0, cpu0, database, others0);
  } finally {
    await worker.close();
    await queue.obliterate({ force: true });
    await queue.close();
    await pg.query(`DROP TABLE ${table}`);
    await pg.end();
    await pool.end();
  }
}


async function main(): Promise<void> {
  const sinkA = await startSink();
  const eloRate = await elo(sinkA);
  sinkA.server.close();
  // BENCH_ELO_ONLY=1: Elo alone (profiling, before/after comparisons of the service).
  if (process.env.BENCH_ELO_ONLY === '1') process.exit(0);
  const sinkB = await startSink();
  const baseRate = await bullmq(sinkB);
  sinkB.server.close();
  out(`ratio elo / baseline: ${(eloRate / baseRate).toFixed(2)}× (target: ≥ 3,000/s and > 1×)`);
  process.exit(0);
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
