/** For benches that run a service as its own process (as production does): a port for it, and its readiness. */
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

/** Extra Node flags for a bench's child process from the environment variable `name` (space-separated; `--trace-gc`, say). */
export const nodeFlags = (name: string): string[] => (process.env[name] ?? '').split(' ').filter(Boolean);

/** A TCP port free on 127.0.0.1 just now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Waits (up to a minute) until the service at `url` answers /health/ready; fails at once if `child` exits. */
export async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/health/ready`)).ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the service did not become ready');
}

/** Asks a child process something over IPC; resolves with the first answer that has `key`. */
export function ask<T>(child: ChildProcess, message: object | string, key: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: Record<string, T>) => {
      if (!(key in m)) return;
      child.off('message', on);
      resolve(m[key]!);
    };
    child.on('message', on);
    child.send(message);
  });
}

/** Garbage-collection pauses of a process's main thread over a stretch: how many, in all, the longest, how many over 5 ms. */
export interface GcPauses {
  count: number;
  totalMs: number;
  maxMs: number;
  over5: number;
  /** How late the event loop ran what was due (GC pauses, long tasks and the CPU the OS did not give included): p99 and max, ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

/** Watches this process's garbage-collection pauses and event-loop delay from `start()` to `stop()`. */
export function gcWatch(): { start(): void; stop(): GcPauses } {
  const pauses: number[] = [];
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) pauses.push(e.duration);
  });
  return {
    start() {
      pauses.length = 0;
      observer.observe({ entryTypes: ['gc'] });
      loop.reset();
      loop.enable();
    },
    stop() {
      observer.disconnect();
      loop.disable();
      return {
        count: pauses.length,
        totalMs: pauses.reduce((a, b) => a + b, 0),
        maxMs: Math.max(0, ...pauses),
        over5: pauses.filter((d) => d > 5).length,
        loopDelayP99Ms: loop.percentile(99) / 1e6,
        loopDelayMaxMs: loop.max / 1e6,
      };
    },
  };
}
