import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { buildOnce, root } from './stack';

/**
 * The production image (deploy/Dockerfile) keeps only `dependencies` (npm prune --omit=dev). This walks
 * what each service's built entry point really loads, following relative requires through dist/, and
 * checks every package it reaches is a declared production dependency: a dev-only or merely
 * transitive package would crash the service at start in the image but never in a dev checkout.
 */
const REQUIRE = /require\("([^"]+)"\)/g;
const builtins = new Set(builtinModules);
const SERVICES = ['chat-ingress', 'viability', 'telephony-bridge', 'webhook-dispatcher', 'message-status', 'console'];

function packageOf(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

function resolveFile(from: string, spec: string): string | undefined {
  const base = resolve(dirname(from), spec);
  return [base, `${base}.js`, join(base, 'index.js')].find((f) => existsSync(f) && f.endsWith('.js'));
}

/** Packages reached from `entry`, each with one file that requires it. */
function packagesReached(entry: string): Map<string, string> {
  const reached = new Map<string, string>();
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(REQUIRE)) {
      if (spec!.startsWith('.')) {
        const next = resolveFile(file, spec!);
        if (!next) throw new Error(`${file} requires ${spec}, which is not in dist`);
        todo.push(next);
      } else if (!spec!.startsWith('node:') && !builtins.has(spec!)) {
        const pkg = packageOf(spec!);
        if (!reached.has(pkg)) reached.set(pkg, file);
      }
    }
  }
  return reached;
}

describe('production dependencies', () => {
  beforeAll(() => buildOnce(), 300_000);

  const declared = Object.keys(
    (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies,
  );

  it.each(SERVICES)('%s loads only packages declared in dependencies', (service) => {
    const entry = join(root, 'dist', 'services', service, 'src', 'main.js');
    const reached = packagesReached(entry);
    expect(reached.size).toBeGreaterThan(5);
    const undeclared = [...reached].filter(([pkg]) => !declared.includes(pkg)).map(([pkg, file]) => `${pkg} (from ${file})`);
    expect(undeclared).toEqual([]);
  });
});
