/**
 * telephony-bridge benchmark (run on demand, not in tests):
 *
 *   ELO_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
 *   ELO_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5672 \
 *   node -r @swc-node/register bench/telephony-bridge.bench.ts [seconds=10] [rate=200] [operators=50]
 *
 * Starts telephony-bridge as its own process (own database and vhost from createTestInfra) and the
 * PBX simulator in this process, then, in one run:
 *  1. screen pop: `operators` SSE streams (one per extension) stay open while the PBX posts
 *     call-answered callbacks at `rate`/s (open loop, fixed schedule); for every callback, the time
 *     from sending it to the pop arriving on the subscribed stream (p50/p99/max), plus the callback's
 *     own response time;
 *  2. Click2Call overhead: the same Click2Call sent straight to the simulator and through
 *     POST /calls (render, egress with SSRF checks, call row + outbox), sequentially, p50/p99 each;
 *  3. recording: a 100 MB WAV through GET /calls/{id}/recording; the service's RSS growth.
 */
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { Agent, request, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { createTestInfra, TEST_REQUEST_PRIVATE_RANGES } from '@elo/testing';
import { startPbxSimulator } from '../tools/pbx-simulator/pbx-simulator';
import { rssMb } from './proc';
import { freePort, waitReady } from './service-process';

const SECONDS = Number(process.argv[2] ?? 10);
const RATE = Number(process.argv[3] ?? 200);
const OPERATORS = Number(process.argv[4] ?? 50);
const C2C_CALLS = 400;
const ADMIN_KEY = 'b'.repeat(40);
const out = (s: string) => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

async function json<T>(url: string, method: string, key: string, body?: unknown): Promise<T> {
  const res = await fetch(url, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** One HTTP exchange over the keep-alive agent; resolves with status and time taken (ms). */
function send(url: string, method: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; ms: number; body: string }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, headers: body ? { ...headers, 'content-length': Buffer.byteLength(body) } : headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function pct(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
const fmt = (v: number) => `${v.toFixed(1).padStart(6)} ms`;
const summary = (xs: number[]) => `p50 ${fmt(pct(xs, 50))}   p99 ${fmt(pct(xs, 99))}   max ${fmt(Math.max(...xs))}`;

/** Opens an SSE stream with the key in a header; calls onEvent(callId, at) for every `answered` event. */
function subscribe(url: string, key: string, onEvent: (callId: string, at: number) => void): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`SSE ${res.statusCode}`));
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const at = performance.now();
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (!block.includes('event: answered')) continue;
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (data) onEvent((JSON.parse(data.slice(6)) as { callId: string }).callId, at);
        }
      });
      resolve(res);
    });
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const infra = await createTestInfra('telephony_bench');
  const pbx = await startPbxSimulator({ chave: 'bench-chave' });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['-r', '@swc-node/register', join(__dirname, '..', 'services', 'telephony-bridge', 'src', 'main.ts')], {
    env: {
      ...process.env, DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: String(port), ELO_ADMIN_KEY: ADMIN_KEY,
      ELO_ENCRYPTION_KEYS: 'k1:' + Buffer.alloc(32, 9).toString('base64'), ELO_ENCRYPTION_ACTIVE_KEY: 'k1', LOG_LEVEL: 'warn',
      PUBLIC_BASE_URL: url, RATE_LIMIT_PER_SOURCE_PER_MINUTE: '0', RATE_LIMIT_PER_KEY_PER_MINUTE: '0', EGRESS_ALLOW_PRIVATE: '',
      // The simulator on loopback stands in for a LAN PBX: a profile's pbxHost may open 127.0.0.0/8 here.
      EGRESS_REQUEST_PRIVATE_RANGES: TEST_REQUEST_PRIVATE_RANGES,
      TELEPHONY_RECORDING_MAX_BYTES: String(200 * 1024 * 1024),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const streams: IncomingMessage[] = [];
  try {
    await waitReady(url, child);
    const tenant = await json<{ id: string }>(`${url}/tenants`, 'POST', ADMIN_KEY, { name: 'bench' });
    const { key } = await json<{ key: string }>(`${url}/tenants/${tenant.id}/keys`, 'POST', ADMIN_KEY, {
      name: 'bench', permissions: ['telephony:manage', 'telephony:call', 'telephony:recordings'],
    });
    const profile = await json<{ id: string }>(`${url}/pbx-profiles`, 'POST', key, {
      name: 'bench', preset: 'generic-http', baseUrl: pbx.url, pbxHost: '127.0.0.1', allowedCidrs: ['127.0.0.1/32'], chave: 'bench-chave',
    });
    const callbackUrl = `${url}/telephony/${profile.id}/answered`;

    // 1. callback → screen pop
    const sentAt = new Map<string, number>();
    const popMs: number[] = [];
    const ramals = Array.from({ length: OPERATORS }, (_, i) => String(7000 + i));
    for (const r of ramals) {
      streams.push(await subscribe(`${url}/operators/${r}/events`, key, (cid, at) => {
        const t0 = sentAt.get(cid);
        if (t0 !== undefined) popMs.push(at - t0);
      }));
    }
    const fireOne = (i: number, warm: boolean) => {
      const cid = `${warm ? 1 : 2}${String(i).padStart(9, '0')}.${i}`;
      const q = new URLSearchParams({ cid, ramal: ramals[i % ramals.length], num: '41988445566', pid: String(i), empresaId: 'bench' });
      if (!warm) sentAt.set(cid, performance.now());
      return send(`${callbackUrl}?${q.toString()}`, 'GET');
    };
    for (let i = 0; i < 300; i++) await fireOne(i, true); // warm-up: JIT, pools
    await sleep(500);
    const total = SECONDS * RATE;
    const callbackMs: number[] = [];
    const statuses = new Map<number, number>();
    const pending: Array<Promise<void>> = [];
    const start = performance.now();
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      pending.push(fireOne(i, false).then((r) => {
        callbackMs.push(r.ms);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      }));
    }
    await Promise.all(pending);
    const deadline = Date.now() + 10_000;
    while (popMs.length < total && Date.now() < deadline) await sleep(50);
    const achieved = total / ((performance.now() - start) / 1000);
    out(`telephony-bridge bench: ${total} answered callbacks at ${RATE}/s (achieved ${achieved.toFixed(0)}/s) over ${OPERATORS} subscribed SSE streams`);
    out(`  callback → pop at the SSE client   ${summary(popMs)}   (${popMs.length}/${total} pops received)`);
    out(`  callback HTTP response             ${summary(callbackMs)}   statuses ${JSON.stringify(Object.fromEntries(statuses))}`);

    // 2. Click2Call: simulator directly vs through Elo, interleaved so both see the same machine state.
    const direct: number[] = [];
    const viaElo: number[] = [];
    const directUrl = `${pbx.url}/click2call?ramal=7001&telefone=41988445566&chave=bench-chave`;
    const body = JSON.stringify({ ramal: '7001', telefone: '41988445566' });
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    for (let i = 0; i < 50; i++) {
      await send(directUrl, 'GET');
      await send(`${url}/calls`, 'POST', headers, body);
    }
    for (let i = 0; i < C2C_CALLS; i++) {
      const d = await send(directUrl, 'GET');
      if (d.status !== 200) throw new Error(`simulator answered ${d.status}`);
      direct.push(d.ms);
      const e = await send(`${url}/calls`, 'POST', headers, body);
      if (e.status !== 201) throw new Error(`POST /calls answered ${e.status}: ${e.body}`);
      viaElo.push(e.ms);
    }
    out(`Click2Call, ${C2C_CALLS} sequential calls each way:`);
    out(`  simulator directly                 ${summary(direct)}`);
    out(`  POST /calls through Elo            ${summary(viaElo)}`);
    out(`  overhead                           p50 ${fmt(pct(viaElo, 50) - pct(direct, 50))}   p99 ${fmt(pct(viaElo, 99) - pct(direct, 99))}`);

    // 3. Recording: 100 MB streamed; the service's resident memory while it passes through.
    const size = 100 * 1024 * 1024;
    pbx.configure({ wavBytes: size });
    const before = rssMb(child.pid!);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(child.pid!))), 20);
    const t0 = performance.now();
    const rec = await send(`${url}/calls/1537276453.47245539/recording`, 'GET', { authorization: `Bearer ${key}` }).catch((e: Error) => ({ status: 0, ms: 0, body: e.message }));
    clearInterval(sampler);
    out(`Recording ${size / 1048576} MB through Elo: status ${rec.status}, ${((performance.now() - t0) / 1000).toFixed(2)} s, ` +
      `service RSS ${before.toFixed(0)} MB → peak ${peak.toFixed(0)} MB (+${(peak - before).toFixed(0)} MB)`);
  } finally {
    for (const s of streams) s.destroy();
    agent.destroy();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await pbx.close();
    await infra.cleanup();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
