import { spawnSync } from 'node:child_process';
import { root } from './stack';

/** Files to lint, as `path` (inside the repository) and `code`. */
type Snippet = { path: string; code: string };

/**
 * Lints snippets in a process of its own (ESLint loads its flat config with a dynamic import, which jest's module
 * sandbox refuses): for each, the ids of the rules it breaks as errors, and whether any rule was skipped.
 */
function lintAll(snippets: Snippet[]): Array<{ errors: string[]; skipped: boolean }> {
  const script = `
    import { ESLint } from 'eslint';
    import { join } from 'node:path';
    const eslint = new ESLint({ cwd: process.cwd() });
    const out = [];
    for (const s of JSON.parse(process.env.SNIPPETS)) {
      const [r] = await eslint.lintText(s.code, { filePath: join(process.cwd(), s.path) });
      out.push({
        errors: r.messages.filter((m) => m.severity === 2).map((m) => m.ruleId ?? m.message),
        skipped: r.messages.some((m) => m.message.includes('No cached ProjectGraph')),
      });
    }
    process.stdout.write(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, env: { ...process.env, SNIPPETS: JSON.stringify(snippets) }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`eslint failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Array<{ errors: string[]; skipped: boolean }>;
}

/**
 * The lint rules that keep the boundaries (STYLE.md) are real constraints, not `* → *`: a file that crosses one
 * is an error. Checked by linting snippets as if they were files of the named projects.
 */
describe('lint boundaries', () => {
  const cases: Array<Snippet & { breaks: string | null; why: string }> = [
    { why: 'a service imports another service', path: 'services/chat-ingress/src/peek.ts', code: "import { main } from '../../viability/src/main';\nexport const x = main;\n", breaks: '@nx/enforce-module-boundaries' },
    { why: 'a lib imports a service', path: 'libs/auth/src/peek.ts', code: "import { main } from '../../../services/viability/src/main';\nexport const x = main;\n", breaks: '@nx/enforce-module-boundaries' },
    { why: 'libs/contracts imports a lib of ours', path: 'libs/contracts/src/peek.ts', code: "import { Public } from '@elo/observability';\nexport const x = Public;\n", breaks: '@nx/enforce-module-boundaries' },
    { why: 'a service imports amqplib', path: 'services/chat-ingress/src/peek.ts', code: "import { connect } from 'amqplib';\nexport const x = connect;\n", breaks: 'no-restricted-imports' },
    { why: 'libs/http-egress imports amqplib', path: 'libs/http-egress/src/peek.ts', code: "import { connect } from 'amqplib';\nexport const x = connect;\n", breaks: 'no-restricted-imports' },
    { why: 'a service imports undici', path: 'services/webhook-dispatcher/src/peek.ts', code: "import { request } from 'undici';\nexport const x = request;\n", breaks: 'no-restricted-imports' },
    { why: 'a service imports a lib by its alias', path: 'services/chat-ingress/src/peek.ts', code: "import { Outbox } from '@elo/messaging';\nexport const x = Outbox;\n", breaks: null },
    { why: 'libs/messaging imports amqplib', path: 'libs/messaging/src/peek.ts', code: "import { connect } from 'amqplib';\nexport const x = connect;\n", breaks: null },
  ];

  it('services import libs only, libs never services, contracts no lib of ours; amqplib only in libs/messaging, undici only in libs/http-egress', () => {
    // The module-boundaries rule reads Nx's project graph (what `npm run lint` computes first); without it, it is skipped.
    const graph = spawnSync('npx', ['nx', 'show', 'projects'], { cwd: root, env: { ...process.env, NX_DAEMON: 'false' }, encoding: 'utf8' });
    expect(graph.status).toBe(0);
    const results = lintAll(cases);
    const seen = cases.map((c, i) => ({ why: c.why, skipped: results[i]!.skipped, breaks: results[i]!.errors.includes(c.breaks ?? '') ? c.breaks : results[i]!.errors.length ? results[i]!.errors : null }));
    expect(seen).toEqual(cases.map((c) => ({ why: c.why, skipped: false, breaks: c.breaks })));
  }, 180_000);
});
