import { Readable } from 'node:stream';
import { geojsonFeatures, GeoJsonStreamError, type StreamedFeature } from './geojson-stream';

/** Feeds `text` in pieces of `size` bytes (so tokens, strings and multi-byte characters are cut). */
const pieces = (text: string, size: number) => {
  const b = Buffer.from(text, 'utf8');
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return Readable.from(out);
};

async function all(text: string, size = 7, opts = {}): Promise<StreamedFeature[]> {
  const got: StreamedFeature[] = [];
  for await (const f of geojsonFeatures(pieces(text, size), opts)) got.push(f);
  return got;
}

const point = (id: string, name = id) => ({ type: 'Feature', id, geometry: { type: 'Point', coordinates: [-49.27, -25.42] }, properties: { name, note: 'a "quoted" ] } , text' } });

describe('geojsonFeatures', () => {
  const doc = { type: 'FeatureCollection', name: 'rede', features: [point('A', 'Caixa São João ✓'), point('B'), point('C')] };

  it.each([1, 3, 7, 64, 100_000])('splits the features whatever the chunk size (%d bytes)', async (size) => {
    const got = await all(JSON.stringify(doc, null, 2), size);
    expect(got.map((f) => f.index)).toEqual([1, 2, 3]);
    expect(got.map((f) => f.feature)).toEqual(doc.features);
    expect(got[0]!.textLine).toBe(5);
  });

  it('takes keys in any order and skips other members with nested brackets and strings', async () => {
    const text = `{"bbox":[1,2,[3]],"crs":{"x":"}]"},"features":[${JSON.stringify(point('A'))}],"type":"FeatureCollection","z":"\\"{"}`;
    expect((await all(text, 5)).map((f) => (f.feature as { id: string }).id)).toEqual(['A']);
  });

  it('reports a broken element by position and keeps the others', async () => {
    const text = `{"type":"FeatureCollection","features":[${JSON.stringify(point('A'))},\n{"type":"Feature",geometry:1},\n${JSON.stringify(point('C'))}]}`;
    const got = await all(text, 11);
    expect(got.map((f) => [f.index, f.textLine, f.error ? 'error' : (f.feature as { id: string }).id])).toEqual([[1, 1, 'A'], [2, 2, 'error'], [3, 3, 'C']]);
    expect(got[1]!.error).toMatch(/not valid JSON/);
  });

  it('an empty collection is fine', async () => {
    expect(await all('{"type":"FeatureCollection","features":[]}')).toEqual([]);
  });

  it.each([
    ['[1,2]', /JSON object/],
    ['{"type":"Feature","features":[]}', /FeatureCollection/],
    ['{"type":"FeatureCollection","features":{}}', /must be an array/],
    ['{"type":"FeatureCollection"}', /"features" array/],
    ['{"type":"FeatureCollection","features":[{"a":1}', /truncated/],
    ['{"type":"FeatureCollection","features":[]} x', /after the document/],
    ['', /empty/],
  ])('refuses %s', async (text, reason) => {
    await expect(all(text)).rejects.toThrow(GeoJsonStreamError);
    await expect(all(text)).rejects.toThrow(reason);
  });

  it('refuses an element over the size limit without holding it', async () => {
    const big = JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: { x: 'y'.repeat(5_000) } }] });
    await expect(all(big, 100, { maxFeatureChars: 1_000 })).rejects.toThrow(/feature 1 is larger than 1000/);
  });

  it('refuses a string over the size limit as soon as the limit is passed, without reading the rest', async () => {
    // 200 MB of one string property, fed 64 kB at a time: refused after about the limit, not at the end of the string.
    const piece = 'y'.repeat(64 * 1024);
    const pieces = 3_200;
    for (const [head, reason] of [
      ['{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"x":"', /feature 1 is larger than 1000000/],
      ['{"type":"FeatureCollection","name":"', /a string in the document is larger than 1000000/],
    ] as const) {
      let pulled = 0;
      async function* body() {
        yield head;
        for (; pulled < pieces; pulled++) yield piece;
        yield '"}}]}';
      }
      await expect(geojsonFeatures(body()).next()).rejects.toThrow(reason);
      expect(pulled).toBeLessThanOrEqual(Math.ceil(1_000_000 / piece.length) + 1);
    }
  });

  it('streams a large collection with bounded memory', async () => {
    const n = 50_000;
    async function* gen() {
      yield '{"type":"FeatureCollection","features":[';
      for (let i = 0; i < n; i++) yield `${i ? ',' : ''}${JSON.stringify(point(`F${i}`))}`;
      yield ']}';
    }
    let count = 0;
    for await (const f of geojsonFeatures(gen())) if (f.feature) count++;
    expect(count).toBe(n);
  });
});
