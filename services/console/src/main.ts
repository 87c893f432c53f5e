import 'reflect-metadata';
import { loadConfig } from '@elo/platform';
import { ConsoleConfig } from './config/console.config';
import { createConsoleApp } from './console-app';

async function main(): Promise<void> {
  const config = loadConfig(ConsoleConfig);
  const app = await createConsoleApp(config);
  await app.listen(config.PORT, config.HOST);
}

main().catch((err: unknown) => {
  process.stderr.write(`console failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
