import { TemplateError } from './template-error';

/** One identifier segment: letters, digits, `_`, `$`, `-` (Unicode letters included). */
const IDENT = String.raw`[\p{L}\p{N}_$-]+`;
/** One bracket segment: quoted ('a.b' / "a b") or bare (anything but brackets, braces, quotes, newlines). */
const BRACKET = String.raw`\[(?:"[^"\]\r\n]*"|'[^'\]\r\n]*'|[^\]\[{}\r\n"']+)\]`;
/** A whole path: `contact.name`, `data[url]`, `contacts[0][name]`, `a.b[2].c`. */
export const PATH_SOURCE = `${IDENT}(?:\\.${IDENT}|${BRACKET})*`;
const PATH_RE = new RegExp(`^${PATH_SOURCE}$`, 'u');
const SEGMENT_RE = new RegExp(`(${IDENT})|\\.(${IDENT})|\\[(?:"([^"\\]]*)"|'([^'\\]]*)'|([^\\]]*))\\]`, 'gu');

export function parsePath(path: string): string[] {
  if (!PATH_RE.test(path)) throw new TemplateError(`invalid path "${path}"`, path);
  const segments: string[] = [];
  for (const m of path.matchAll(SEGMENT_RE)) {
    segments.push(m[1] ?? m[2] ?? m[3] ?? m[4] ?? m[5]);
  }
  return segments;
}

/**
 * Reads a value by path. Only own properties are followed (no `__proto__`, `constructor`, …),
 * arrays take numeric segments. Missing anywhere along the way → undefined.
 */
export function lookupPath(context: unknown, path: string): unknown {
  let current: unknown = context;
  for (const segment of parsePath(path)) {
    if (current === null || typeof current !== 'object') return undefined;
    if (Array.isArray(current)) {
      if (!/^\d+$/.test(segment)) return undefined;
      const index = Number(segment);
      if (index >= current.length) return undefined;
      current = current[index];
      continue;
    }
    if (current instanceof Map) {
      current = current.get(segment);
      continue;
    }
    if (!Object.prototype.hasOwnProperty.call(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}
