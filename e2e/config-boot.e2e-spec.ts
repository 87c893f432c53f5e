import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './stack';

/** The five services on BaseServiceConfig (the console, in front of them, holds no secret and has its own settings). */
const SERVICES = readdirSync(join(root, 'services')).filter((s) => s !== 'console' && existsSync(join(root, 'services', s, 'src', 'main.ts')));
const SECRET = 'short-admin-secret-value';

/** Boots a service's main.ts with only `env` (and PATH): its exit code and what it wrote to stderr. Killed past 60 s. */
function boot(service: string, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', '@swc-node/register', join(root, 'services', service, 'src', 'main.ts')], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stderr });
    });
  });
}

/** Every service checks its configuration before anything else: a bad or missing value stops it, naming every bad key and no value. */
describe('a service started with a bad configuration', () => {
  it('finds the services it boots', () => {
    expect([...SERVICES].sort()).toEqual(['chat-ingress', 'message-status', 'telephony-bridge', 'viability', 'webhook-dispatcher']);
  });

  it.each(SERVICES)('%s stops at once, naming every bad or missing key and no value', async (service) => {
    const r = await boot(service, { DATABASE_URL: 'mysql://root:hunter2-db@db/elo', ELO_ADMIN_KEY: SECRET, PORT: '0' });
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull(); // exited by itself, not killed at the deadline
    expect(r.stderr).toContain('invalid configuration');
    for (const key of ['DATABASE_URL', 'AMQP_URL', 'ELO_ADMIN_KEY', 'ELO_ENCRYPTION_KEYS']) expect(r.stderr).toContain(`- ${key}:`);
    for (const value of [SECRET, 'hunter2-db']) expect(r.stderr).not.toContain(value);
  }, 90_000);

  it('the console stops too, naming each bad key', async () => {
    const r = await boot('console', { PORT: 'eighty', CHAT_INGRESS_URL: 'ftp://chat' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('invalid configuration');
    for (const key of ['PORT', 'CHAT_INGRESS_URL']) expect(r.stderr).toContain(`- ${key}:`);
  }, 90_000);
});
