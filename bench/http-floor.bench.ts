/**
 * HTTP floor benchmark (run on demand, not in tests): what an Elo service's HTTP path costs before the
 * service does anything, against bare node:http doing the same work.
 *
 *   ELO_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
 *   ELO_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5672 \
 *   node -r @swc-node/register bench/http-floor.bench.ts [seconds=20] [rate=1000]
 *
 * Two servers, one after the other, each in a process of its own, answer `POST /check` with the same
 * ~12 kB JSON (shaped like a viability answer listing 50 boxes), built for each request from the
 * coordinates in its body, after the same bearer-token check:
 * - `node`: bare node:http; the body read and parsed by hand, the coordinates checked by hand.
 * - `platform`: the app every service builds (`buildServiceApp`: Nest on Express with the security
 *   headers, the rate limiter, body parsing that keeps the raw bytes, the correlation middleware, the
 *   validation pipe and the problem filter), a controller with a guard and a validated body. No
 *   database, bus or index work in the request.
 * Each gets `rate` requests a second for `seconds` (open loop, latencies counted from when each was due)
 * over 64 keep-alive connections of bench/http-load.ts, from a load generator in a process of its own
 * (bench/load-process.ts), and prints p50/p99/p99.9, the server's CPU a
 * request (user + system, which does not depend on what else runs), its garbage-collection pauses and
 * the load generator's own CPU a request; then the ratios platform/node. `BENCH_NODE_FLAGS` passes
 * flags to both servers' Node (`--trace-gc-nvp` to see what each scavenge promotes, say).
 *
 * What it is for: the latency targets of the HTTP services (viability: p99 under 10 ms at 1,000 checks a
 * second) are measured against this floor. A service cannot answer faster than its platform answers
 * nothing.
 */
import 'reflect-metadata';
import { Body, Controller, HttpCode, Injectable, Module, Post, UseGuards, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { BaseServiceConfig, buildServiceApp, loadConfig } from '@elo/platform';
import { createTestInfra } from '@elo/testing';
import { IsLatitude, IsLongitude } from 'class-validator';
import { fork, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { loadavg } from 'node:os';
import { LoadProcess, type LoadResult } from './load-process';
import { ask, gcWatch, nodeFlags, type GcPauses } from './service-process';

const SECONDS = Number(process.argv[2] ?? 20);
const RATE = Number(process.argv[3] ?? 1_000);
const TOKEN = 'floor-bench-token';
const MODES = ['node', 'platform'] as const;
type Mode = (typeof MODES)[number];
const out = (s: string) => process.stdout.write(`${s}\n`);

/** About 12 kB of JSON, as a viability answer with its box, pole and 50 boxes in range. */
function answer(lat: number, lng: number): object {
  const box = (i: number) => ({
    id: `5b0c2a9e-8f1d-4c3b-9a7e-${String(i).padStart(12, '0')}`,
    externalId: `CTO-${i}`,
    name: `CTO ${i}`,
    status: i % 3 ? 'deployed' : 'certified',
    distanceMeters: 20 + i * 2.5,
    freePorts: i % 16,
    lat: lat + i * 1e-5,
    lng: lng - i * 1e-5,
  });
  return {
    status: 'viable',
    point: { lat, lng },
    box: box(0),
    pole: { id: '5b0c2a9e-8f1d-4c3b-9a7e-000000000000', externalId: 'P-1', name: 'Poste 1', distanceMeters: 12.5 },
    inRange: Array.from({ length: 50 }, (_, i) => box(i + 1)),
    refused: [],
  };
}

class PointBody {
  @IsLatitude() lat!: number;
  @IsLongitude() lng!: number;
}

@Injectable()
class BearerGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers.authorization === `Bearer ${TOKEN}`;
  }
}

@Controller()
class FloorController {
  @Post('check')
  @HttpCode(200)
  @UseGuards(BearerGuard)
  check(@Body() body: PointBody): object {
    return answer(body.lat, body.lng);
  }
}

@Module({ controllers: [FloorController] })
class FloorModule {}

/** The same work on bare node:http. */
function bareServer(): ReturnType<typeof createHttpServer> {
  return createHttpServer((req, res) => {
    const reply = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (req.method !== 'POST' || req.url !== '/check') return reply(404, '{}');
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return reply(403, '{}');
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (text += chunk));
    req.on('end', () => {
      try {
        const { lat, lng } = JSON.parse(text) as { lat: unknown; lng: unknown };
        if (typeof lat !== 'number' || typeof lng !== 'number' || Math.abs(lat) > 90 || Math.abs(lng) > 180) return reply(400, '{}');
        reply(200, JSON.stringify(answer(lat, lng)));
      } catch {
        reply(400, '{}');
      }
    });
  });
}

/** Child process: one server, on an ephemeral port reported to the parent. */
async function serve(mode: Mode, databaseUrl: string, amqpUrl: string): Promise<void> {
  let close: () => Promise<unknown>;
  let port: number;
  if (mode === 'node') {
    const server = bareServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    close = () => new Promise((resolve) => server.close(resolve));
  } else {
    const config = loadConfig(BaseServiceConfig, {
      DATABASE_URL: databaseUrl, AMQP_URL: amqpUrl, PORT: '0', ELO_ADMIN_KEY: 'f'.repeat(40),
      ELO_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`, ELO_ENCRYPTION_ACTIVE_KEY: 'k1', LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_KEY_PER_MINUTE: '0',
    });
    const app = await buildServiceApp(FloorModule, { service: 'http-floor', title: 'http floor', config });
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
    close = () => app.close();
  }
  const gc = gcWatch();
  process.on('message', (m: string) => {
    if (m === 'cpu') process.send!({ cpu: process.cpuUsage() });
    else if (m === 'gc-start') {
      gc.start();
      process.send!({ gcWatching: true });
    } else if (m === 'gc-stop') process.send!({ gc: gc.stop() });
    else void close().then(() => process.exit(0));
  });
  process.send!({ port });
}

interface Run {
  mode: Mode;
  lat: number[];
  failed: number;
  late: number;
  serverUs: number;
  generatorUs: number;
  generatorGc: GcPauses;
  gc: GcPauses;
}

async function run(mode: Mode, databaseUrl: string, amqpUrl: string): Promise<Run> {
  const child: ChildProcess = fork(__filename, ['--serve', mode, databaseUrl, amqpUrl], { execArgv: ['-r', '@swc-node/register', ...nodeFlags('BENCH_NODE_FLAGS')] });
  let serverUs: number;
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m: { port: number }) => resolve(m.port));
      child.once('exit', (code) => reject(new Error(`the ${mode} server exited (${code})`)));
    });
    // The same 5,000 bodies, each with its own coordinates, for both servers.
    const bodies = Array.from({ length: 5_000 }, (_, i) => `{"lat":-25.${4 + (i % 5)}${i % 997},"lng":-49.${3 + (i % 3)}${i % 991}}`);
    const generator = await LoadProcess.start({
      kind: 'http', host: '127.0.0.1', port, connections: 64, method: 'POST', path: '/check',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, bodies,
    });
    let r: LoadResult;
    try {
      // Warm up connections and the JIT at half the rate; a failure here (a bad answer) stops the bench.
      const warm = await generator.run(RATE / 2, 4);
      if (warm.failed) throw new Error(`${warm.failed} requests failed while warming up the ${mode} server`);
      await ask(child, 'gc-start', 'gcWatching');
      const c0 = await ask<NodeJS.CpuUsage>(child, 'cpu', 'cpu');
      r = await generator.run(RATE, SECONDS);
      const c1 = await ask<NodeJS.CpuUsage>(child, 'cpu', 'cpu');
      serverUs = (c1.user + c1.system - c0.user - c0.system) / (RATE * SECONDS);
    } finally {
      await generator.stop();
    }
    const gc = await ask<GcPauses>(child, 'gc-stop', 'gc');
    return { mode, ...r, serverUs, generatorUs: (1_000 * r.cpuMs) / (RATE * SECONDS), generatorGc: r.gc, gc };
  } finally {
    child.send('close');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
  }
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

async function main(): Promise<void> {
  // The platform's bootstrap migrates the shared auth schema, so it gets a database of its own.
  const infra = await createTestInfra('bench_http_floor');
  try {
    out(`HTTP floor: ${RATE} requests/s for ${SECONDS} s, ~${(JSON.stringify(answer(0, 0)).length / 1024).toFixed(1)} kB answers, 64 connections`);
    const runs: Run[] = [];
    for (const mode of MODES) {
      out(`load average before ${mode}: ${load()}`);
      const r = await run(mode, infra.databaseUrl, infra.amqpUrl);
      runs.push(r);
      const f = (x: number) => `${x.toFixed(1)} ms`;
      out(
        `${mode.padEnd(8)} p50 ${f(pct(r.lat, 50))}  p99 ${f(pct(r.lat, 99))}  p99.9 ${f(pct(r.lat, 99.9))}  max ${f(r.lat.at(-1) ?? NaN)}` +
          `  failed ${r.failed}  server CPU ${r.serverUs.toFixed(0)} µs/request` +
          `  GC ${r.gc.count} pauses, ${r.gc.over5} over 5 ms, longest ${f(r.gc.maxMs)}, ${((r.gc.totalMs / (SECONDS * 1_000)) * 100).toFixed(1)}% of the time` +
          `  generator ${r.generatorUs.toFixed(0)} µs/request, at worst ${f(r.late)} behind, ${r.generatorGc.over5} GC pauses over 5 ms`,
      );
    }
    const [node, platform] = runs as [Run, Run];
    out(
      `platform / node: server CPU ${(platform.serverUs / node.serverUs).toFixed(2)}x, p50 ${(pct(platform.lat, 50) / pct(node.lat, 50)).toFixed(2)}x, ` +
        `p99 ${(pct(platform.lat, 99) / pct(node.lat, 99)).toFixed(2)}x; load average after: ${load()}`,
    );
  } finally {
    await infra.cleanup();
  }
}

if (process.argv[2] === '--serve') {
  void serve(process.argv[3] as Mode, process.argv[4]!, process.argv[5]!);
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
