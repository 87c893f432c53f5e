import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { EVENT_CATALOGUE, EVENT_TYPES } from '@elo/contracts';
import { EVENT_HANDLER_METADATA, topicMatches, type EventHandlerMetadata } from '@elo/messaging';
import { root } from './stack';

/**
 * The catalogue's `consumers` (published in docs/asyncapi.json as `x-consumers`, and read by whoever plans a change to
 * an event) name exactly the services that handle each type: read from the handlers themselves, the `@EventHandler`
 * methods of every service's consumer classes (`*.consumer.ts`, the convention the decorator documents).
 */
const SERVICES = readdirSync(join(root, 'services'));

/** The event-type patterns each `@EventHandler` of `service` names. */
async function handledPatterns(service: string): Promise<string[]> {
  const src = join(root, 'services', service, 'src');
  const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.consumer.ts'));
  const patterns: string[] = [];
  for (const file of files) {
    for (const exported of Object.values((await import(join(src, file))) as Record<string, unknown>)) {
      if (typeof exported !== 'function') continue;
      const proto = (exported as { prototype?: object }).prototype ?? {};
      for (const name of Object.getOwnPropertyNames(proto)) {
        const method = Object.getOwnPropertyDescriptor(proto, name)?.value as unknown;
        if (typeof method !== 'function') continue;
        const meta = Reflect.getMetadata(EVENT_HANDLER_METADATA, method) as EventHandlerMetadata | undefined;
        if (meta) patterns.push(...(typeof meta.type === 'string' ? [meta.type] : meta.type));
      }
    }
  }
  return patterns;
}

describe('event catalogue', () => {
  const handled = new Map<string, string[]>();
  beforeAll(async () => {
    for (const s of SERVICES) handled.set(s, await handledPatterns(s));
  });

  it('finds the handlers it compares with', () => {
    expect(handled.get('chat-ingress')).toContain('chat.message.received');
    expect(handled.get('console')).toEqual([]);
  });

  it.each(EVENT_TYPES)('%s: its consumers are the services that handle it', (type) => {
    const consumers = SERVICES.filter((s) => handled.get(s)!.some((p) => topicMatches(p, type)));
    expect([...EVENT_CATALOGUE[type].consumers].sort()).toEqual(consumers.sort());
  });
});
