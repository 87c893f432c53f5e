import type { DataSource } from 'typeorm';
import { createServiceDataSource } from './data-source';

/** Stable 32-bit key for pg_advisory_lock so concurrent replicas migrate one at a time. */
function lockKey(schema: string): number {
  let h = 0;
  for (const ch of `elo-migrate:${schema}`) h = (Math.imul(h, 31) + ch.charCodeAt(0)) | 0;
  return h;
}

/**
 * Creates the schema if missing and runs pending migrations under an advisory lock,
 * so N replicas booting at once apply each migration exactly once.
 * Returns the names of the migrations applied.
 */
export async function runMigrations(ds: DataSource): Promise<string[]> {
  const schema = (ds.options as { schema?: string }).schema;
  if (!schema) throw new Error('runMigrations needs a DataSource bound to a schema');
  const runner = ds.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [lockKey(schema)]);
    try {
      await runner.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      const applied = await ds.runMigrations({ transaction: 'each' });
      return applied.map((m) => m.name);
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [lockKey(schema)]);
    }
  } finally {
    await runner.release();
  }
}

/** Runs another schema's migrations (for example libs/auth's) with its own short-lived DataSource. */
export async function runSchemaMigrations(
  url: string,
  schema: string,
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations: Function[],
): Promise<string[]> {
  // Two connections: one holds the advisory lock while the other runs the migrations.
  const ds = createServiceDataSource({ url, schema, migrations, poolSize: 2 });
  await ds.initialize();
  try {
    return await runMigrations(ds);
  } finally {
    await ds.destroy();
  }
}

/** The database `npm start` uses when DATABASE_URL is not set (scripts/start.mjs). */
const LOCAL_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/elo';

/**
 * A service's `migrate` command: applies its schema's pending migrations to DATABASE_URL (or the local
 * database `npm start` uses) and exits, needing nothing else of the service's configuration.
 */
export function migrateCommand(
  schema: string,
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations: Function[],
): void {
  runSchemaMigrations(process.env.DATABASE_URL || LOCAL_DATABASE_URL, schema, migrations).then(
    (applied) => process.stdout.write(`${schema}: ${applied.length ? applied.join(', ') : 'up to date'}\n`),
    (err: Error) => {
      process.stderr.write(`migration failed: ${err.message}\n`);
      process.exit(1);
    },
  );
}
