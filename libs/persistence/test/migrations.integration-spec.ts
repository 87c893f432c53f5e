import { createTestInfra, type TestInfra } from '@elo/testing';
import { Column, Entity, PrimaryColumn, type MigrationInterface, type QueryRunner } from 'typeorm';
import { createServiceDataSource, runMigrations } from '../src';

const SCHEMA = 'migrate_test';

/** Not repeatable (no IF NOT EXISTS) and slow: run twice, or two at once, it fails or counts twice. */
class CreateRuns1767980000001 implements MigrationInterface {
  name = 'CreateRuns1767980000001';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "${SCHEMA}".runs (id serial PRIMARY KEY, note text NOT NULL)`);
    await q.query('SELECT pg_sleep(0.5)');
    await q.query(`INSERT INTO "${SCHEMA}".runs (note) VALUES ('first')`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "${SCHEMA}".runs`);
  }
}

class AddRun1767980000002 implements MigrationInterface {
  name = 'AddRun1767980000002';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`INSERT INTO "${SCHEMA}".runs (note) VALUES ('second')`);
  }
  async down(): Promise<void> {}
}

/** An entity whose table no migration creates: a DataSource that synchronized would create it. */
@Entity({ name: 'never_migrated' })
class NeverMigrated {
  @PrimaryColumn() id!: string;
  @Column() note!: string;
}

describe('runMigrations: a service schema with its own migrations table, never synchronized', () => {
  let infra: TestInfra;

  beforeAll(async () => {
    infra = await createTestInfra('pg-migrations');
  });

  afterAll(async () => {
    await infra?.cleanup();
  });

  const dataSource = () =>
    createServiceDataSource({ url: infra.databaseUrl, schema: SCHEMA, migrations: [CreateRuns1767980000001, AddRun1767980000002], entities: [NeverMigrated], poolSize: 2 });

  it('replicas booting at once apply each migration exactly once, into the schema and its own migrations table; a later boot applies nothing', async () => {
    const sources = [dataSource(), dataSource(), dataSource()];
    try {
      await Promise.all(sources.map((ds) => ds.initialize()));
      const applied = await Promise.all(sources.map((ds) => runMigrations(ds)));
      // One replica applied both; the others, which waited for it, found nothing left.
      expect(applied.map((a) => a.length).sort()).toEqual([0, 0, 2]);
      expect(applied.find((a) => a.length)).toEqual(['CreateRuns1767980000001', 'AddRun1767980000002']);
      const ds = sources[0]!;
      expect(await ds.query(`SELECT note FROM "${SCHEMA}".runs ORDER BY id`)).toEqual([{ note: 'first' }, { note: 'second' }]);
      const tables = (await ds.query(
        `SELECT table_schema || '.' || table_name AS t FROM information_schema.tables WHERE table_name IN ('migrations', 'runs', 'never_migrated') ORDER BY 1`,
      )) as Array<{ t: string }>;
      // The migrations table is the schema's own (not public's); the entity no migration creates was not synchronized.
      expect(tables.map((r) => r.t)).toEqual([`${SCHEMA}.migrations`, `${SCHEMA}.runs`]);
      expect(((await ds.query(`SELECT name FROM "${SCHEMA}".migrations ORDER BY id`)) as Array<{ name: string }>).map((r) => r.name)).toEqual([
        'CreateRuns1767980000001',
        'AddRun1767980000002',
      ]);
      expect(await runMigrations(ds)).toEqual([]);
    } finally {
      await Promise.all(sources.map((ds) => (ds.isInitialized ? ds.destroy() : undefined)));
    }
  }, 60_000);
});
