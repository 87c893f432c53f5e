import { fitChatText } from '@elo/contracts';
import { Groups } from '@elo/persistence';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { metricsRegistry } from '@elo/observability';
import { SERVICE_CONFIG } from '@elo/platform';
import { Counter } from 'prom-client';
import { Pool } from 'pg';
import type { EntityManager } from 'typeorm';
import type { ViabilityConfig } from '../config/viability.config';
import { boxInRange, IN_RANGE_LIMIT, MORE_LIMIT, POLES_LIMIT, type BoxesNear, type BoxInRange, type BoxStatus, type NearPole } from './boxes-near';
import { spheroidDistance } from './geodesy';
import { InventoryIndexes } from './inventory-indexes.service';
import { DROP_TOLERANCE_METERS } from './tenant-inventory';

export type Outcome = 'viable' | 'not_viable' | 'not_found';
export type { BoxInRange, BoxStatus } from './boxes-near';

export interface CheckResult {
  status: Outcome;
  mode: 'radius' | 'pole';
  maxDropMeters: number;
  box?: BoxInRange;
  pole?: { id: string; externalId: string; name: string; distanceMeters: number; boxDistanceMeters: number };
  alternatives: BoxInRange[];
  refused: BoxInRange[];
  reason?: string;
}

export interface TenantSettings {
  maxDropMeters: number;
  mode: 'radius' | 'pole';
  chatLocationChecks: boolean;
  /** per channel id: on or off, overriding `chatLocationChecks` for that channel */
  chatLocationChannels: Record<string, boolean>;
  replies: Partial<Record<Outcome, string>>;
}

/** Whether a location message on this channel is checked and answered. */
export const chatChecksOn = (s: TenantSettings, channelId: string): boolean => s.chatLocationChannels[channelId] ?? s.chatLocationChecks;

/** Portuguese defaults for the chat replies; `{box}` and `{distance}` are filled in. */
export const DEFAULT_REPLIES: Record<Outcome, string> = {
  viable: 'Boa notícia! Temos cobertura no seu endereço (caixa {box}, a {distance} m). Vamos seguir com a contratação?',
  not_viable: 'Há rede perto de você, mas no momento não temos porta disponível. Podemos avisar quando liberar?',
  not_found: 'Ainda não temos cobertura nesse local.',
};

const BOX_COLUMNS = `id, external_id, name, status, port_capacity - ports_in_use AS free_ports, pole_external_id,
  ST_Y(location::geometry) AS lat, ST_X(location::geometry) AS lng`;

interface BoxRow {
  id: string;
  external_id: string;
  name: string;
  status: BoxStatus;
  free_ports: number;
  pole_external_id: string | null;
  lat: number;
  lng: number;
  d: number;
}

interface CheckRow extends BoxRow {
  k: number;
  part: 'in' | 'more' | 'pole';
  n: number;
  /** pole mode only */
  pole_id?: string | null;
  pole_external?: string | null;
  pole_name?: string | null;
  pole_d?: number | null;
}

const toBox = (r: BoxRow): BoxInRange =>
  boxInRange(r.id, r.external_id, r.name, r.status, Number(r.free_ports), Number(r.d), r.pole_external_id, Number(r.lat), Number(r.lng));

/** How long a replica reuses a tenant's settings for checks. */
const SETTINGS_TTL_MS = 5_000;

/** The point checked, computed once for each point of a group (OFFSET 0 keeps it from being inlined into every use). */
const POINT = 'pt.point';

const ELIGIBLE = `status IN ('deployed', 'certified') AND ports_in_use < port_capacity`;

/** What a row of the check statement returns (radius mode has no pole columns). */
const OUT_COLUMNS = 'g.k::int AS k, c.part, c.n::int AS n, c.id, c.external_id, c.name, c.status, c.free_ports, c.pole_external_id, c.lat, c.lng, c.d';

/** The columns of a box row (BOX_COLUMNS and its distance `d`) as a subquery's output names them. */
const BOX_OUT = 'id, external_id, name, status, free_ports, pole_external_id, lat, lng, d';

/**
 * `SELECT columns FROM table WHERE …`, the `limit` nearest to `to` first (`location` the table's column).
 * Equal distances (boxes or poles documented at one spot) come by external id, as in the in-process index
 * (which reads the inventory in that order): `<->` alone leaves them in whatever order the GiST index
 * yields, so the box chosen differed between the statement and the index, and could change from one run
 * to the next. `ORDER BY location <-> to, external_id` alone made PostgreSQL read and sort every point
 * within the drop distance (the KNN scan orders by the distance only): the KNN scan takes the first
 * `limit` and any tied with the last of them (WITH TIES), and only those are sorted again.
 */
const nearest = (out: string, columns: string, from: string, location: string, to: string, limit: number) => `
  SELECT ${out} FROM (SELECT ${columns}, ${location} <-> ${to} AS knn FROM ${from} ORDER BY ${location} <-> ${to} FETCH FIRST ${limit} ROWS WITH TIES) o
   ORDER BY o.knn, o.external_id LIMIT ${limit}`;

/** The nearest eligible box within the drop distance of pole `p` (pole mode). */
const POLE_BOX = (p: string) =>
  nearest(BOX_OUT, `${BOX_COLUMNS}, ST_Distance(location, ${p}.location) AS d`, `viability.boxes
       WHERE tenant_id = g.tenant_id AND ${ELIGIBLE} AND ST_DWithin(location, ${p}.location, g.drop_m)`, 'location', `${p}.location`, 1);

/**
 * Checks a group of points in one statement: $1 tenants, $2 longitudes, $3 latitudes, $4 drop
 * distances, one element a point; rows carry `k`, the point's place in the group (from 1). For each
 * point, `part`: `in` a box in range (nearest first, at most IN_RANGE_LIMIT), `more` an eligible box
 * farther than a full list of refused ones, `pole` a pole near (nearest first) with the nearest eligible
 * box within the drop distance of it, if any (the first POLES_LIMIT poles, and when none of them has an
 * eligible box, the nearest pole behind them that has one). `n` keeps the index's nearest-first order inside each part.
 */
const checkSql = (pole: boolean) => `
  SELECT ${OUT_COLUMNS}${pole ? ', c.pole_id, c.pole_external, c.pole_name, c.pole_d' : ''} FROM unnest($1::uuid[], $2::float8[], $3::float8[], $4::float8[]) WITH ORDINALITY AS g(tenant_id, lng, lat, drop_m, k)
  CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(g.lng, g.lat), 4326)::geography AS point OFFSET 0) pt
  CROSS JOIN LATERAL (
  WITH in_range AS (${nearest(BOX_OUT, `${BOX_COLUMNS}, ST_Distance(location, ${POINT}) AS d`, `viability.boxes
     WHERE tenant_id = g.tenant_id AND ST_DWithin(location, ${POINT}, g.drop_m)`, 'location', POINT, IN_RANGE_LIMIT)}
  ), more AS (
    -- A dense cluster of refused boxes (a building in project, a full street) can hide an eligible box
    -- farther out but still within the drop distance: look for eligible ones alone.
    ${nearest(BOX_OUT, `${BOX_COLUMNS}, ST_Distance(location, ${POINT}) AS d`, `viability.boxes
     WHERE (SELECT count(*) FROM in_range) = ${IN_RANGE_LIMIT}
       AND NOT EXISTS (SELECT 1 FROM in_range WHERE status IN ('deployed', 'certified') AND free_ports > 0)
       AND tenant_id = g.tenant_id AND ST_DWithin(location, ${POINT}, g.drop_m) AND ${ELIGIBLE}`, 'location', POINT, MORE_LIMIT)}
  )${pole ? `, near_poles AS (${nearest('id, external_id, name, location, d', `id, external_id, name, location, ST_Distance(location, ${POINT}) AS d`, `viability.poles
     WHERE tenant_id = g.tenant_id AND ST_DWithin(location, ${POINT}, g.drop_m)`, 'location', POINT, POLES_LIMIT)}
  ), pole_rows AS (
    SELECT b.*, p.id AS pole_id, p.external_id AS pole_external, p.name AS pole_name, p.d AS pole_d
      FROM near_poles p LEFT JOIN LATERAL (${POLE_BOX('p')}) b ON true
  ), far_pole AS (
    -- Like more: when the first POLES_LIMIT poles have no eligible box, the nearest pole behind them that has one.
    -- The chosen pole's boxes are searched again below (POLE_BOX) on purpose: for the many poles passed over, EXISTS
    -- (a plain index scan that stops at the first eligible box) costs less than POLE_BOX's KNN search would.
    ${nearest('id, external_id, name, location, d', `p.id, p.external_id, p.name, p.location, ST_Distance(p.location, ${POINT}) AS d`, `viability.poles p
     WHERE (SELECT count(*) FROM near_poles) = ${POLES_LIMIT}
       AND NOT EXISTS (SELECT 1 FROM pole_rows WHERE id IS NOT NULL)
       AND p.tenant_id = g.tenant_id AND ST_DWithin(p.location, ${POINT}, g.drop_m)
       AND p.id NOT IN (SELECT id FROM near_poles)
       AND EXISTS (SELECT 1 FROM viability.boxes WHERE tenant_id = g.tenant_id AND ${ELIGIBLE} AND ST_DWithin(location, p.location, g.drop_m))`, 'p.location', POINT, 1)}
  )` : ''}
  SELECT 'in' AS part, row_number() OVER () AS n, i.*, NULL::uuid AS pole_id, NULL AS pole_external, NULL AS pole_name, NULL::float8 AS pole_d
    FROM in_range i
  UNION ALL
  SELECT 'more', row_number() OVER (), m.*, NULL, NULL, NULL, NULL FROM more m${pole ? `
  UNION ALL
  SELECT 'pole', row_number() OVER (), r.* FROM (
    SELECT * FROM pole_rows
    UNION ALL
    SELECT b.*, p.id, p.external_id, p.name, p.d FROM far_pole p JOIN LATERAL (${POLE_BOX('p')}) b ON true
  ) r` : ''}
  ) c`;
const CHECK_SQL = { radius: checkSql(false), pole: checkSql(true) };

/**
 * A point's rows by part ('in', 'more', 'pole') and nearest first within a part. The statement has no
 * ORDER BY: its plan yields them in that order already (each part in the index's order, the parts one
 * after the other), and sorting every group's rows again cost PostgreSQL about 6% of the statement
 * (groups of 10 on 1M boxes, five pairs back to back). Checked here in one pass, sorted only if a plan
 * ever yields them otherwise.
 */
export function inOrder<R extends Pick<CheckRow, 'part' | 'n'>>(rows: R[]): R[] {
  const before = (a: R, b: R) => (a.part === b.part ? a.n - b.n : a.part < b.part ? -1 : 1);
  for (let i = 1; i < rows.length; i++) if (before(rows[i - 1]!, rows[i]!) > 0) return rows.sort(before);
  return rows;
}

/** Connections of the check's own pool (see ViabilityService.pool); one a lane. */
const CHECK_LANES = 2;

/** Points checked in one statement at most. */
const CHECK_MAX_GROUP = 50;

interface Point {
  tenantId: string;
  lng: number;
  lat: number;
  maxDropMeters: number;
}

/** The group statement's parameters (see checkSql). */
/** The drop distance as the statement's ST_DWithin gets it: with the index's tolerance (see DROP_TOLERANCE_METERS). */
const groupParams = (points: Point[]) => [points.map((p) => p.tenantId), points.map((p) => p.lng), points.map((p) => p.lat), points.map((p) => p.maxDropMeters + DROP_TOLERANCE_METERS)];

/** Where checks were answered from: the in-process index, or PostgreSQL (no current copy yet, or a point it cannot answer). */
const checksFrom = new Counter({
  name: 'elo_viability_checks_total',
  help: 'Viability checks by what answered them: the in-process index or the check statement',
  labelNames: ['from'] as const,
  registers: [metricsRegistry],
});

/**
 * The answer from what was found near the point. Radius mode: the nearest eligible box. Pole mode: the
 * first pole (nearest first) with an eligible box within the drop distance of it, and that box, whose
 * `distanceMeters` is from the point `at` (what the customer is told) and `dropMeters` from the pole (also
 * `pole.boxDistanceMeters`).
 */
export function answer(s: Pick<TenantSettings, 'mode' | 'maxDropMeters'>, near: BoxesNear, at: { lat: number; lng: number }): CheckResult {
  const eligible = near.inRange.filter((b) => !b.refusedBecause).concat(near.more);
  const refused = near.inRange.filter((b) => b.refusedBecause);
  const base = { mode: s.mode, maxDropMeters: s.maxDropMeters, refused };
  if (s.mode === 'pole') {
    const p = near.poles.find((x): x is NearPole & { box: BoxInRange } => x.box !== undefined);
    if (p) {
      // The answer's distance is the customer's, to the box; the drop (pole to box) is kept beside it.
      const drop = p.box.distanceMeters;
      const fromPoint = spheroidDistance(at.lat, at.lng, p.box.lat, p.box.lng);
      const box: BoxInRange = { ...p.box, distanceMeters: Math.round(fromPoint * 10) / 10, dropMeters: drop };
      return {
        ...base,
        status: 'viable',
        box,
        pole: { id: p.id, externalId: p.externalId, name: p.name, distanceMeters: Math.round(p.distance * 10) / 10, boxDistanceMeters: drop },
        alternatives: eligible.filter((b) => b.id !== box.id),
      };
    }
    // No usable pole: an eligible box in the customer's range that no such pole reaches is still one of the
    // eligible boxes in range the answer lists (it was in neither list).
    return { ...base, status: near.inRange.length || near.poles.length ? 'not_viable' : 'not_found', alternatives: eligible };
  }
  if (eligible[0]) return { ...base, status: 'viable', box: eligible[0], alternatives: eligible.slice(1) };
  return { ...base, status: near.inRange.length ? 'not_viable' : 'not_found', alternatives: [] };
}

/**
 * "Can we serve this point?" from the tenant's inventory. Eligible: a deployed or certified box with a
 * free port within the drop distance. Radius mode takes the nearest eligible box; pole mode the
 * nearest pole that has an eligible box within the drop distance of it. KNN on the GiST indexes.
 */
@Injectable()
export class ViabilityService implements OnModuleDestroy {
  /**
   * Checks outside a transaction run here, as a named prepared statement: parsed once per connection
   * and, these sessions being set to generic plans, planned once too. PostgreSQL's default planned it
   * again at every run (its estimate for a plan kept for any point is higher than for one point, so it
   * never switches), which cost about as much as running it. Only the check uses these sessions; every
   * other query keeps the default.
   */
  private readonly pool: Pool;

  /**
   * Concurrent checks are read in groups, one statement a group (see Groups): each answer still comes
   * from its own point, tenant and settings; the group shares the round trip.
   */
  private readonly groups: Record<TenantSettings['mode'], Groups<Point, CheckRow[]>>;

  constructor(
    @Inject(SERVICE_CONFIG) config: ViabilityConfig,
    private readonly indexes: InventoryIndexes,
  ) {
    indexes.onSettingsChanged((tenantId) => (tenantId ? this.forget(tenantId) : this.cache.clear()));
    this.pool = new Pool({ connectionString: config.DATABASE_URL, max: CHECK_LANES, options: '-c plan_cache_mode=force_generic_plan' });
    // An idle connection that breaks is dropped by the pool; the next check opens another.
    this.pool.on('error', () => undefined);
    const group = (mode: TenantSettings['mode']) =>
      new Groups<Point, CheckRow[]>(async (points) => {
        const { rows } = await this.pool.query<CheckRow>({ name: `viability_check_${mode}`, text: CHECK_SQL[mode], values: groupParams(points) });
        const byPoint = points.map((): CheckRow[] => []);
        for (const r of rows) byPoint[r.k - 1]!.push(r);
        return byPoint.map(inOrder);
      }, { maxGroup: CHECK_MAX_GROUP, lanes: CHECK_LANES });
    this.groups = { radius: group('radius'), pole: group('pole') };
  }

  async onModuleDestroy(): Promise<void> {
    await this.pool.end();
  }

  /**
   * Settings as the check reads them, kept a few seconds: one query fewer on the hot path. A change
   * is seen at once on the replica that took it (see {@link forget}), on the others when its
   * notification arrives (see InventoryIndexes), and within {@link SETTINGS_TTL_MS} even without it.
   */
  private readonly cache = new Map<string, { at: number; value: TenantSettings }>();

  forget(tenantId: string): void {
    this.cache.delete(tenantId);
  }

  private async checkSettings(m: EntityManager, tenantId: string): Promise<TenantSettings> {
    const hit = this.cache.get(tenantId);
    if (hit && Date.now() - hit.at < SETTINGS_TTL_MS) return hit.value;
    const value = await this.settings(m, tenantId);
    if (this.cache.size >= 10_000) this.cache.clear();
    this.cache.set(tenantId, { at: Date.now(), value });
    return value;
  }

  async settings(m: EntityManager, tenantId: string): Promise<TenantSettings> {
    const rows: Array<{
      max_drop_m: number;
      mode: 'radius' | 'pole';
      chat_location_checks: boolean;
      chat_location_channels: Record<string, boolean>;
      replies: Partial<Record<Outcome, string>>;
    }> = await m.query(
      'SELECT max_drop_m, mode, chat_location_checks, chat_location_channels, replies FROM viability.settings WHERE tenant_id = $1',
      [tenantId],
    );
    const r = rows[0];
    return {
      maxDropMeters: r?.max_drop_m ?? 150,
      mode: r?.mode ?? 'radius',
      chatLocationChecks: r?.chat_location_checks ?? false,
      chatLocationChannels: r?.chat_location_channels ?? {},
      replies: r?.replies ?? {},
    };
  }

  /**
   * From the tenant's in-process index when it has a current one (see InventoryIndexes), else from
   * PostgreSQL ({@link nearBySql}); both find the same boxes and poles, answered alike.
   */
  async check(m: EntityManager, tenantId: string, lat: number, lng: number): Promise<CheckResult> {
    const s = await this.checkSettings(m, tenantId);
    const near = this.indexes.get(tenantId)?.near(lat, lng, s.maxDropMeters, s.mode === 'pole');
    checksFrom.inc({ from: near ? 'index' : 'sql' });
    return answer(s, near ?? (await this.nearBySql(m, tenantId, lat, lng, s)), { lat, lng });
  }

  /**
   * The check statement: one statement, shared with the checks asked meanwhile, finds the boxes in
   * range (nearest first), the eligible ones behind them when all of the first {@link IN_RANGE_LIMIT}
   * are refused, and in pole mode the poles near with the nearest eligible box of each. The one-time
   * filters make the parts not needed cost nothing.
   */
  async nearBySql(m: EntityManager, tenantId: string, lat: number, lng: number, s: Pick<TenantSettings, 'mode' | 'maxDropMeters'>): Promise<BoxesNear> {
    const point = { tenantId, lng, lat, maxDropMeters: s.maxDropMeters };
    // In a transaction (the bus's, with its inbox row) the check joins it, a group of one.
    const rows: CheckRow[] = m.queryRunner ? inOrder(await m.query(CHECK_SQL[s.mode], groupParams([point]))) : await this.groups[s.mode].submit(point);
    const near: BoxesNear = { inRange: [], more: [], poles: [] };
    for (const r of rows) {
      if (r.part === 'in') near.inRange.push(toBox(r));
      else if (r.part === 'more') near.more.push(toBox(r));
      else {
        near.poles.push({
          id: r.pole_id!, externalId: r.pole_external!, name: r.pole_name!, distance: Number(r.pole_d),
          ...(r.id !== null ? { box: toBox(r) } : {}),
        });
      }
    }
    return near;
  }

  reply(result: CheckResult, settings: TenantSettings): string {
    return fillReply(settings.replies[result.status] ?? DEFAULT_REPLIES[result.status], result.box);
  }
}

/**
 * A reply template with `{box}` (the box's name) and `{distance}` (metres to it) filled in. The values go
 * in as they are: a string replacement would read `$&`, `$'` or `$$` in a box's name as patterns. Cut to
 * what a chat message holds: a 1,000-character template of `{box}` and a long box name can exceed it,
 * and the send event would be refused (its handler retried until parked).
 */
export function fillReply(template: string, box: { name: string; distanceMeters: number } | undefined): string {
  return fitChatText(
    template.replace(/\{box\}/g, () => box?.name ?? '').replace(/\{distance\}/g, () => (box ? String(Math.round(box.distanceMeters)) : '')),
  );
}
