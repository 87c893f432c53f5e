import 'reflect-metadata';
import { createServiceDataSource, runMigrations } from '@elo/persistence';
import { loadConfig } from '@elo/platform';
import { SCHEMA } from './app.module';
import { WebhookDispatcherConfig } from './config/webhook-dispatcher.config';
import { migrations } from './database/migrations';

/** `nx run webhook-dispatcher:migrate`: applies pending migrations of the dispatcher schema and exits. */
async function main(): Promise<void> {
  const config = loadConfig(WebhookDispatcherConfig);
  const ds = createServiceDataSource({ url: config.DATABASE_URL, schema: SCHEMA, migrations });
  await ds.initialize();
  const applied = await runMigrations(ds);
  await ds.destroy();
  process.stdout.write(`dispatcher: ${applied.length ? applied.join(', ') : 'up to date'}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`migration failed: ${err.message}\n`);
  process.exit(1);
});
