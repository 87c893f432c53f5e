import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { runScratchPath } from '@elo/testing';

export const root = join(__dirname, '..');
export const ADMIN_KEY = 'e2e-admin-key-0123456789-abcdefghijklmnop';

/**
 * The budget of a beforeAll that builds (or waits for the build, up to 300 s) and then starts services
 * (each up to 90 s to be ready). A fresh checkout's type-checked build took ~65 s here beside a CPU hog;
 * on a shared CI machine beside another jest worker it can take minutes.
 */
export const STACK_START_MS = 420_000;

/**
 * How long a service may take to exit after SIGTERM before it is killed. It closes its HTTP server, consumers and
 * database pool in a second or two; a stream or request left open, or a shutdown hook that waits on something that
 * never comes, would keep it up for good (and the afterAll waiting for it until jest gave up, the process left behind). The bound
 * is far above the usual second or two: on a loaded CI machine a slow but finite shutdown is not a failure.
 */
export const SERVICE_STOP_MS = 45_000;

/** The budget of an afterAll that stops its services (together: SERVICE_STOP_MS, then killed) and cleans up after them. */
export const STACK_STOP_MS = 90_000;

/**
 * Builds dist/ the way `npm start` does, once per test run even with several e2e files in parallel
 * workers: the first to create the lock directory builds, the others wait for its marker.
 */
export async function buildOnce(): Promise<void> {
  if (process.env.ELO_E2E_BUILT === '1' && existsSync(join(root, 'dist', 'services'))) return;
  const lock = runScratchPath('e2e-build');
  const marker = join(lock, 'done');
  try {
    mkdirSync(lock);
  } catch {
    const deadline = Date.now() + 300_000;
    while (!existsSync(marker)) {
      if (existsSync(join(lock, 'failed'))) throw new Error('build failed (in another worker)');
      if (Date.now() > deadline) throw new Error('timed out waiting for the build');
      await new Promise((r) => setTimeout(r, 250));
    }
    return;
  }
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
  writeFileSync(join(lock, r.status === 0 ? 'done' : 'failed'), '');
  if (r.status !== 0) throw new Error('build failed');
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface RunningService {
  name: string;
  url: string;
  /** Everything the process wrote to stdout and stderr (its logs). */
  output(): string;
  stop(): Promise<void>;
}

/** Starts a built service as its own process, as `npm start` does, and waits until it is ready. */
export async function startService(name: string, env: Record<string, string>): Promise<RunningService> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [join(root, 'dist', 'services', name, 'src', 'main.js')], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      ELO_ADMIN_KEY: ADMIN_KEY,
      ELO_ENCRYPTION_KEYS: `e2e:${Buffer.alloc(32, 3).toString('base64')}`,
      ELO_ENCRYPTION_ACTIVE_KEY: 'e2e',
      LOG_LEVEL: process.env.ELO_TEST_LOG ?? 'warn',
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // A stack whose start failed halfway never reaches the test's afterAll: its services die with the
  // test process instead of running on after it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));
  const chunks: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.on('data', (c: Buffer) => {
      chunks.push(c.toString('utf8'));
      if (process.env.ELO_TEST_LOG) process.stderr.write(c);
    });
  }
  const url = `http://127.0.0.1:${port}`;
  // Generous: a service starts in a few seconds, but CI machines are shared and several e2e files
  // start their stacks at once.
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${chunks.join('').slice(-3_000)}`);
    const ok = await fetch(`${url}/health/ready`).then((r) => r.ok).catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`${name} did not become ready:\n${chunks.join('').slice(-3_000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    name,
    url,
    output: () => chunks.join(''),
    stop: () =>
      stopProcess(child, name).catch((err: Error) => {
        throw new Error(`${err.message}; its last output:\n${chunks.join('').slice(-3_000)}`);
      }),
  };
}

/** Whether `exit` settles within `ms`. */
async function exitsWithin(exit: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([exit.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Stops a child process: SIGTERM, then SIGKILL if it has not exited within `graceMs`. Resolves once it has exited
 * by itself; when it had to be killed, fails naming it once it is gone, so a service that no longer shuts down is
 * seen instead of waited for. Services are spawned as `node main.js`, with nothing of their own below them, so the
 * process is the whole service; it stays in the test run's process group, where a Ctrl-C (or CI's cancel) reaches it.
 */
export async function stopProcess(child: ChildProcess, name: string, graceMs = SERVICE_STOP_MS): Promise<void> {
  // Killed by a signal (the OOM killer, a crash), a process has a signalCode and no exitCode, and emits no more 'exit'.
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  if (await exitsWithin(exit, graceMs)) return;
  child.kill('SIGKILL');
  const killed = await exitsWithin(exit, 5_000);
  throw new Error(
    `${name} (pid ${child.pid}) did not exit within ${graceMs} ms of SIGTERM: ${killed ? 'killed with SIGKILL' : 'sent SIGKILL, and still not gone 5 s later'}`,
  );
}

/**
 * Stops services together, as every e2e spec's afterAll does. Waits for all of them even when one had to be
 * killed, then fails naming each one that was (the hook's cleanup after it belongs in a `finally`).
 */
export async function stopAll(services: ReadonlyArray<RunningService | undefined>): Promise<void> {
  const results = await Promise.allSettled(services.map((s) => s?.stop()));
  const killed = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
  if (killed.length > 0) throw new Error(killed.join('\n\n'));
}

/** Debian's chromium, headless, with nothing of its own going out (updates, sync, background fetches). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
