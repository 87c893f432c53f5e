import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Where the built single-page app is: the configured folder, else services/console/web/dist found from here or the cwd. */
export function findWebDist(configured?: string): string | undefined {
  const candidates = configured
    ? [configured]
    : [
        join(__dirname, '..', '..', 'web', 'dist'), // running from source
        join(__dirname, '..', '..', '..', '..', '..', 'services', 'console', 'web', 'dist'), // dist/services/console/src/spa
        join(process.cwd(), 'services', 'console', 'web', 'dist'),
      ];
  return candidates.find((d) => existsSync(join(d, 'index.html')));
}
