import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getMetadataStorage } from 'class-validator';
import { BaseServiceConfig } from '@elo/platform';
import { root } from './stack';

/**
 * Every setting a service reads is documented, and what the `.env.example` files give as a value is the setting's
 * default. A service's settings are its config class (`services/<service>/src/config/*.config.ts`, validated at boot,
 * the one place it reads its environment), the shared ones included; they are documented in its `.env.example` or
 * README, or the root ones (the shared settings). Where a class gives a default, a value an .env.example sets must be it;
 * a setting's default lives in its class, not where it is used.
 */
const SERVICES = readdirSync(join(root, 'services'));
const read = (...path: string[]) => readFileSync(join(root, ...path), 'utf8');

/** The settings each config class of `service` validates, and the defaults a bare instance has. */
async function settingsOf(service: string): Promise<Map<string, unknown>> {
  const dir = join(root, 'services', service, 'src', 'config');
  const settings = new Map<string, unknown>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.config.ts'))) {
    for (const exported of Object.values((await import(join(dir, file))) as Record<string, unknown>)) {
      if (typeof exported !== 'function') continue;
      const cls = exported as new () => Record<string, unknown>;
      const names = getMetadataStorage().getTargetValidationMetadatas(cls, '', true, false).map((m) => m.propertyName);
      if (names.length === 0) continue;
      const defaults = new cls();
      for (const name of names) settings.set(name, defaults[name]);
    }
  }
  return settings;
}

/** The `NAME=value` lines of an .env.example that are not commented out: settings it sets, as a newcomer copies them. */
function valuesIn(text: string): Array<[string, string]> {
  return [...text.matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm)].map(([, name, value]) => [name!, value!.trim()]);
}

describe('settings', () => {
  const settings = new Map<string, Map<string, unknown>>();
  beforeAll(async () => {
    for (const s of SERVICES) settings.set(s, await settingsOf(s));
  });

  it('finds the settings it checks', () => {
    expect(settings.get('telephony-bridge')!.get('TELEPHONY_PBX_TIMEOUT_MS')).toBe(10_000);
    expect(settings.get('viability')!.has('FINDME_TTL_MINUTES')).toBe(true);
    expect(settings.get('chat-ingress')!.has('DATABASE_URL')).toBe(true);
  });

  it.each(SERVICES)('%s: every setting it reads is documented', (service) => {
    const docs = [read('services', service, '.env.example'), read('services', service, 'README.md'), read('.env.example'), read('README.md')].join('\n');
    const undocumented = [...settings.get(service)!.keys()].filter((name) => !new RegExp(`\\b${name}\\b`).test(docs));
    expect(undocumented).toEqual([]);
  });

  it.each(SERVICES)("%s: its .env.example sets only settings it reads, each to the setting's default", (service) => {
    const own = settings.get(service)!;
    const wrong = valuesIn(read('services', service, '.env.example')).flatMap(([name, value]) => {
      if (!own.has(name)) return [`${name}: not a setting of ${service}`];
      const fallback = own.get(name);
      // PORT has no default (each service has its own, set in its .env.example); a secret's default is empty.
      return fallback === undefined || String(fallback) === value ? [] : [`${name}=${value}, default ${String(fallback)}`];
    });
    expect(wrong).toEqual([]);
  });

  it("the root .env.example sets only the shared settings (BaseServiceConfig), each to its default where it has one", () => {
    const shared = new BaseServiceConfig() as unknown as Record<string, unknown>;
    const names = new Set(getMetadataStorage().getTargetValidationMetadatas(BaseServiceConfig, '', true, false).map((m) => m.propertyName));
    const wrong = valuesIn(read('.env.example')).flatMap(([name, value]) => {
      if (!names.has(name)) return [`${name}: not a shared setting`];
      return shared[name] === undefined || String(shared[name]) === value ? [] : [`${name}=${value}, default ${String(shared[name])}`];
    });
    expect(wrong).toEqual([]);
  });
});
