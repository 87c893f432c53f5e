import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { root } from './stack';

/** A local port nothing listens on (taken, then let go). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** `npm start` (scripts/start.mjs) with `env`: its exit code and what it wrote to stderr. */
function start(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'scripts', 'start.mjs')], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

/** The start command's first step: when the database or the broker is not reachable, it says which and how to start it, and starts nothing. */
describe('npm start with PostgreSQL or RabbitMQ down', () => {
  beforeAll(() => {
    // start.mjs runs `npm ci` first when node_modules is older than the lockfile; these tests must not.
    const marker = join(root, 'node_modules', '.package-lock.json');
    expect(existsSync(marker) && statSync(marker).mtimeMs >= statSync(join(root, 'package-lock.json')).mtimeMs).toBe(true);
  });

  it('names PostgreSQL, the address and setting it tried, and how to start it', async () => {
    const port = await closedPort();
    // The broker's address is closed too: were the database's check to pass, the start would stop at the broker's.
    const r = await start({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/elo`, AMQP_URL: `amqp://guest:guest@127.0.0.1:${await closedPort()}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`PostgreSQL is not reachable at 127.0.0.1:${port} (DATABASE_URL)`);
    expect(r.stderr).toMatch(/Start PostgreSQL: .*pg_ctlcluster/);
    expect(r.stderr).not.toMatch(/RabbitMQ/);
  }, 30_000);

  it('names RabbitMQ when the database answers and the broker does not', async () => {
    const port = await closedPort();
    // Something that takes connections at the database's address (and hangs them up): reachable, so the check
    // passes on to the broker; and were the broker's check to pass too, the start fails there, touching no real database.
    const db = net.createServer((socket) => socket.destroy());
    await new Promise<void>((r) => db.listen(0, '127.0.0.1', r));
    try {
      const dbPort = (db.address() as net.AddressInfo).port;
      const r = await start({ DATABASE_URL: `postgres://postgres@127.0.0.1:${dbPort}/elo`, AMQP_URL: `amqp://guest:guest@127.0.0.1:${port}` });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`RabbitMQ is not reachable at 127.0.0.1:${port} (AMQP_URL)`);
      expect(r.stderr).toMatch(/Start RabbitMQ: .*rabbitmq-server/);
      expect(r.stderr).not.toMatch(/PostgreSQL is not reachable/);
    } finally {
      await new Promise<void>((r) => db.close(() => r()));
    }
  }, 30_000);
});
