import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { root } from './stack';

/**
 * The services serve web pages built with Vite from bundles committed in `web/dist` (no build step at start, no CDN), so
 * a change to a page's source that was not rebuilt and committed would ship the old page while every test of the
 * source passed. Each app is built again here, into a scratch directory, and must come out byte for byte as committed
 * (Vite names its files by content hash, so a stale bundle differs in its file names too). The console's token picker
 * reads event fields generated from docs/asyncapi.json, which is checked the same way.
 */
const APPS = ['console', 'message-status', 'telephony-bridge', 'viability'];

/** Every file below `dir`, by its path relative to it, with its contents. */
function filesOf(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(dir, path), readFileSync(path, 'latin1'));
  }
  return files;
}

describe('committed web bundles', () => {
  let scratch: string;
  beforeAll(() => (scratch = mkdtempSync(join(tmpdir(), 'elo-web-'))));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it.each(APPS)('%s: web/dist is what its source builds', (app) => {
    const out = join(scratch, app);
    execFileSync(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', join(root, 'services', app, 'web', 'vite.config.ts'), '--outDir', out, '--logLevel', 'error'], { cwd: root, stdio: 'pipe' });
    const built = filesOf(out);
    const committed = filesOf(join(root, 'services', app, 'web', 'dist'));
    expect(built.size).toBeGreaterThan(1);
    // Names first: a stale bundle shows as files of other hashes, which says more than a diff of minified code.
    expect([...committed.keys()].sort()).toEqual([...built.keys()].sort());
    for (const [path, contents] of built) expect({ path, same: committed.get(path) === contents }).toEqual({ path, same: true });
  }, 120_000);

  it('console: the event fields the token picker lists are those of docs/asyncapi.json', () => {
    const out = join(scratch, 'event-fields.json');
    execFileSync(process.execPath, ['-r', '@swc-node/register', join(root, 'services', 'console', 'web', 'scripts', 'event-fields.ts'), out], { cwd: root, stdio: 'pipe' });
    const generated = readFileSync(out, 'utf8');
    expect(Object.keys(JSON.parse(generated) as object).length).toBeGreaterThan(10);
    expect(readFileSync(join(root, 'services', 'console', 'web', 'src', 'generated', 'event-fields.json'), 'utf8')).toBe(generated);
  }, 60_000);
});
