import { StringDecoder } from 'node:string_decoder';

/** One element of the FeatureCollection's `features` array, as it arrives. */
export interface StreamedFeature {
  /** 1-based position in `features` (what import errors call the "line" of a GeoJSON file) */
  index: number;
  /** the text line of the file where the element starts */
  textLine: number;
  feature?: unknown;
  /** why the element is not valid JSON */
  error?: string;
}

export class GeoJsonStreamError extends Error {}

const QUOTE = 34;
const BACKSLASH = 92;
const NL = 10;
const isWs = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;

/**
 * Splits a GeoJSON FeatureCollection into its features while the bytes arrive, holding only the
 * element being read (never the whole document). Each element is parsed on its own, so one broken
 * feature is reported and the others still come through. A document that is not a FeatureCollection,
 * is truncated, or has one element (or a top-level string) over `maxFeatureChars` throws a
 * GeoJsonStreamError as soon as the limit is passed, strings included: the text held stays bounded, so
 * the work stays linear in the input.
 */
export async function* geojsonFeatures(
  input: AsyncIterable<Buffer | string>,
  opts: { maxFeatureChars?: number } = {},
): AsyncGenerator<StreamedFeature> {
  const maxFeature = opts.maxFeatureChars ?? 1_000_000;
  const decoder = new StringDecoder('utf8');
  let text = '';
  let pos = 0;
  let line = 1;
  let depth = 0;
  let inStr = false;
  let esc = false;
  let started = false;
  let ended = false;
  // Top-level object: are we at a key, the key just read, and where a top-level string started.
  let expectKey = false;
  let lastKey: string | undefined;
  let topStrStart = -1;
  let type: string | undefined;
  // The features array.
  let inFeatures = false;
  let featuresDone = false;
  let elemStart = -1;
  let elemLine = 0;
  let index = 0;

  const tooLarge = () =>
    new GeoJsonStreamError(
      elemStart >= 0 ? `feature ${index + 1} is larger than ${maxFeature} characters (line ${elemLine})` : `a string in the document is larger than ${maxFeature} characters (line ${line})`,
    );

  const element = (end: number): StreamedFeature | undefined => {
    if (elemStart < 0) return undefined;
    const raw = text.slice(elemStart, end).trim();
    elemStart = -1;
    index++;
    try {
      return { index, textLine: elemLine, feature: JSON.parse(raw) as unknown };
    } catch (err) {
      return { index, textLine: elemLine, error: `not valid JSON: ${(err as Error).message}` };
    }
  };

  for await (const chunk of input) {
    text += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    const out: StreamedFeature[] = [];
    const len = text.length;
    for (; pos < len; pos++) {
      const code = text.charCodeAt(pos);
      if (code === NL) line++;
      if (inStr) {
        if (esc) esc = false;
        else if (code === BACKSLASH) esc = true;
        else if (code === QUOTE) {
          inStr = false;
          if (topStrStart >= 0) {
            const s = JSON.parse(text.slice(topStrStart, pos + 1)) as string;
            if (expectKey) lastKey = s;
            else if (lastKey === 'type') type = s;
            topStrStart = -1;
          }
        } else if ((elemStart >= 0 && pos - elemStart > maxFeature) || (topStrStart >= 0 && pos - topStrStart > maxFeature)) {
          // Checked inside strings too: a string is most of what a large element can be, and held whole
          // it made every chunk cost the whole text read so far (quadratic).
          throw tooLarge();
        }
        continue;
      }
      if (isWs(code)) continue;
      const c = text[pos]!;
      if (ended) throw new GeoJsonStreamError(`unexpected text after the document (line ${line})`);
      if (!started) {
        if (c !== '{') throw new GeoJsonStreamError('expected a GeoJSON FeatureCollection (a JSON object)');
        started = true;
        depth = 1;
        expectKey = true;
        continue;
      }
      if (inFeatures && depth === 2 && elemStart < 0 && c !== ',' && c !== ']') {
        elemStart = pos;
        elemLine = line;
      }
      if (c === '"') {
        inStr = true;
        if (depth === 1) topStrStart = pos;
      } else if (c === '{' || c === '[') {
        if (depth === 1 && lastKey === 'features' && !expectKey) {
          if (c !== '[' || featuresDone) throw new GeoJsonStreamError('"features" must be an array');
          inFeatures = true;
        }
        depth++;
      } else if (c === '}' || c === ']') {
        depth--;
        if (inFeatures && depth === 1) {
          const f = element(pos);
          if (f) out.push(f);
          inFeatures = false;
          featuresDone = true;
        } else if (depth === 0) ended = true;
        if (depth < 0) throw new GeoJsonStreamError(`unbalanced brackets (line ${line})`);
      } else if (c === ',') {
        if (inFeatures && depth === 2) {
          const f = element(pos);
          if (f) out.push(f);
          else throw new GeoJsonStreamError(`empty element in "features" (line ${line})`);
        } else if (depth === 1) expectKey = true;
      } else if (c === ':' && depth === 1) {
        expectKey = false;
      }
      if (elemStart >= 0 && pos - elemStart > maxFeature) throw tooLarge();
    }
    if (type !== undefined && type !== 'FeatureCollection') throw new GeoJsonStreamError('expected a GeoJSON FeatureCollection');
    // Keep only what is still needed: the element being read, or a top-level string being read.
    const keep = Math.min(elemStart >= 0 ? elemStart : pos, topStrStart >= 0 ? topStrStart : pos);
    if (keep > 0) {
      text = text.slice(keep);
      pos -= keep;
      if (elemStart >= 0) elemStart -= keep;
      if (topStrStart >= 0) topStrStart -= keep;
    }
    yield* out;
  }
  text += decoder.end();
  if (!ended) throw new GeoJsonStreamError(started ? 'the document is truncated' : 'the document is empty');
  if (type !== 'FeatureCollection' || !featuresDone) throw new GeoJsonStreamError('expected a GeoJSON FeatureCollection with a "features" array');
}
