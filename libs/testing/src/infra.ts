import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';

/**
 * Where the tests find PostgreSQL and RabbitMQ:
 * 1. ELO_TEST_DATABASE_URL / ELO_TEST_AMQP_URL / ELO_TEST_RABBITMQ_MANAGEMENT_URL from the environment;
 * 2. else, when a Docker engine is present, containers started once per run by the global setup;
 * 3. else a clear message saying what to set.
 */
export interface InfraServers {
  /** Admin URL of a PostgreSQL server (a database we may CREATE DATABASE from). */
  databaseUrl: string;
  /** AMQP URL of a RabbitMQ server, without vhost. */
  amqpUrl: string;
  /** RabbitMQ management API URL with credentials (to create and delete vhosts). */
  managementUrl: string;
}

export function infraFromEnv(): InfraServers | undefined {
  const databaseUrl = process.env.ELO_TEST_DATABASE_URL;
  const amqpUrl = process.env.ELO_TEST_AMQP_URL;
  if (!databaseUrl || !amqpUrl) return undefined;
  const amqp = new URL(amqpUrl);
  const managementUrl =
    process.env.ELO_TEST_RABBITMQ_MANAGEMENT_URL ??
    `http://${amqp.username || 'guest'}:${amqp.password || 'guest'}@${amqp.hostname}:15672`;
  return { databaseUrl, amqpUrl: `${amqp.protocol}//${amqp.username}:${amqp.password}@${amqp.host}`, managementUrl };
}

export function dockerAvailable(): boolean {
  return existsSync('/var/run/docker.sock') || Boolean(process.env.DOCKER_HOST);
}

export const MISSING_INFRA_MESSAGE = [
  'Integration tests need PostgreSQL (with PostGIS) and RabbitMQ (with the management plugin).',
  'Set ELO_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres) and',
  'ELO_TEST_AMQP_URL (e.g. amqp://guest:guest@127.0.0.1:5672), or run `npm test`, which finds local',
  'servers by itself, or start a Docker engine so testcontainers can start them.',
].join('\n');

export function requireInfra(): InfraServers {
  const infra = infraFromEnv();
  if (!infra) throw new Error(MISSING_INFRA_MESSAGE);
  return infra;
}

export interface TestInfra {
  /** URL of a fresh database that only this test file uses (PostGIS enabled when available). */
  databaseUrl: string;
  /** AMQP URL of a fresh vhost that only this test file uses. */
  amqpUrl: string;
  vhost: string;
  databaseName: string;
  /**
   * Applies a RabbitMQ policy (`definition`, e.g. `{ 'max-length': 0, overflow: 'reject-publish' }` to make
   * the broker refuse what is sent to them) to this vhost's queues matching `pattern`, and waits until the
   * existing queue `queue` shows it. Returns a function that removes it and waits until `queue` no longer does.
   */
  queuePolicy(name: string, pattern: string, definition: Record<string, unknown>, queue: string): Promise<() => Promise<void>>;
  /** Drops the database and the vhost. */
  cleanup(): Promise<void>;
}

function runId(): string {
  return process.env.ELO_TEST_RUN_ID ?? 'local';
}

/** Where this test run's scratch paths begin: the global teardown removes every one (see runScratchPath). */
export const runScratchPrefix = () => join(tmpdir(), `elo-run-${runId()}-`);

/** A path under the system's temp directory of this test run's own, shared by its workers and removed when the run ends. */
export const runScratchPath = (name: string) => `${runScratchPrefix()}${name}`;

function managementRequest(managementUrl: string, method: string, path: string, body?: unknown): Promise<Response> {
  const u = new URL(managementUrl);
  const auth = Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString(
    'base64',
  );
  u.username = '';
  u.password = '';
  return fetch(new URL(path, u), {
    method,
    headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function createVhost(infra: InfraServers, vhost: string): Promise<void> {
  const res = await managementRequest(infra.managementUrl, 'PUT', `/api/vhosts/${encodeURIComponent(vhost)}`, {});
  if (!res.ok) throw new Error(`could not create RabbitMQ vhost ${vhost}: HTTP ${res.status}`);
  const user = decodeURIComponent(new URL(infra.amqpUrl).username) || 'guest';
  const perm = await managementRequest(
    infra.managementUrl,
    'PUT',
    `/api/permissions/${encodeURIComponent(vhost)}/${encodeURIComponent(user)}`,
    { configure: '.*', write: '.*', read: '.*' },
  );
  if (!perm.ok) throw new Error(`could not grant ${user} permissions on vhost ${vhost}: HTTP ${perm.status}`);
}

/** Waits (up to 10 s) until the queue `queue` of `vhost` has the policy `policy` applied, or none when undefined. */
async function awaitQueuePolicy(managementUrl: string, vhost: string, queue: string, policy: string | undefined): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await managementRequest(managementUrl, 'GET', `/api/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}`);
    if (!res.ok) throw new Error(`could not read RabbitMQ queue ${queue}: HTTP ${res.status}`);
    const applied = ((await res.json()) as { policy?: string | null }).policy ?? undefined;
    if (applied === policy) return;
    if (Date.now() > deadline) throw new Error(`queue ${queue} shows policy ${applied ?? 'none'}, not ${policy ?? 'none'}, after 10 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function deleteVhost(managementUrl: string, vhost: string): Promise<void> {
  await managementRequest(managementUrl, 'DELETE', `/api/vhosts/${encodeURIComponent(vhost)}`);
}

export async function withAdminClient<T>(databaseUrl: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Gives one test file its own database and RabbitMQ vhost, so test files and test runs never collide.
 * Call in beforeAll and `cleanup()` in afterAll.
 */
export async function createTestInfra(label: string): Promise<TestInfra> {
  const infra = requireInfra();
  const suffix = randomBytes(3).toString('hex');
  const name = `elo_t_${runId()}_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${suffix}`.slice(0, 60);
  await withAdminClient(infra.databaseUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  const dbUrl = new URL(infra.databaseUrl);
  dbUrl.pathname = `/${name}`;
  await withAdminClient(dbUrl.toString(), async (c) => {
    const { rows } = await c.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'`);
    if (rows.length > 0) await c.query('CREATE EXTENSION IF NOT EXISTS postgis');
  });
  await createVhost(infra, name);
  const amqp = new URL(infra.amqpUrl);
  amqp.pathname = `/${encodeURIComponent(name)}`;
  return {
    databaseUrl: dbUrl.toString(),
    amqpUrl: amqp.toString(),
    vhost: name,
    databaseName: name,
    queuePolicy: async (policy, pattern, definition, queue) => {
      const path = `/api/policies/${encodeURIComponent(name)}/${encodeURIComponent(policy)}`;
      const res = await managementRequest(infra.managementUrl, 'PUT', path, { pattern, definition, 'apply-to': 'queues', priority: 10 });
      if (!res.ok) throw new Error(`could not set RabbitMQ policy ${policy}: HTTP ${res.status} ${await res.text()}`);
      await awaitQueuePolicy(infra.managementUrl, name, queue, policy);
      return async () => {
        const del = await managementRequest(infra.managementUrl, 'DELETE', path);
        if (!del.ok) throw new Error(`could not remove RabbitMQ policy ${policy}: HTTP ${del.status}`);
        await awaitQueuePolicy(infra.managementUrl, name, queue, undefined);
      };
    },
    cleanup: async () => {
      if (process.env.ELO_TEST_KEEP === '1') return;
      await deleteVhost(infra.managementUrl, name).catch(() => undefined);
      await withAdminClient(infra.databaseUrl, (c) =>
        c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
      ).catch(() => undefined);
    },
  };
}

/**
 * Whether the outbox of `schema` is empty (every event its relay held is published), for `BusProbe.settled`;
 * `db` is a TypeORM DataSource (rows) or a pg client (`{ rows }`).
 */
export function outboxEmpty(db: { query(sql: string): Promise<unknown> }, schema: string): () => Promise<boolean> {
  return async () => {
    const r = (await db.query(`SELECT NOT EXISTS (SELECT 1 FROM "${schema}".outbox) AS empty`)) as Array<{ empty: boolean }> | { rows: Array<{ empty: boolean }> };
    return (Array.isArray(r) ? r : r.rows)[0]!.empty;
  };
}
