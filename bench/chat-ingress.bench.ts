/**
 * chat-ingress webhook benchmark (run on demand, not in tests):
 *
 *   ELO_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
 *   ELO_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5672 \
 *   node -r @swc-node/register bench/chat-ingress.bench.ts [seconds=15] [connections=64] [rounds=1]
 *
 * Starts chat-ingress as its own process (services/chat-ingress/src/main.ts, its own database and
 * vhost from createTestInfra), creates a tenant and a WhatsApp channel, and fires signed WhatsApp
 * webhooks with autocannon: half single text messages, a fifth batched (2 entries × 2 messages), the
 * rest status batches (3 statuses). Every 200 means the raw payload, messages, conversations and outbox
 * events were committed. Then the same load against a bare HTTP server that does nothing, as the
 * ceiling. Prints throughput, p50/p99 latency, non-2xx, the CPU the service and its PostgreSQL backends
 * spent per webhook (robust to a busy machine where throughput is not) and the service's peak RSS; with
 * several rounds, their medians and the ratio to the ceiling.
 */
import 'reflect-metadata';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createTestInfra } from '@elo/testing';
import { Client } from 'pg';
import { cpuDelta, cpuMs, pgCpuMs, rssMb } from './proc';
import { freePort, waitReady } from './service-process';

/** The part of autocannon's API this bench uses (the package ships no type declarations). */
interface AcRequest { method?: string; path?: string; headers?: Record<string, string>; body?: string }
interface AcResult { requests: { average: number }; latency: { p50: number; p99: number }; '2xx': number; non2xx: number; errors: number; timeouts: number }
type Autocannon = (o: { url: string; connections: number; duration?: number; amount?: number; pipelining?: number; requests: Array<{ method: string; setupRequest: (req: AcRequest) => AcRequest }> }) => Promise<AcResult>;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as Autocannon;

const SECONDS = Number(process.argv[2] ?? 15);
const CONNECTIONS = Number(process.argv[3] ?? 64);
const ROUNDS = Number(process.argv[4] ?? 1);
const APP_SECRET = 'bench-app-secret';
const ADMIN_KEY = 'b'.repeat(40);
const out = (s: string) => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function json<T>(url: string, method: string, key: string, body: unknown): Promise<T> {
  const res = await fetch(url, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** A pool of distinct signed webhooks (signatures computed before the clock starts). */
function payloads(n: number): Array<{ body: string; signature: string }> {
  const pool: Array<{ body: string; signature: string }> = [];
  const ts = String(Math.floor(Date.now() / 1000));
  const text = (i: number, k: number) => ({ from: `55419${String(80000000 + (i % 5000)).padStart(8, '0')}`, id: `wamid.BENCH.${i}.${k}`, timestamp: ts, type: 'text', text: { body: `mensagem ${i}.${k} — olá` } });
  const value = (messages: unknown[], statuses?: unknown[]) => ({ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '554130001000', phone_number_id: '109876543210987' }, ...(messages.length ? { contacts: messages.map((m) => ({ wa_id: (m as { from: string }).from, profile: { name: 'Cliente' } })), messages } : {}), ...(statuses ? { statuses } : {}) } });
  for (let i = 0; i < n; i++) {
    const r = i % 10;
    let entry: unknown[];
    if (r < 5) entry = [{ id: 'WABA', changes: [value([text(i, 0)])] }];
    else if (r < 7) entry = [{ id: 'WABA', changes: [value([text(i, 0), text(i + 1, 1)])] }, { id: 'WABA', changes: [value([text(i + 2, 2), text(i + 3, 3)])] }];
    else entry = [{ id: 'WABA', changes: [value([], ['sent', 'delivered', 'read'].map((status) => ({ id: `wamid.OUT.${i}`, status, timestamp: ts, recipient_id: '5541988445566' })))] }];
    const body = JSON.stringify({ object: 'whatsapp_business_account', entry });
    pool.push({ body, signature: `sha256=${createHmac('sha256', APP_SECRET).update(body).digest('hex')}` });
  }
  return pool;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Position in the webhook pool, kept across rounds so a later round sends new webhooks, not repeats. */
let next = 0;

async function fire(url: string, pool: Array<{ body: string; signature: string }> | null): Promise<AcResult> {
  return autocannon({
    url, connections: CONNECTIONS, duration: SECONDS, pipelining: 1,
    requests: [{
      method: 'POST',
      setupRequest: (req: AcRequest): AcRequest => {
        if (!pool) return { ...req, headers: { 'content-type': 'application/json' }, body: '{}' };
        const p = pool[next++ % pool.length];
        return { ...req, headers: { 'content-type': 'application/json', 'x-hub-signature-256': p.signature }, body: p.body };
      },
    }],
  });
}

function report(name: string, r: AcResult): void {
  out(`${name.padEnd(28)} ${String(Math.round(r.requests.average)).padStart(6)} req/s   p50 ${String(r.latency.p50).padStart(4)} ms   p99 ${String(r.latency.p99).padStart(4)} ms   2xx ${r['2xx']}   non-2xx ${r.non2xx}   errors ${r.errors}   timeouts ${r.timeouts}`);
}

async function main(): Promise<void> {
  const infra = await createTestInfra('chat_ingress_bench');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [...(process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.BENCH_PROFILE] : []), '-r', '@swc-node/register', join(__dirname, '..', 'services', 'chat-ingress', 'src', 'main.ts')], {
    env: {
      ...process.env, DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: String(port), ELO_ADMIN_KEY: ADMIN_KEY,
      ELO_ENCRYPTION_KEYS: 'k1:' + Buffer.alloc(32, 9).toString('base64'), ELO_ENCRYPTION_ACTIVE_KEY: 'k1', LOG_LEVEL: 'warn',
      PUBLIC_BASE_URL: url, CHAT_WORKERS: 'off', RATE_LIMIT_PER_SOURCE_PER_MINUTE: '0',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const bare = createServer();
  let bareChild: ChildProcess | undefined;
  try {
    await waitReady(url, child);
    const tenant = await json<{ id: string }>(`${url}/tenants`, 'POST', ADMIN_KEY, { name: 'bench' });
    const { key } = await json<{ key: string }>(`${url}/tenants/${tenant.id}/keys`, 'POST', ADMIN_KEY, { name: 'bench', permissions: ['channels:manage'] });
    const channel = await json<{ id: string }>(`${url}/channels`, 'POST', key, { provider: 'whatsapp', name: 'bench', phoneNumberId: '109876543210987', credentials: { accessToken: 't', appSecret: APP_SECRET } });
    const pool = payloads(Math.min(300_000, Math.max(20_000, SECONDS * ROUNDS * 12_000)));
    out(`chat-ingress bench: ${ROUNDS} round(s) of ${SECONDS}s, ${CONNECTIONS} connections, ${pool.length} distinct signed webhooks (50% single text, 20% batched 2×2, 30% 3 statuses)`);

    // Warm-up (JIT, pools, caches), then the measured rounds, each followed by the bare ceiling.
    await autocannon({ url: `${url}/webhooks/whatsapp/${channel.id}`, connections: 8, amount: 2_000, requests: [{ method: 'POST', setupRequest: (req: AcRequest) => ({ ...req, headers: { 'content-type': 'application/json', 'x-hub-signature-256': pool[pool.length - 1].signature }, body: pool[pool.length - 1].body }) }] });
    const barePort = await freePort();
    bareChild = spawn(process.execPath, ['-e', `require('http').createServer((q, s) => { q.resume(); q.on('end', () => s.end('ok')); }).listen(${barePort}, '127.0.0.1')`], { stdio: 'ignore' });
    await sleep(500);
    const webhooks = pool.slice(0, pool.length - 1);
    const rounds: Array<{ svc: AcResult; bare: AcResult; cpu: number; pg: number }> = [];
    for (let i = 0; i < ROUNDS; i++) {
      const [cpu0, pg0] = [cpuMs(child.pid!), pgCpuMs(infra.databaseName)];
      const svc = await fire(`${url}/webhooks/whatsapp/${channel.id}`, webhooks);
      const [cpu, pg] = [cpuMs(child.pid!) - cpu0, cpuDelta(pg0, pgCpuMs(infra.databaseName))];
      const bare = await fire(`http://127.0.0.1:${barePort}/`, null);
      rounds.push({ svc, bare, cpu, pg });
      report(`round ${i + 1}: chat-ingress`, svc);
      report(`round ${i + 1}: bare HTTP`, bare);
      const perHook = (ms: number) => `${(ms / Math.max(1, svc['2xx'])).toFixed(2)} ms a webhook (${Math.round((100 * ms) / (SECONDS * 1000))}% of one core)`;
      out(`round ${i + 1}: CPU service ${perHook(cpu)}; its PostgreSQL backends ${perHook(pg)}`);
    }
    const rss = Math.round(rssMb(child.pid!, 'VmHWM'));

    const db = new Client({ connectionString: infra.databaseUrl });
    await db.connect();
    const [{ m, r, o }] = (await db.query(`SELECT (SELECT count(*) FROM chat_ingress.messages)::int AS m, (SELECT count(*) FROM chat_ingress.webhook_receipts)::int AS r, (SELECT count(*) FROM chat_ingress.outbox)::int AS o`)).rows;
    await db.end();

    const med = (f: (x: (typeof rounds)[number]) => number) => median(rounds.map(f));
    const [rate, p50, p99, bareRate] = [med((x) => x.svc.requests.average), med((x) => x.svc.latency.p50), med((x) => x.svc.latency.p99), med((x) => x.bare.requests.average)];
    out(`median of ${ROUNDS}: chat-ingress ${Math.round(rate)} webhooks/s, p50 ${p50} ms, p99 ${p99} ms; bare HTTP ${Math.round(bareRate)} req/s; ratio ${(rate / bareRate).toFixed(3)}`);
    out(`median CPU a webhook: service ${med((x) => x.cpu / Math.max(1, x.svc['2xx'])).toFixed(2)} ms, PostgreSQL backends ${med((x) => x.pg / Math.max(1, x.svc['2xx'])).toFixed(2)} ms`);
    out(`service peak RSS ${rss} MB; stored ${r} webhook receipts, ${m} messages, ${o} events not yet published (the outbox keeps nothing else)`);
    out(`target: >= 5000 webhooks/s with p99 < 50 ms -> ${rate >= 5000 && p99 < 50 ? 'MET' : 'NOT MET'}`);
  } finally {
    bareChild?.kill('SIGTERM');
    bare.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await infra.cleanup();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
