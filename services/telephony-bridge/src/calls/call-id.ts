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
