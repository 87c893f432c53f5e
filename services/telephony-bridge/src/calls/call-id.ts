/**
 * A PBX call id: letters, digits, `.`, `_`, `:` and `-`, starting with a letter or digit, at most 128
 * characters, never `..` — so it can stand in a PBX URL path without reaching anything else
 * (Asterisk: `1537276453.47245539`).
 */
export const CALL_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function isValidCallId(value: unknown): value is string {
  return typeof value === 'string' && CALL_ID_RE.test(value) && !value.includes('..');
}

/** Operator extension: digits, letters, `_`, `-`, `*`, `#` (1–32). */
export const RAMAL_RE = /^[A-Za-z0-9_*#-]{1,32}$/;

/**
 * JSON text parsed with each number as its literal text (strings, with their escapes, left as they are).
 * PBXs that send call ids as JSON numbers would otherwise lose digits (1537276453.10 reads as 1537276453.1),
 * and the id would not match the PBX's callbacks and recordings.
 */
export function numbersAsWritten(json: string): unknown {
  return JSON.parse(json.replace(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g, (t) => (t.startsWith('"') ? t : `"${t}"`)));
}
