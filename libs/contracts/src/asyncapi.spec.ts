import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildAsyncApiDocument } from './asyncapi';
import { EVENT_TYPES } from './events/catalogue';

const file = join(__dirname, '..', '..', '..', 'docs', 'asyncapi.json');

describe('AsyncAPI document', () => {
  const generated = `${JSON.stringify(buildAsyncApiDocument(), null, 2)}\n`;

  it('describes every event type with its payload schema', () => {
    const doc = JSON.parse(generated) as {
      channels: Record<string, { address: string }>;
      components: { schemas: Record<string, unknown>; messages: Record<string, { payload: { $ref: string } }> };
    };
    expect(Object.values(doc.channels).map((c) => c.address).sort()).toEqual([...EVENT_TYPES].sort());
    for (const m of Object.values(doc.components.messages)) {
      const name = m.payload.$ref.split('/').pop()!;
      expect(doc.components.schemas[name]).toBeDefined();
    }
  });

  it('is checked in up to date (run `npm run asyncapi` after changing events)', () => {
    if (process.env.UPDATE_ASYNCAPI === '1') writeFileSync(file, generated);
    expect(readFileSync(file, 'utf8')).toBe(generated);
  });
});
