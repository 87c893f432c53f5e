/**
 * viability benchmark (run on demand, not in tests):
 *
 *   ELO_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
 *   ELO_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5672 \
 *   node -r @swc-node/register bench/viability.bench.ts [boxes=1000000] [seconds=20] [rate=1000]
 *
 * 1. Import: `boxes` boxes (a metro area of ~33 × 33 km, some full, some in project) streamed as one CSV
 *    through POST /inventory/import. Prints the time and rows per second.
 * 2. Checks: POST /viability at a steady `rate` per second (open loop: requests are sent on schedule
 *    whether or not earlier ones have answered) for `seconds`, at random points of the area. Each check
 *    is the real thing: API key, KNN query, check row and outbox event (written with those of the checks
 *    answered meanwhile) before the answer. Prints p50/p99/max, each latency counted from when the
 *    request was due (so a generator falling behind does not hide the wait), and the worst latency in
 *    each second of the run (where in time the tail is). Each measured phase follows 5 s of the same
 *    load at half the rate, unmeasured: the steady state is what is measured.
 * 3. Floor: the bare nearest-neighbour SQL of the check, at the same rate and points, straight to
 *    PostgreSQL. Prints p50/p99 and the ratio HTTP/SQL.
 * Before the checks, the service reads the tenant's in-process index (as its first check would start
 * it): the time, the bytes it holds and the service's RSS before and after (after a GC). After them, the
 * index lookup alone at the same points, in the service process: CPU per lookup.
 * The service runs in a child process of its own (as in production), and so does the load generator
 * (bench/load-process.ts: its GC pauses in this process's larger heap counted in the latencies); the
 * generator sends over 64 keep-alive connections of a lean client (bench/http-load.ts), which leaves
 * more of the two cores to the service than node:http did. It uses a database and vhost of its own
 * (createTestInfra) and drops them at the end. `BENCH_NODE_FLAGS` passes flags to the service's Node.
 *
 * The machine is shared: besides latencies, each phase prints the CPU it cost per check (the service
 * process's user+system time, and the PostgreSQL backends' of this database, from /proc), which does not
 * depend on what else runs, the load generator's own CPU per request (taken from the same two cores) and
 * how far behind schedule its sends went, and the load average before and after; and the service's
 * garbage-collection pauses during the checks (count, total, longest) and event-loop delay, and the
 * generator's own, which would otherwise pass for the service's latency.
 */
import 'reflect-metadata';
import { BusConnection } from '@elo/messaging';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { createTestInfra, seededRandom } from '@elo/testing';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { Readable } from 'node:stream';
import { Pool } from 'pg';
import { LoadProcess } from './load-process';
import { ask, gcWatch, nodeFlags, type GcPauses } from './service-process';
import { AppModule, SERVICE } from '../services/viability/src/app.module';
import { InventoryIndexes } from '../services/viability/src/check/inventory-indexes.service';
import { ViabilityConfig } from '../services/viability/src/config/viability.config';

const BOXES = Number(process.argv[2] ?? 1_000_000);
const SECONDS = Number(process.argv[3] ?? 20);
const RATE = Number(process.argv[4] ?? 1_000);
/** Unmeasured load before each measured phase, at half the rate. */
const WARMUP_SECONDS = 5;
const ADMIN = 'b'.repeat(40);
const AREA = { lat: -25.6, lng: -49.45, span: 0.3 };
const out = (s: string) => process.stdout.write(`${s}\n`);
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const ms = (n: number) => `${n.toFixed(2)} ms`;


function* csv(n: number): Generator<string> {
  const r = seededRandom(42);
  yield 'external_id,name,lat,lng,status,port_capacity,ports_in_use\n';
  let chunk = '';
  for (let i = 0; i < n; i++) {
    const x = r();
    const status = x < 0.05 ? 'in_project' : x < 0.08 ? 'not_deployed' : x < 0.6 ? 'deployed' : 'certified';
    const used = r() < 0.15 ? 16 : Math.floor(r() * 16);
    chunk += `CTO-${i},CTO ${i},${(AREA.lat + r() * AREA.span).toFixed(6)},${(AREA.lng + r() * AREA.span).toFixed(6)},${status},16,${used}\n`;
    if (chunk.length > 256 * 1024) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

/** Child process: the service alone, on an ephemeral port reported to the parent. */
async function serve(databaseUrl: string, amqpUrl: string): Promise<void> {
  const config = loadConfig(ViabilityConfig, {
    DATABASE_URL: databaseUrl, AMQP_URL: amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN,
    ELO_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 9).toString('base64')}`, ELO_ENCRYPTION_ACTIVE_KEY: 'k1', LOG_LEVEL: 'warn',
    RATE_LIMIT_PER_KEY_PER_MINUTE: '0',
  });
  const app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'viability', config });
  await app.listen(0, '127.0.0.1');
  await app.get(BusConnection).waitReady(15_000);
  process.send!({ url: await app.getUrl() });
  const profiler = process.env.BENCH_CPU_PROFILE ? new Session() : undefined;
  profiler?.connect();
  const inspect = (method: string) =>
    new Promise<{ profile?: object }>((resolve, reject) => profiler!.post(method, (err, r) => (err ? reject(err) : resolve(r as { profile?: object }))));
  const indexes = app.get(InventoryIndexes);
  const gc = gcWatch();
  const rss = () => {
    (globalThis as { gc?: () => void }).gc?.();
    return process.memoryUsage().rss;
  };
  process.on('message', (m: string | { index: string } | { lookups: string; points: Array<{ lat: number; lng: number }> }) => {
    if (typeof m === 'object' && 'index' in m) {
      const before = rss();
      void indexes.ready(m.index).then((stats) => process.send!({ indexed: { ...stats, rssBefore: before, rssAfter: rss() } }));
    } else if (typeof m === 'object') {
      const index = indexes.get(m.lookups)!;
      const c0 = process.cpuUsage();
      let found = 0;
      for (const p of m.points) found += index.near(p.lat, p.lng, 150, false)!.inRange.length;
      const c = process.cpuUsage(c0);
      process.send!({ looked: { cpuMs: (c.user + c.system) / 1_000, found } });
    } else if (m === 'cpu') process.send!({ cpu: process.cpuUsage() });
    else if (m === 'gc-start') {
      gc.start();
      process.send!({ gcWatching: true });
    } else if (m === 'gc-stop') process.send!({ gc: gc.stop() });
    else if (m === 'profile-start') void inspect('Profiler.enable').then(() => inspect('Profiler.start')).then(() => process.send!({ profiled: {} }));
    else if (m === 'profile-stop') {
      void inspect('Profiler.stop').then(({ profile }) => {
        const file = join(process.env.BENCH_CPU_PROFILE!, `viability-checks-${Date.now()}.cpuprofile`);
        writeFileSync(file, JSON.stringify(profile));
        process.send!({ profiled: { file } });
      });
    } else void app.close().then(() => process.exit(0));
  });
}

/** The service process's CPU time so far, in ms (user, system). */
async function serviceCpu(child: ChildProcess): Promise<[number, number]> {
  const cpu = await ask<NodeJS.CpuUsage>(child, 'cpu', 'cpu');
  return [cpu.user / 1_000, cpu.system / 1_000];
}

/** CPU time (ms: user, system) of each of this database's PostgreSQL client backends so far (not autovacuum), from /proc (utime, stime, ticks of 10 ms). */
async function databaseCpu(pool: Pool): Promise<Map<number, [number, number]>> {
  const { rows } = await pool.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'",
  );
  const cpu = new Map<number, [number, number]>();
  for (const { pid } of rows) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      cpu.set(pid, [Number(f[11]) * 10, Number(f[12]) * 10]);
    } catch {
      // the backend ended meanwhile
    }
  }
  return cpu;
}

/**
 * Runs `phase`, returning its result and the CPU ms it cost the service and the database (backends alive
 * at the end; one that ended during the phase is not counted).
 */
async function metered<T>(child: ChildProcess, pool: Pool, phase: () => Promise<T>): Promise<T & { serviceMs: number; serviceSysMs: number; dbMs: number; dbSysMs: number; commits: number }> {
  const commits = async () =>
    Number((await pool.query('SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()')).rows[0].xact_commit);
  const [s0, d0, c0] = [await serviceCpu(child), await databaseCpu(pool), await commits()];
  const r = await phase();
  const [s1, d1, c1] = [await serviceCpu(child), await databaseCpu(pool), await commits()];
  let dbMs = 0;
  let dbSysMs = 0;
  for (const [pid, [user, sys]] of d1) {
    const [user0, sys0] = d0.get(pid) ?? [0, 0];
    dbMs += user + sys - user0 - sys0;
    dbSysMs += sys - sys0;
  }
  return { ...r, serviceMs: s1[0] + s1[1] - s0[0] - s0[1], serviceSysMs: s1[1] - s0[1], dbMs, dbSysMs, commits: c1 - c0 };
}

/** Starts or stops the service's CPU profile (BENCH_CPU_PROFILE=<dir>: the check phase alone); the file written on stop. */
async function profile(child: ChildProcess, what: 'profile-start' | 'profile-stop'): Promise<string | undefined> {
  if (!process.env.BENCH_CPU_PROFILE) return undefined;
  return (await ask<{ file?: string }>(child, what, 'profiled')).file;
}

const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

async function startService(databaseUrl: string, amqpUrl: string): Promise<{ child: ChildProcess; url: string }> {
  if (process.env.BENCH_CPU_PROFILE) mkdirSync(process.env.BENCH_CPU_PROFILE, { recursive: true });
  const child = fork(__filename, ['--serve', databaseUrl, amqpUrl], { execArgv: ['-r', '@swc-node/register', '--expose-gc', ...nodeFlags('BENCH_NODE_FLAGS')] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: { url: string }) => resolve(m.url));
    child.once('exit', (code) => reject(new Error(`the service exited (${code})`)));
  });
  return { child, url };
}

async function main(): Promise<void> {
  const infra = await createTestInfra('bench_viability');
  let service: { child: ChildProcess; url: string } | undefined;
  const pool = new Pool({ connectionString: infra.databaseUrl, max: 10 });
  try {
    service = await startService(infra.databaseUrl, infra.amqpUrl);
    const url = new URL(service.url);
    const api = async (path: string, key: string, body: unknown) =>
      (await (await fetch(`${url.origin}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as Record<string, string>;
    const tenant = await api('/tenants', ADMIN, { name: 'bench' });
    const { key } = await api(`/tenants/${tenant.id}/keys`, ADMIN, { name: 'bench', permissions: ['viability:check', 'viability:manage'] });

    out(`viability bench: ${BOXES.toLocaleString('en')} boxes, checks at ${RATE}/s for ${SECONDS} s`);
    const t0 = performance.now();
    const res = await fetch(`${url.origin}/inventory/import?kind=boxes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key!}`, 'content-type': 'text/csv' },
      body: Readable.toWeb(Readable.from(csv(BOXES))) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    const imported = (await res.json()) as { inserted: number; errorCount: number };
    const importS = (performance.now() - t0) / 1_000;
    out(`import: ${imported.inserted.toLocaleString('en')} boxes in ${importS.toFixed(1)} s (${Math.round(imported.inserted / importS).toLocaleString('en')} rows/s), ${imported.errorCount} errors`);
    // Vacuumed as a settled inventory is, so autovacuum does not take the 1M fresh rows on during the checks.
    await pool.query('VACUUM (ANALYZE) viability.boxes');

    const indexed = await ask<{ boxes: number; bytes: number; ms: number; rssBefore: number; rssAfter: number }>(service.child, { index: tenant.id }, 'indexed');
    const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MB`;
    out(`in-process index: ${indexed.boxes.toLocaleString('en')} boxes read in ${(indexed.ms / 1_000).toFixed(1)} s, ${mb(indexed.bytes)} held; service RSS ${mb(indexed.rssBefore)} -> ${mb(indexed.rssAfter)}`);

    const r = seededRandom(7);
    const points = Array.from({ length: RATE * SECONDS }, () => ({ lat: AREA.lat + r() * AREA.span, lng: AREA.lng + r() * AREA.span }));
    const generator = await LoadProcess.start({
      kind: 'http', host: url.hostname, port: Number(url.port), connections: 64, method: 'POST', path: '/viability',
      headers: { authorization: `Bearer ${key!}`, 'content-type': 'application/json' },
      bodies: points.map((p) => JSON.stringify(p)),
    });
    // Warm up connections, plans, caches and the JIT at half the rate (a steady state is what is measured:
    // 200 requests one at a time left the first seconds of the run queueing behind code not yet optimised).
    await generator.run(RATE / 2, WARMUP_SECONDS);
    out(`load average before the checks: ${load()}`);
    await profile(service.child, 'profile-start');
    const counters = async () => {
      const text = await (await fetch(`${url.origin}/metrics`)).text();
      // Lines like `elo_viability_checks_total{from="index",service="viability"} 123`.
      const value = (name: string, label: string) => Number(text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label))?.split(' ').at(-1) ?? 0);
      return {
        index: value('elo_viability_checks_total', 'from="index"'),
        sql: value('elo_viability_checks_total', 'from="sql"'),
        loads: value('elo_viability_index_loads_total', 'outcome="loaded"'),
      };
    };
    const c0 = await counters();
    await ask(service.child, 'gc-start', 'gcWatching');
    const http = await metered(service.child, pool, () => generator.run(RATE, SECONDS));
    const gcPauses = await ask<GcPauses>(service.child, 'gc-stop', 'gc');
    const c1 = await counters();
    const profiled = await profile(service.child, 'profile-stop');
    if (profiled) out(`service CPU profile of the checks: ${profiled}`);
    await generator.stop();

    const sql = `SELECT id, status, port_capacity - ports_in_use AS free_ports,
                        ST_Distance(location, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography) AS d
                   FROM viability.boxes
                  WHERE tenant_id = $1 AND ST_DWithin(location, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography, 150)
                  ORDER BY location <-> ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography LIMIT 50`;
    // The floor is measured on a quiet database: the service first finishes what the checks left it
    // (their viability.checked events in the outbox), which would otherwise share PostgreSQL with the
    // bare queries and count in their CPU (every client backend of this database counts).
    const drainedBy = Date.now() + 120_000;
    for (;;) {
      const [{ n }] = (await pool.query('SELECT count(*)::int AS n FROM viability.outbox')).rows as Array<{ n: number }>;
      if (n === 0) break;
      if (Date.now() > drainedBy) throw new Error(`the service still had ${n} events to publish after 2 minutes`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const sqlGenerator = await LoadProcess.start({
      kind: 'sql', databaseUrl: infra.databaseUrl, connections: 10, text: sql,
      params: points.map((p) => [tenant.id, p.lng, p.lat]),
    });
    await sqlGenerator.run(RATE / 2, WARMUP_SECONDS);
    const bare = await metered(service.child, pool, () => sqlGenerator.run(RATE, SECONDS));
    await sqlGenerator.stop();
    const looked = await ask<{ cpuMs: number; found: number }>(service.child, { lookups: tenant.id, points }, 'looked');
    out(`load average after: ${load()}`);
    const [{ n: checks }] = (await pool.query('SELECT count(*)::int AS n FROM viability.checks')).rows as Array<{ n: number }>;

    out(`checks answered by the in-process index: ${c1.index - c0.index}, by the check statement: ${c1.sql - c0.sql}; index reads during the checks: ${c1.loads - c0.loads}`);
    out(`POST /viability: ${http.lat.length} ok, ${http.failed} failed, ${http.achieved.toFixed(0)}/s; p50 ${ms(pct(http.lat, 50))}, p99 ${ms(pct(http.lat, 99))}, max ${ms(http.lat.at(-1) ?? 0)} (${checks} checks recorded)`);
    out(`  worst by second of the run: ${http.bySecond.map((l) => l.toFixed(0)).join(' ')} ms`);
    out(`bare KNN SQL:    ${bare.lat.length} ok, ${bare.failed} failed, ${bare.achieved.toFixed(0)}/s; p50 ${ms(pct(bare.lat, 50))}, p99 ${ms(pct(bare.lat, 99))}, max ${ms(bare.lat.at(-1) ?? 0)}`);
    out(`  worst by second of the run: ${bare.bySecond.map((l) => l.toFixed(0)).join(' ')} ms`);
    // Of which system time (the kernel: sockets, wake-ups), beside user time.
    const each = (total: number, sys: number, n: number) => `${(total / n).toFixed(3)} ms (${(sys / n).toFixed(3)} system)`;
    const perCheck = (r: { lat: number[]; serviceMs: number; serviceSysMs: number; dbMs: number; dbSysMs: number }) =>
      `service ${each(r.serviceMs, r.serviceSysMs, r.lat.length)} + PostgreSQL ${each(r.dbMs, r.dbSysMs, r.lat.length)}`;
    out(`CPU per check:   POST /viability: ${perCheck(http)}; bare KNN SQL: PostgreSQL ${each(bare.dbMs, bare.dbSysMs, bare.lat.length)}`);
    // Every statement outside a transaction block commits on its own; the outbox relay's batches count too.
    // The load generator shares the machine: what it costs is CPU the service and PostgreSQL did not get.
    out(`service GC during the checks: ${gcPauses.count} pauses, ${gcPauses.totalMs.toFixed(0)} ms in all (${((100 * gcPauses.totalMs) / (SECONDS * 1_000)).toFixed(1)}% of the time), longest ${ms(gcPauses.maxMs)}, ${gcPauses.over5} over 5 ms; event loop delay p99 ${ms(gcPauses.loopDelayP99Ms)}, max ${ms(gcPauses.loopDelayMaxMs)}`);
    out(`load generator:  CPU per request ${(http.cpuMs / http.lat.length).toFixed(3)} ms (HTTP), ${(bare.cpuMs / bare.lat.length).toFixed(3)} ms (SQL); sends behind schedule at worst ${ms(http.late)} (HTTP), ${ms(bare.late)} (SQL)`);
    for (const [name, g] of [['HTTP', http.gc], ['SQL', bare.gc]] as const) {
      out(`load generator GC (${name}): ${g.count} pauses, longest ${ms(g.maxMs)}, ${g.over5} over 5 ms; event loop delay p99 ${ms(g.loopDelayP99Ms)}, max ${ms(g.loopDelayMaxMs)}`);
    }
    out(`PostgreSQL commits per check: POST /viability ${(http.commits / http.lat.length).toFixed(2)}, bare KNN SQL ${(bare.commits / bare.lat.length).toFixed(2)}`);
    out(`index lookup alone (in the service process, same points): ${((1_000 * looked.cpuMs) / points.length).toFixed(1)} µs CPU per lookup, ${(looked.found / points.length).toFixed(1)} boxes in range on average`);
    out(`ratio HTTP/SQL:  p50 ${(pct(http.lat, 50) / pct(bare.lat, 50)).toFixed(1)}×, p99 ${(pct(http.lat, 99) / pct(bare.lat, 99)).toFixed(1)}×; target p99 < 10 ms: ${pct(http.lat, 99) < 10 ? 'met' : 'NOT met'}`);
  } finally {
    await pool.end();
    if (service) {
      const exited = new Promise((r) => service!.child.once('exit', r));
      service.child.send('stop');
      await exited;
    }
    await infra.cleanup();
  }
}

const run = process.argv[2] === '--serve' ? serve(process.argv[3]!, process.argv[4]!) : main();
run.catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
