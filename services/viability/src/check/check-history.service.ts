import { Injectable } from '@nestjs/common';
import { cursorKey, cursorTime, decodeCursor, encodeCursor, isTimestamp, pageFilters } from '@elo/platform';
import { DataSource } from 'typeorm';
import { CHECK_OUTCOMES, CHECK_VIAS, type ChecksQuery } from './check.dto';

/** One recorded check as the history lists it: where, how it came, the outcome and what the answer chose. */
export interface CheckView {
  id: string;
  checkedAt: string;
  via: string;
  /** The point checked; null for an address that could not be located. */
  location: { lat: number; lng: number } | null;
  status: string;
  /** What the row keeps of the answer (storedResult): box, pole, alternatives by id, refused with the reason, reason. */
  result: Record<string, unknown>;
}

export interface ChecksPage {
  items: CheckView[];
  nextCursor: string | null;
}

/** What each filter a cursor carries may be (ChecksQuery's rules). */
const CHECK_FILTERS: Record<string, (v: string) => boolean> = {
  status: (v) => (CHECK_OUTCOMES as readonly string[]).includes(v), via: (v) => (CHECK_VIAS as readonly string[]).includes(v), from: isTimestamp, to: isTimestamp,
};

/**
 * The tenant's recorded checks, newest first: every way in (HTTP, chat location, FindME, the bot flow)
 * records its checks, so this is where customers asked and what they were told. Filtered by outcome
 * (`not_viable` and `not_found` are the demand the network does not reach yet), by how the check came and
 * by time; cursor pages keep the filters they began with.
 */
@Injectable()
export class CheckHistoryService {
  constructor(private readonly ds: DataSource) {}

  async list(tenantId: string, q: ChecksQuery): Promise<ChecksPage> {
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor, 'time');
    const f = pageFilters({ status: q.status, via: q.via, from: q.from, to: q.to }, after, CHECK_FILTERS);
    const limit = q.limit ?? 100;
    const rows = (await this.ds.query(
      `SELECT id, via, lat, lng, status, result, checked_at, ${cursorKey('checked_at')} AS k
         FROM viability.checks
        WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR via = $3)
          AND ($4::timestamptz IS NULL OR checked_at >= $4) AND ($5::timestamptz IS NULL OR checked_at < $5)
          AND ($6::bigint IS NULL OR (checked_at, id) < (${cursorTime('$6')}, $7::uuid))
        ORDER BY checked_at DESC, id DESC LIMIT $8`,
      [tenantId, f['status'] ?? null, f['via'] ?? null, f['from'] ?? null, f['to'] ?? null, after?.k ?? null, after?.id ?? null, limit + 1],
    )) as Array<{ id: string; via: string; lat: number | null; lng: number | null; status: string; result: Record<string, unknown>; checked_at: Date; k: string }>;
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => {
        const { status: _status, ...result } = r.result;
        return {
          id: r.id,
          checkedAt: r.checked_at.toISOString(),
          via: r.via,
          location: r.lat === null || r.lng === null ? null : { lat: r.lat, lng: r.lng },
          status: r.status,
          result,
        };
      }),
      nextCursor: rows.length > limit ? encodeCursor({ k: last!.k, id: last!.id, f }) : null,
    };
  }
}
