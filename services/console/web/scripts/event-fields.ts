/**
 * Writes services/console/web/src/generated/event-fields.json: for every event type of the catalogue
 * (docs/asyncapi.json, generated from @elo/contracts by `npm run asyncapi`), the dotted paths of its
 * data fields, so the token picker lists what a trigger's event carries. Run by
 * `npx nx run console:build-web`. Given a file, writes that instead (the test that the committed one is current).
 *
 *   node -r @swc-node/register services/console/web/scripts/event-fields.ts [file]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

interface Schema {
  $ref?: string;
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  oneOf?: Schema[];
  description?: string;
}

const doc = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', '..', 'docs', 'asyncapi.json'), 'utf8')) as {
  components: { messages: Record<string, { name: string; summary?: string; payload: Schema }>; schemas: Record<string, Schema> };
};
const schemas = doc.components.schemas;
const resolve = (s: Schema): Schema => (s.$ref ? (schemas[s.$ref.split('/').pop() ?? ''] ?? {}) : s);

function paths(s: Schema, prefix: string, depth: number, out: string[]): void {
  const r = resolve(s);
  if (r.properties && depth < 4) {
    for (const [k, v] of Object.entries(r.properties)) paths(v, prefix ? `${prefix}.${k}` : k, depth + 1, out);
  } else if (prefix) out.push(prefix);
}

const events: Record<string, { summary: string; fields: string[] }> = {};
for (const m of Object.values(doc.components.messages)) {
  const fields: string[] = [];
  paths(m.payload, '', 0, fields);
  events[m.name] = { summary: m.summary ?? '', fields };
}
const sorted = Object.fromEntries(Object.entries(events).sort(([a], [b]) => a.localeCompare(b)));
const file = process.argv[2] ?? join(__dirname, '..', 'src', 'generated', 'event-fields.json');
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, `${JSON.stringify(sorted, null, 1)}\n`);
process.stdout.write(`${file}: ${Object.keys(sorted).length} event types\n`);
