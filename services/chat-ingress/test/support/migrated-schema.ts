import { createServiceDataSource, runMigrations } from '@elo/persistence';
import { createTestInfra, type TestInfra } from '@elo/testing';
import type { DataSource } from 'typeorm';
import { migrations } from '../../src/database/migrations';

/**
 * The chat_ingress schema migrated in a database of its own, for a migration's own test: `ds()` once `beforeAll` ran;
 * `afterAll` drops it.
 */
export function migratedSchema(label: string): { ds: () => DataSource } {
  let infra: TestInfra | undefined;
  let ds: DataSource | undefined;
  beforeAll(async () => {
    infra = await createTestInfra(label);
    ds = createServiceDataSource({ url: infra.databaseUrl, schema: 'chat_ingress', migrations });
    await ds.initialize();
    await runMigrations(ds);
  });
  afterAll(async () => {
    await ds?.destroy();
    await infra?.cleanup();
  });
  return { ds: () => ds! };
}
