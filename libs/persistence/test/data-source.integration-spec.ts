import { createTestInfra, type TestInfra } from '@elo/testing';
import { Client } from 'pg';
import { createServiceDataSource } from '../src';

describe('createServiceDataSource', () => {
  let infra: TestInfra;

  beforeAll(async () => {
    infra = await createTestInfra('pg-data-source');
  });

  afterAll(async () => {
    await infra?.cleanup();
  });

  it('sessions are in UTC whatever the database says: a time without an offset is the same instant as in the process', async () => {
    const admin = new Client({ connectionString: infra.databaseUrl });
    await admin.connect();
    try {
      await admin.query(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET TimeZone = %L', current_database(), 'America/Sao_Paulo'); END $$`);
    } finally {
      await admin.end();
    }
    const ds = createServiceDataSource({ url: infra.databaseUrl, schema: 'public', poolSize: 1 });
    await ds.initialize();
    try {
      expect(await ds.query('SHOW TimeZone')).toEqual([{ TimeZone: 'UTC' }]);
      const [row] = await ds.query(`SELECT '2026-01-05'::timestamptz AS at`);
      expect((row.at as Date).toISOString()).toBe('2026-01-05T00:00:00.000Z');
    } finally {
      await ds.destroy();
    }
  });
});
