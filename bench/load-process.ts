/**
 * The load generator in a process of its own. In the bench's own process it shared a heap of 50 MB or
 * more (the app's modules, the test infrastructure, the import's leftovers) with the orchestration:
 * every mark-compact of that heap paused it 5-35 ms, 15 times in 20 s at 1,000 requests/s, and each
 * pause counted in the latencies it measured (they count from when a request was due). Here the heap
 * holds the requests' bodies and little else, and each measured run starts after a full GC.
 * It collects on its own thread (`--single-threaded-gc`): V8's parallel scavenges wait for helper
 * threads, which on two cores shared with the server, PostgreSQL and RabbitMQ are often not running;
 * at 1,000 requests/s against bare node:http that made 4-11 pauses over 5 ms in 20 s and a p99 of
 * 6.2-8.3 ms, against none and 3.1 ms on one thread (bench/http-floor.bench.ts, 4 December 2026).
 * `BENCH_GENERATOR_FLAGS` adds flags (`--trace-gc`, say).
 *
 * `LoadProcess.start(target)` forks this file; each `run(rate, seconds)` is an open-loop `steadyLoad`
 * against the target and answers the latencies, the generator's own CPU and its GC pauses and
 * event-loop delay over the run.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Pool } from 'pg';
import { HttpLoad, steadyLoad } from './http-load';
import { gcWatch, nodeFlags, type GcPauses } from './service-process';

export type LoadTarget =
  /** `bodies[i % bodies.length]` is the i-th request's body; an answer other than 200 is a failure. */
  | { kind: 'http'; host: string; port: number; connections: number; method: string; path: string; headers: Record<string, string>; bodies: string[] }
  /** One prepared statement, `params[i % params.length]` the i-th call's parameters. */
  | { kind: 'sql'; databaseUrl: string; connections: number; text: string; params: unknown[][] };

export interface LoadResult {
  /** Latencies in ms, sorted, each counted from when its request was due. */
  lat: number[];
  /** The worst latency among the requests due in each second. */
  bySecond: number[];
  failed: number;
  achieved: number;
  /** How far behind schedule the sends went at worst, ms. */
  late: number;
  /** The generator's CPU over the run, ms. */
  cpuMs: number;
  gc: GcPauses;
}

type Request = { start: LoadTarget } | { run: { rate: number; seconds: number } } | 'stop';
type Answer = { ready: true } | { result: LoadResult } | { error: string };

export class LoadProcess {
  private constructor(private readonly child: ChildProcess) {}

  static async start(target: LoadTarget): Promise<LoadProcess> {
    const child = fork(__filename, ['--generate'], { execArgv: ['-r', '@swc-node/register', '--expose-gc', '--single-threaded-gc', ...nodeFlags('BENCH_GENERATOR_FLAGS')] });
    const load = new LoadProcess(child);
    await load.ask({ start: target });
    return load;
  }

  /** Sends `rate` requests a second for `seconds`; fails if the generator could not (its error). */
  async run(rate: number, seconds: number): Promise<LoadResult> {
    return ((await this.ask({ run: { rate, seconds } })) as { result: LoadResult }).result;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.send('stop');
    await exited;
  }

  private ask(request: Request): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the load generator exited (${code})`));
      this.child.once('exit', onExit);
      this.child.once('message', (answer: Answer) => {
        this.child.off('exit', onExit);
        if ('error' in answer) reject(new Error(answer.error));
        else resolve(answer);
      });
      this.child.send(request);
    });
  }
}

/** Child: builds the request function for its target, then runs what it is asked. */
function generate(): void {
  let call: (i: number) => Promise<unknown>;
  let close: () => Promise<unknown> = async () => undefined;
  const gc = gcWatch();
  const reply = (a: Answer) => process.send!(a);
  process.on('message', (m: Request) => {
    if (m === 'stop') {
      void close().then(() => process.exit(0));
    } else if ('start' in m) {
      const t = m.start;
      if (t.kind === 'http') {
        const client = new HttpLoad(t.host, t.port, t.connections);
        call = async (i) => {
          const status = await client.request(t.method, t.path, t.headers, t.bodies[i % t.bodies.length]);
          if (status !== 200) throw new Error(`answered ${status}`);
        };
        close = async () => client.close();
      } else {
        const pool = new Pool({ connectionString: t.databaseUrl, max: t.connections });
        call = (i) => pool.query({ name: 'load', text: t.text, values: t.params[i % t.params.length] });
        close = () => pool.end();
      }
      reply({ ready: true });
    } else {
      const { rate, seconds } = m.run;
      (globalThis as { gc?: () => void }).gc?.();
      gc.start();
      const c0 = process.cpuUsage();
      steadyLoad(rate, seconds, call).then(
        (r) => {
          const c = process.cpuUsage(c0);
          reply({ result: { ...r, cpuMs: (c.user + c.system) / 1_000, gc: gc.stop() } });
        },
        (err: Error) => reply({ error: err.message }),
      );
    }
  });
}

if (process.argv[2] === '--generate') generate();
