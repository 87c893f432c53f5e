/**
 * Text PostgreSQL can store, and the rows its writes return.
 */

/** String.prototype.toWellFormed (Node 20; the workspace's TypeScript lib is older than ES2024). */
const toWellFormed = (s: string): string => (s as string & { toWellFormed(): string }).toWellFormed();

/** A string PostgreSQL text and jsonb can hold: U+0000 and every lone surrogate (\ud800 …) as U+FFFD. */
export function storableString(s: string): string {
  const text = s.includes('\u0000') ? s.split('\u0000').join('\uFFFD') : s;
  return toWellFormed(text);
}

/**
 * Whether the JSON text may carry a string PostgreSQL refuses: U+0000, or a UTF-16 surrogate, lone or
 * paired (only a JSON escape can put one in a string: UTF-8 decoding never yields a lone surrogate, and
 * JSON.stringify escapes lone ones). Most bodies have neither, so they skip the walk of storable(); Meta's
 * escaped emoji take the walk too, which is cheap.
 */
export const mayNeedStorable = (json: string): boolean => /\\u(?:0000|[dD][89a-fA-F])/.test(json);

/**
 * The value with every string (and key) made storable in PostgreSQL text and jsonb: U+0000 and lone
 * surrogates become U+FFFD. Dates and other values stay as they are. The one place what comes from
 * outside (webhooks, messages to send, providers' and endpoints' answers) is cleaned before it is stored.
 */
export function storable<T>(v: T): T {
  if (typeof v === 'string') return storableString(v) as T;
  if (Array.isArray(v)) return v.map(storable) as T;
  if (typeof v === 'object' && v !== null && !(v instanceof Date)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [storableString(k), storable(x)])) as T;
  return v;
}

/**
 * The rows an UPDATE or DELETE … RETURNING gave: TypeORM answers those with `[rows, affected count]` on
 * PostgreSQL (an INSERT or SELECT with the rows alone), so `.length` of the answer is 2 whatever changed.
 */
export function returnedRows<T>(result: T[] | [T[], number]): T[] {
  return result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number' ? (result[0] as T[]) : (result as T[]);
}
