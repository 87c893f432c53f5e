import { readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { stopContainers } from './containers';
import { runScratchPrefix } from './infra';

export default async function globalTeardown(): Promise<void> {
  await stopContainers();
  // The run's scratch paths (the e2e build lock, say), left for the whole run by design.
  const prefix = runScratchPrefix();
  for (const name of readdirSync(dirname(prefix)).filter((n) => n.startsWith(basename(prefix)))) {
    rmSync(join(dirname(prefix), name), { recursive: true, force: true });
  }
}
