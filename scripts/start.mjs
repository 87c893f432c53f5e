#!/usr/bin/env node
// `npm start`: the whole system on this machine against the local PostgreSQL and RabbitMQ.
// Installs dependencies when missing, checks the broker and the database (saying which is down and
// how to start it), creates the database when missing, builds, starts the five services (each runs
// its migrations at boot), waits until each is ready, then starts the console (port 3000) in front of
// them, and prints where they are.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDependencies, HOW_TO_START, hostPort, reachable, root } from './lib.mjs';

export const SERVICES = [
  { name: 'chat-ingress', port: 3001 },
  { name: 'viability', port: 3002 },
  { name: 'telephony-bridge', port: 3003 },
  { name: 'webhook-dispatcher', port: 3004 },
  { name: 'message-status', port: 3005 },
];

/** The web console: forwards /api/<service>/… to the five, so it starts once they are ready. */
export const CONSOLE = { name: 'console', port: 3000 };

const fail = (msg) => {
  process.stderr.write(`\n${msg}\n`);
  process.exit(1);
};

ensureDependencies();

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/elo';
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

const pg = hostPort(DATABASE_URL, 5432);
if (!(await reachable(pg.host, pg.port))) fail(`PostgreSQL is not reachable at ${pg.host}:${pg.port} (DATABASE_URL).\n${HOW_TO_START.postgres}`);
const mq = hostPort(AMQP_URL, 5672);
if (!(await reachable(mq.host, mq.port))) fail(`RabbitMQ is not reachable at ${mq.host}:${mq.port} (AMQP_URL).\n${HOW_TO_START.rabbitmq}`);

// Create the database if it is missing (and PostGIS in it, for viability).
const { default: pgLib } = await import('pg');
const dbName = decodeURIComponent(new URL(DATABASE_URL).pathname.slice(1));
const adminUrl = new URL(DATABASE_URL);
adminUrl.pathname = '/postgres';
const admin = new pgLib.Client({ connectionString: adminUrl.toString() });
await admin.connect().catch((e) => fail(`Cannot log in to PostgreSQL: ${e.message}`));
const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [dbName]);
if (exists.rowCount === 0) {
  await admin.query(`CREATE DATABASE "${dbName.replace(/"/g, '""')}"`);
  process.stdout.write(`Created database ${dbName}\n`);
}
await admin.end();
const db = new pgLib.Client({ connectionString: DATABASE_URL });
await db.connect();
const postgis = await db.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'`);
if (postgis.rowCount === 0) {
  const [{ major }] = (await db.query(`SELECT current_setting('server_version_num')::int / 10000 AS major`)).rows;
  fail(`PostGIS is not installed on this PostgreSQL (viability needs it): apt-get install postgresql-${major}-postgis-3`);
}
await db.query('CREATE EXTENSION IF NOT EXISTS postgis');
await db.end();

// Development secrets, generated once and kept out of git.
const secretsFile = join(root, '.elo', 'dev-secrets.json');
if (!existsSync(secretsFile)) {
  mkdirSync(join(root, '.elo'), { recursive: true });
  writeFileSync(
    secretsFile,
    JSON.stringify(
      {
        ELO_ADMIN_KEY: `elo_admin_${randomBytes(24).toString('base64url')}`,
        ELO_ENCRYPTION_KEYS: `dev1:${randomBytes(32).toString('base64')}`,
        ELO_ENCRYPTION_ACTIVE_KEY: 'dev1',
      },
      null,
      2,
    ),
    { mode: 0o600 },
  );
}
const secrets = JSON.parse(readFileSync(secretsFile, 'utf8'));

process.stdout.write('Building…\n');
await new Promise((resolve) => {
  const b = spawn(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
  b.on('exit', (code) => (code === 0 ? resolve() : fail('Build failed.')));
});

const children = [];
for (const s of SERVICES) {
  run(s, {
    ...process.env,
    ...Object.fromEntries(Object.entries(secrets).filter(([k]) => !process.env[k])),
    DATABASE_URL,
    AMQP_URL,
    PORT: String(s.port),
    PUBLIC_BASE_URL: process.env.PUBLIC_BASE_URL ?? `http://127.0.0.1:${s.port}`,
  });
}

function run(s, env) {
  const child = spawn(process.execPath, [join(root, 'dist', 'services', s.name, 'src', 'main.js')], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const prefix = `[${s.name}] `;
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream.on('data', (chunk) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop();
      for (const line of lines) process.stdout.write(prefix + line + '\n');
    });
  }
  child.on('exit', (code, signal) => {
    process.stdout.write(`${prefix}exited (${signal ?? code})\n`);
    if (!stopping) shutdown(1);
  });
  children.push(child);
}

let stopping = false;
function shutdown(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 10_000).unref();
  Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r() : c.on('exit', r))))).then(() =>
    process.exit(code),
  );
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));

async function waitReady(list, deadline) {
  for (const s of list) {
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${s.port}/health/ready`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) break;
      if (Date.now() > deadline) {
        process.stderr.write(`${s.name} did not become ready on port ${s.port}; see its log lines above.\n`);
        shutdown(1);
        return;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

const deadline = Date.now() + 90_000;
await waitReady(SERVICES, deadline);
if (!stopping) {
  const url = (name) => `http://127.0.0.1:${SERVICES.find((x) => x.name === name).port}`;
  run(CONSOLE, {
    ...process.env,
    PORT: String(CONSOLE.port),
    CHAT_INGRESS_URL: url('chat-ingress'),
    VIABILITY_URL: url('viability'),
    TELEPHONY_BRIDGE_URL: url('telephony-bridge'),
    WEBHOOK_DISPATCHER_URL: url('webhook-dispatcher'),
    MESSAGE_STATUS_URL: url('message-status'),
    DASHBOARD_URL: `${url('message-status')}/dashboard`,
    OPERATOR_URL: `${url('telephony-bridge')}/operator`,
  });
  await waitReady([CONSOLE], Date.now() + 30_000);
}
if (!stopping) {
  const rows = SERVICES.map((s) => `  ${s.name.padEnd(20)} http://127.0.0.1:${s.port}   (API docs: /docs)`).join('\n');
  process.stdout.write(
    `\nElo is up:\n  console (web)        http://127.0.0.1:${CONSOLE.port}   (sign in with an API key)\n${rows}\n  message-status dashboard  http://127.0.0.1:3005/dashboard\n  operator screen pop       http://127.0.0.1:3003/operator\n\n` +
      `Admin key: ELO_ADMIN_KEY in ${secretsFile} (or the ELO_ADMIN_KEY you exported).\n` +
      `Create a tenant and a key:\n` +
      `  curl -s -X POST http://127.0.0.1:3001/tenants -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' -d '{"name":"Acme"}'\n` +
      `  curl -s -X POST http://127.0.0.1:3001/tenants/<tenantId>/keys -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' -d '{"name":"ops","permissions":["channels:manage","dashboard:read","integrations:manage"]}'\n` +
      `Ctrl-C stops everything.\n`,
  );
}
