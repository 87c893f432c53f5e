import 'reflect-metadata';
import { createServiceDataSource, runMigrations } from '@elo/persistence';
import { loadConfig } from '@elo/platform';
import { SCHEMA } from './app.module';
import { TelephonyBridgeConfig } from './config/telephony-bridge.config';
import { migrations } from './database/migrations';

/** `nx run telephony-bridge:migrate`: applies pending migrations of the telephony schema and exits. */
async function main(): Promise<void> {
  const config = loadConfig(TelephonyBridgeConfig);
  const ds = createServiceDataSource({ url: config.DATABASE_URL, schema: SCHEMA, migrations });
  await ds.initialize();
  const applied = await runMigrations(ds);
  await ds.destroy();
  process.stdout.write(`telephony: ${applied.length ? applied.join(', ') : 'up to date'}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`migration failed: ${err.message}\n`);
  process.exit(1);
});
