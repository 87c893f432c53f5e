import { ProblemException } from './problem-details.filter';

/**
 * Where a page ended plus the filters it was read with; handed to clients as an opaque string.
 * Listings come in two orders: by a timestamp with the row's uuid as tie-breaker (`time`: k is the
 * timestamp in microseconds since 1970, as PostgreSQL keeps it, so rows written by one transaction,
 * which share now(), are neither skipped nor repeated), or by a bigserial id (`serial`: k is the id).
 */
export interface PageCursor {
  /** The last row's sort key: its timestamp in microseconds since 1970 (`time`), or its id (`serial`). */
  k: string;
  /** The last row's uuid (`time`), the tie-breaker of equal timestamps. */
  id?: string;
  /** The filters the first page was asked with: later pages keep them. */
  f?: Record<string, string>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** At most 16 digits: microseconds up to the year 2286 and ids far past any table, never out of range in SQL. */
const DIGITS = /^\d{1,16}$/;

/** The cursor as the opaque string handed to clients; filters only when the listing has some. */
export function encodeCursor({ f, ...c }: PageCursor): string {
  return Buffer.from(JSON.stringify(f && Object.keys(f).length ? { ...c, f } : c)).toString('base64url');
}

/** The two orders a listing pages in (see PageCursor). */
export type CursorOrder = 'time' | 'serial';

/** SQL: a timestamptz column as a `time` cursor's k (microseconds since 1970, as text; exact). */
export const cursorKey = (column: string) => `(extract(epoch FROM ${column}) * 1000000)::bigint::text`;

/** SQL: the timestamptz a `time` cursor's k stands for, from a bigint parameter (`$7`). */
export const cursorTime = (param: string) => `('epoch'::timestamptz + ${param}::bigint * interval '1 microsecond')`;

/**
 * Reads a cursor this API returned; anything else is a 400 problem (never reaches SQL unchecked).
 * `order` says which kind of listing it must come from.
 */
export function decodeCursor(cursor: string, order: CursorOrder): PageCursor {
  let c: unknown;
  try {
    c = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    c = undefined;
  }
  const v = c as Partial<PageCursor> | undefined;
  const filtersOk = v?.f === undefined || (typeof v.f === 'object' && v.f !== null && !Array.isArray(v.f) && Object.values(v.f).every((x) => typeof x === 'string'));
  const ok =
    typeof v === 'object' && v !== null && typeof v.k === 'string' && filtersOk &&
    DIGITS.test(v.k) && (order === 'time' ? typeof v.id === 'string' && UUID.test(v.id) : v.id === undefined);
  if (!ok) throw notACursor();
  return v as PageCursor;
}

const notACursor = () => new ProblemException(400, 'cursor: not a cursor this API returned for this listing');

/**
 * The filters of a page: those in the cursor, and those in the query, which must be the same ones
 * (a cursor continues the listing it came from; a different or an added filter starts a new one without a cursor).
 * `valid` checks each filter the cursor carries as the query's validation checked it when the cursor was handed
 * out: one edited by hand is refused (400), never run.
 */
export function pageFilters(
  query: Record<string, string | undefined>, cursor: PageCursor | undefined, valid: Record<string, (v: string) => boolean>,
): Record<string, string> {
  const given = Object.fromEntries(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined));
  if (!cursor) return given;
  const kept = cursor.f ?? {};
  for (const name of new Set([...Object.keys(given), ...Object.keys(kept)])) {
    // A filter added on a later page would change the listing halfway through, as a changed one would.
    if (name in given && given[name] !== kept[name]) {
      throw new ProblemException(400, `${name}: differs from the filter of the cursor's listing; start again without a cursor`);
    }
    if (name in kept && !(valid[name]?.(kept[name]!) ?? false)) throw notACursor();
  }
  return { ...kept, ...given };
}
