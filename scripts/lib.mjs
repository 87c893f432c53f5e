// Shared by scripts/start.mjs and scripts/test.mjs: dependency install and infrastructure probes.
// Node built-ins only, so it runs before `npm ci`.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Runs `npm ci` when node_modules is missing or older than the lockfile. */
export function ensureDependencies() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  process.stdout.write('Installing dependencies (npm ci)…\n');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}

/** Resolves when host:port accepts a TCP connection, false after `timeoutMs`. */
export function reachable(host, port, timeoutMs = 1500) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export function hostPort(url, defaultPort) {
  const u = new URL(url);
  return { host: u.hostname || '127.0.0.1', port: Number(u.port || defaultPort) };
}

export const HOW_TO_START = {
  postgres:
    'Start PostgreSQL: `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (Debian), ' +
    '`sudo systemctl start postgresql`, or `docker compose up -d postgres`.',
  rabbitmq:
    'Start RabbitMQ: `rabbitmq-server -detached` then `rabbitmq-plugins enable rabbitmq_management`, ' +
    'or `docker compose up -d rabbitmq`.',
};
