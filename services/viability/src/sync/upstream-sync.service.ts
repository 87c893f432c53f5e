import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { SecretBox } from '@elo/auth';
import { EgressError, HttpEgress } from '@elo/http-egress';
import { createLogger } from '@elo/observability';
import { periodic, ProblemException, SERVICE_CONFIG, type Periodic } from '@elo/platform';
import { DataSource, type QueryRunner } from 'typeorm';
import type { ViabilityConfig } from '../config/viability.config';
import { externalIdOf, featureProperties, toRow, type InventoryKind, type InventoryRow } from '../inventory/inventory-parser';
import { InventoryIndexes } from '../check/inventory-indexes.service';
import { InventoryService } from '../inventory/inventory.service';

const log = createLogger('viability').child({ component: 'upstream-sync' });

/** Pages of one kind never exceed this, so a misbehaving upstream cannot keep a sync going forever. */
const MAX_PAGES = 10_000;
/** Errors kept in the result (the count is always exact). */
const MAX_ERRORS_KEPT = 200;

export interface UpstreamSettings {
  baseUrl: string;
  token: string;
  enabled?: boolean;
  intervalMinutes?: number;
  pageSize?: number;
  prune?: boolean;
}

export interface SyncResult {
  boxes: { inserted: number; updated: number; pages: number; errors: number; deleted: number };
  poles: { inserted: number; updated: number; pages: number; errors: number; deleted: number };
  errors: Array<{ kind: InventoryKind; page: number; position: number; externalId?: string; reason: string }>;
  /** What the sync chose not to do, and why (a kind it did not prune). */
  notes: string[];
  durationMs: number;
}

interface UpstreamRow {
  tenant_id: string;
  base_url: string;
  token_sealed: string;
  enabled: boolean;
  interval_minutes: number;
  page_size: number;
  prune: boolean;
  last_started_at: Date | null;
  last_finished_at: Date | null;
  last_status: string | null;
  last_result: SyncResult | null;
}

type Raw = Record<string, unknown>;

/** The items of one page: a bare array, `{items|data|results|boxes|poles: […]}`, or a GeoJSON FeatureCollection. */
function itemsOf(doc: unknown, kind: InventoryKind): unknown[] | undefined {
  if (Array.isArray(doc)) return doc;
  if (!doc || typeof doc !== 'object') return undefined;
  const o = doc as Raw;
  for (const k of ['items', 'data', 'results', kind, 'features']) if (Array.isArray(o[k])) return o[k] as unknown[];
  return undefined;
}

/** An item in either flat form (lat/lng fields) or as a GeoJSON Point feature. */
function rowOf(kind: InventoryKind, item: unknown, position: number): InventoryRow | string {
  if (!item || typeof item !== 'object') return 'item is not an object';
  const it = item as Raw & { geometry?: { type?: string; coordinates?: unknown[] }; properties?: Raw };
  if (it.geometry) {
    if (it.geometry.type !== 'Point' || !Array.isArray(it.geometry.coordinates)) return 'geometry must be a Point';
    return toRow(kind, featureProperties(it), position, it.geometry.coordinates[1], it.geometry.coordinates[0]);
  }
  return toRow(kind, it, position, it.lat ?? it.latitude, it.lng ?? it.lon ?? it.longitude);
}

/**
 * The external id an item names, read as rowOf reads it: an item refused is kept from pruning by it (a
 * name of its own, such as `externalId` or a feature's `properties.id`, left the box to be deleted).
 */
function itemExternalId(item: unknown): unknown {
  if (!item || typeof item !== 'object') return undefined;
  const it = item as Raw & { geometry?: unknown; properties?: Raw };
  return externalIdOf(it.geometry ? featureProperties(it) : it);
}

/** The Authorization header: the token as a bearer token, or verbatim when it names its own scheme. */
export const authorizationOf = (token: string) => (/\s/.test(token.trim()) ? token.trim() : `Bearer ${token.trim()}`);

/**
 * Keeps a tenant's inventory in step with the network-documentation system it already runs: pages
 * through `<base>/boxes` and `<base>/poles` (`?page=N&per_page=M`, the token in `Authorization`) and
 * upserts by external id. Runs on demand and on a schedule; the schedule runs on one replica at a time
 * (a session advisory lock), and a tenant's sync never overlaps itself (a per-tenant advisory lock).
 */
@Injectable()
export class UpstreamSyncService implements OnApplicationBootstrap, OnApplicationShutdown {
  private schedule?: Periodic;

  constructor(
    private readonly ds: DataSource,
    private readonly egress: HttpEgress,
    private readonly box: SecretBox,
    private readonly inventory: InventoryService,
    private readonly indexes: InventoryIndexes,
    @Inject(SERVICE_CONFIG) private readonly config: ViabilityConfig,
  ) {}

  onApplicationBootstrap(): void {
    const every = this.config.UPSTREAM_SYNC_TICK_MS;
    if (every === 0) return;
    this.schedule = periodic(every, () => this.tick(), (err) => log.error({ err: err.message }, 'scheduled upstream sync failed'));
  }

  onApplicationShutdown(): void {
    void this.schedule?.stop();
  }

  async get(tenantId: string) {
    const r = await this.row(tenantId);
    if (!r) throw new ProblemException(404, 'no upstream is configured for this tenant');
    return this.view(tenantId, r);
  }

  async set(tenantId: string, s: UpstreamSettings) {
    const sealed = this.box.encrypt(s.token, `${tenantId}:upstream`);
    const [r]: UpstreamRow[] = await this.ds.query(
      `INSERT INTO viability.upstreams (tenant_id, base_url, token_sealed, enabled, interval_minutes, page_size, prune)
       VALUES ($1, $2, $3, COALESCE($4, true), COALESCE($5, 60), COALESCE($6, 500), COALESCE($7, false))
       ON CONFLICT (tenant_id) DO UPDATE SET base_url = $2, token_sealed = $3,
         enabled = COALESCE($4, viability.upstreams.enabled), interval_minutes = COALESCE($5, viability.upstreams.interval_minutes),
         page_size = COALESCE($6, viability.upstreams.page_size), prune = COALESCE($7, viability.upstreams.prune), updated_at = now()
       RETURNING *`,
      [tenantId, s.baseUrl.replace(/\/+$/, ''), sealed, s.enabled ?? null, s.intervalMinutes ?? null, s.pageSize ?? null, s.prune ?? null],
    );
    return this.view(tenantId, r!);
  }

  async remove(tenantId: string): Promise<void> {
    await this.ds.query('DELETE FROM viability.upstreams WHERE tenant_id = $1', [tenantId]);
  }

  /** On demand: 409 when this tenant's sync is already running (here or on another replica). */
  async syncNow(tenantId: string): Promise<SyncResult> {
    const r = await this.row(tenantId);
    if (!r) throw new ProblemException(404, 'no upstream is configured for this tenant');
    const out = await this.locked(`viability:upstream:${tenantId}`, () => this.run(r));
    if (out === undefined) throw new ProblemException(409, 'a sync of this tenant is already running');
    return out;
  }

  /**
   * One scheduled pass: every enabled upstream whose interval has passed. Only the replica holding the
   * scheduler lock does it; the others skip. Returns the tenants synced (undefined when another replica has the lock).
   */
  async tick(): Promise<string[] | undefined> {
    return this.locked('viability:upstream-scheduler', async () => {
      const due: UpstreamRow[] = await this.ds.query(
        `SELECT * FROM viability.upstreams
          WHERE enabled AND (last_started_at IS NULL OR last_started_at < now() - make_interval(mins => interval_minutes))
          ORDER BY last_started_at NULLS FIRST LIMIT 100`,
      );
      const done: string[] = [];
      for (const r of due) {
        const ran = await this.locked(`viability:upstream:${r.tenant_id}`, () => this.run(r).catch(() => undefined));
        if (ran !== undefined) done.push(r.tenant_id);
      }
      return done;
    });
  }

  /** Runs `work` holding a session advisory lock on a connection of its own; undefined if the lock is taken. */
  private async locked<T>(name: string, work: () => Promise<T>): Promise<T | undefined> {
    const qr: QueryRunner = this.ds.createQueryRunner();
    await qr.connect();
    try {
      const [got]: Array<{ ok: boolean }> = await qr.query('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [name]);
      if (!got?.ok) return undefined;
      try {
        return await work();
      } finally {
        await qr.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [name]);
      }
    } finally {
      await qr.release();
    }
  }

  private async run(r: UpstreamRow): Promise<SyncResult> {
    const started = Date.now();
    await this.ds.query('UPDATE viability.upstreams SET last_started_at = now(), last_status = $2 WHERE tenant_id = $1', [r.tenant_id, 'running']);
    const result: SyncResult = {
      poles: { inserted: 0, updated: 0, pages: 0, errors: 0, deleted: 0 },
      boxes: { inserted: 0, updated: 0, pages: 0, errors: 0, deleted: 0 },
      errors: [],
      notes: [],
      durationMs: 0,
    };
    try {
      const token = this.box.decrypt(r.token_sealed, `${r.tenant_id}:upstream`);
      // Every row this sync writes gets updated_at at or after this instant (the database's clock).
      const [{ t0 }]: Array<{ t0: Date }> = await this.ds.query('SELECT clock_timestamp() AS t0');
      const seen = { poles: new Set<string>(), boxes: new Set<string>() };
      // Poles first, so the boxes' pole references land on existing poles.
      for (const kind of ['poles', 'boxes'] as const) await this.pageThrough(r, token, kind, result, seen[kind]);
      // Only after a complete sync: a failed page would otherwise delete what it did not get to.
      if (r.prune) {
        for (const kind of ['poles', 'boxes'] as const) {
          // An upstream that lists nothing at all of a kind has far more often lost its path or its token's scope
          // than the network its boxes: pruning then would delete the tenant's whole inventory of that kind.
          const listed = result[kind].inserted + result[kind].updated + result[kind].errors;
          if (listed === 0) result.notes.push(`${kind}: the upstream listed none, so none were pruned`);
          else result[kind].deleted = await this.prune(r.tenant_id, kind, t0, seen[kind]);
        }
      }
      result.durationMs = Date.now() - started;
      await this.finish(r.tenant_id, 'ok', result);
      log.info({ tenantId: r.tenant_id, boxes: result.boxes, poles: result.poles, durationMs: result.durationMs }, 'upstream sync done');
      return result;
    } catch (err) {
      result.durationMs = Date.now() - started;
      const reason = err instanceof ProblemException ? err.message : (err as Error).message;
      await this.finish(r.tenant_id, `failed: ${reason}`, result);
      log.warn({ tenantId: r.tenant_id, reason }, 'upstream sync failed');
      throw err instanceof ProblemException ? err : new ProblemException(502, `upstream sync failed: ${reason}`, { result });
    }
  }

  private async finish(tenantId: string, status: string, result: SyncResult): Promise<void> {
    await this.ds.query(
      'UPDATE viability.upstreams SET last_finished_at = now(), last_status = $2, last_result = $3 WHERE tenant_id = $1',
      [tenantId, status.slice(0, 500), JSON.stringify(result)],
    );
  }

  /**
   * Deletes the tenant's rows of this kind that the sync did not write, except those the upstream
   * still lists but sent invalid (their ids are in `keep`): a typo upstream must not take a box away.
   */
  private async prune(tenantId: string, kind: InventoryKind, since: Date, keep: Set<string>): Promise<number> {
    // In a CTE: TypeORM answers a bare DELETE with [rows, count], not the rows.
    const [r]: Array<{ n: number }> = await this.ds.query(
      `WITH d AS (DELETE FROM viability.${kind === 'boxes' ? 'boxes' : 'poles'}
                   WHERE tenant_id = $1 AND updated_at < $2 AND NOT (external_id = ANY($3::text[])) RETURNING 1)
       SELECT count(*)::int AS n FROM d`,
      [tenantId, since, [...keep]],
    ).finally(() => this.indexes.changedHere(tenantId));
    return r?.n ?? 0;
  }

  private async pageThrough(r: UpstreamRow, token: string, kind: InventoryKind, result: SyncResult, invalidIds: Set<string>): Promise<void> {
    const origin = new URL(r.base_url).origin;
    let url: string | undefined = `${r.base_url}/${kind}?page=1&per_page=${r.page_size}`;
    // One run for every page: an external id the upstream lists twice is imported once (see InventoryService.upsert).
    const run = randomUUID();
    // Pages read, by address: a next link back to one of them would go round until MAX_PAGES, and what
    // came out of it looked like a complete sync (prune then deleted every page never reached).
    const read = new Map<string, number>();
    // Whether this page is asked only to tell whether the short page before it was the last (see nextUrl), and the
    // external ids of the page before it.
    let confirming = false;
    let previous = new Set<string>();
    for (let page = 1; url; page++) {
      const address = new URL(url).toString();
      const again = read.get(address);
      if (again !== undefined) throw new Error(`${kind} page ${page}: the next link leads back to page ${again} (${url})`);
      // Not a complete sync either: nothing is pruned after it.
      if (page > MAX_PAGES) throw new Error(`${kind}: more than ${MAX_PAGES} pages; the sync stopped there`);
      read.set(address, page);
      const doc = await this.fetchPage(url, token, kind, page, confirming);
      const items = doc === undefined ? [] : itemsOf(doc, kind);
      if (!items) throw new Error(`${kind} page ${page}: expected a JSON array of items (or {items: […]})`);
      const ids = new Set(items.map(itemExternalId).filter((id) => id !== undefined && id !== null).map(String));
      // The short page was the last: nothing follows it (an empty page, or none at all), or the same items come again
      // (an upstream that does not page).
      if (confirming && (items.length === 0 || (ids.size > 0 && [...ids].every((id) => previous.has(id))))) return;
      result[kind].pages++;
      const rows: InventoryRow[] = [];
      items.forEach((item, i) => {
        const row = rowOf(kind, item, i + 1);
        if (typeof row !== 'string') return void rows.push(row);
        result[kind].errors++;
        const id = itemExternalId(item);
        if (id !== undefined && id !== null) invalidIds.add(String(id));
        if (result.errors.length < MAX_ERRORS_KEPT) {
          result.errors.push({ kind, page, position: i + 1, ...(id !== undefined ? { externalId: String(id) } : {}), reason: row });
        }
      });
      if (rows.length) {
        const counts = await this.inventory.upsert(r.tenant_id, kind, rows, run);
        result[kind].inserted += counts.inserted;
        result[kind].updated += counts.updated;
        result[kind].errors += counts.repeated.length;
        for (const { row, reason } of counts.repeated) {
          if (result.errors.length < MAX_ERRORS_KEPT) result.errors.push({ kind, page, position: row.line, externalId: row.externalId, reason });
        }
      }
      previous = ids;
      ({ url, confirming } = this.nextUrl(doc, r, kind, page, items.length, origin));
    }
  }

  /**
   * The next page: the `next` link the upstream gives (same origin only: the token must not travel
   * elsewhere), else page + 1 until a page comes back empty. A page shorter than the size asked for, from an upstream
   * that says nothing of what follows (no next link, no `has_more`), is the last one or the most that upstream serves
   * a page (many cap their page size below ours): the next page is asked to tell (`confirming`). Taken for the last,
   * the first page of a capped upstream ended the sync as complete, and a prune deleted every box past it.
   */
  private nextUrl(doc: unknown, r: UpstreamRow, kind: InventoryKind, page: number, count: number, origin: string): { url?: string; confirming: boolean } {
    const o = doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Raw) : {};
    const links = o.links && typeof o.links === 'object' ? (o.links as Raw) : {};
    // `next: null` is an answer (no more pages), not an absence: `??` would look past it to `links.next`.
    const next = o.next !== undefined ? o.next : links.next;
    if (next === null || o.has_more === false || o.hasMore === false) return { confirming: false };
    if (typeof next === 'string' && next) {
      const u = new URL(next, `${r.base_url}/`);
      if (u.origin !== origin) throw new Error(`${kind} page ${page}: the next link leaves the upstream (${u.origin})`);
      return { url: u.toString(), confirming: false };
    }
    if (count === 0) return { confirming: false };
    const url = `${r.base_url}/${kind}?page=${page + 1}&per_page=${r.page_size}`;
    return { url, confirming: count < r.page_size && o.has_more !== true && o.hasMore !== true };
  }

  /** A page's JSON; undefined when `missingIsEnd` and the upstream has no such page (404: past the last one). */
  private async fetchPage(url: string, token: string, kind: InventoryKind, page: number, missingIsEnd: boolean): Promise<unknown> {
    let res;
    try {
      res = await this.egress.request({
        method: 'GET',
        url,
        headers: { authorization: authorizationOf(token), accept: 'application/json', 'user-agent': 'Elo viability sync' },
        timeoutMs: 30_000,
        maxResponseBytes: 50 * 1024 * 1024,
      });
    } catch (err) {
      throw new Error(err instanceof EgressError ? `${kind} page ${page}: ${err.kind}: ${err.reason}` : (err as Error).message, { cause: err });
    }
    if (res.status === 404 && missingIsEnd) return undefined;
    if (res.status === 401 || res.status === 403) throw new Error(`${kind} page ${page}: the upstream refused the token (${res.status})`);
    if (res.status < 200 || res.status > 299) throw new Error(`${kind} page ${page}: the upstream answered ${res.status}`);
    try {
      return JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new Error(`${kind} page ${page}: the upstream answered something other than JSON`);
    }
  }

  private row(tenantId: string): Promise<UpstreamRow | undefined> {
    return this.ds.query('SELECT * FROM viability.upstreams WHERE tenant_id = $1', [tenantId]).then((rows: UpstreamRow[]) => rows[0]);
  }

  private view(tenantId: string, r: UpstreamRow) {
    let token: string | null;
    try {
      token = this.box.mask(this.box.decrypt(r.token_sealed, `${tenantId}:upstream`));
    } catch {
      token = '(cannot be decrypted: set it again)';
    }
    return {
      baseUrl: r.base_url,
      token,
      enabled: r.enabled,
      intervalMinutes: r.interval_minutes,
      pageSize: r.page_size,
      prune: r.prune,
      lastStartedAt: r.last_started_at,
      lastFinishedAt: r.last_finished_at,
      lastStatus: r.last_status,
      lastResult: r.last_result,
    };
  }
}
