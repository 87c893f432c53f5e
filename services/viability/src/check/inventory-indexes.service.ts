import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { createLogger, metricsRegistry } from '@elo/observability';
import { PgListener } from '@elo/persistence';
import { SERVICE_CONFIG } from '@elo/platform';
import { Client } from 'pg';
import { Counter } from 'prom-client';
import { DataSource } from 'typeorm';
import type { ViabilityConfig } from '../config/viability.config';
import type { BoxStatus } from './boxes-near';
import { STATUSES, TenantInventory, type BoxPatch, type PackedChunk } from './tenant-inventory';

/** Channel the inventory triggers notify on (see the InventoryVersions migration). */
const INVENTORY_CHANNEL = 'viability_inventory';

/**
 * An index answers only while its version was confirmed current this recently: when it was read, then
 * by the version poll (every {@link POLL_MS}; a poll late on a busy process leaves room), and only while
 * notifications arrive (the LISTEN connection is up). So an answer reflects the inventory as it was at
 * most this long ago, even if notifications were lost without the connection noticing; with them, a
 * change reaches every replica's index within a round trip. The settings a check reads are kept as long.
 */
const MAX_STALE_MS = 5_000;
const POLL_MS = 1_000;

/**
 * After a change, a tenant's index is read again only once its inventory has been quiet this long: an
 * import or a sync changes it every few hundred milliseconds (5,000 rows a statement), and reading a
 * million boxes after each statement would cost more than the checks it serves. Meanwhile checks ask
 * PostgreSQL, as without an index.
 */
const QUIET_MS = 1_000;

/** An index unused this long is let go (the memory of its tenant's inventory with it). */
const IDLE_MS = 10 * 60_000;

/** Points a statement while reading a tenant's inventory. */
const CHUNK_ROWS = 25_000;

interface Slot {
  index?: TenantInventory;
  /** When the index was last known to be current (its snapshot, or a poll that saw its version). */
  confirmedAt: number;
  /** When a change was last announced. */
  changedAt: number;
  loading: boolean;
  /** The newest version announced: a copy older than this is never used. */
  latest: number;
  /** Bumped by every change announced without a version (by this process, or all after a reconnect): a load that started before one is thrown away. */
  generation: number;
  usedAt: number;
  /**
   * Since when this process's own change holds the copy back (see {@link InventoryIndexes.changedHere}):
   * not served until a version poll that started later finds it current.
   */
  heldBack?: number;
}

export interface LoadStats {
  boxes: number;
  poles: number;
  bytes: number;
  ms: number;
}

const newSlot = (): Slot => ({ confirmedAt: 0, changedAt: 0, loading: false, latest: 0, generation: 0, usedAt: Date.now() });

const loads = new Counter({
  name: 'elo_viability_index_loads_total',
  help: "Reads of a tenant's inventory into the in-process index: loaded, discarded (it changed meanwhile) or failed",
  labelNames: ['outcome'] as const,
  registers: [metricsRegistry],
});

const patchesApplied = new Counter({
  name: 'elo_viability_index_patches_total',
  help: "Changes of a few boxes' status and ports applied to a held index in place, instead of reading the inventory again",
  registers: [metricsRegistry],
});

const log = createLogger('viability').child({ component: 'inventory-index' });

/**
 * Each replica's in-process copy of the inventories it checks (see TenantInventory): PostgreSQL stays
 * the source of truth. A tenant's boxes and poles are read on its first check (from one snapshot, with
 * the inventory version they are at) and answer its checks from then on; any change to them, on any
 * replica or in psql, bumps the version and notifies every replica (database triggers), which drops
 * the copy and reads it again once the inventory is quiet; a change of a few boxes' status and ports
 * is applied to the copy in place instead (see the BoxPatches migration). Until a copy is ready, and whenever its
 * freshness cannot be vouched for (see {@link MAX_STALE_MS}), checks go to PostgreSQL.
 */
@Injectable()
export class InventoryIndexes implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly slots = new Map<string, Slot>();
  private readonly listener: PgListener;
  private readonly settingsListeners: Array<(tenantId: string | undefined) => void> = [];
  private poller?: NodeJS.Timeout;
  private polling = false;
  /** Connections of the loads in flight (ended at shutdown). */
  private readonly reading = new Set<Client>();
  private stopped = false;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: ViabilityConfig,
    private readonly ds: DataSource,
  ) {
    this.listener = new PgListener({
      databaseUrl: config.DATABASE_URL,
      channels: [INVENTORY_CHANNEL],
      applicationName: 'viability-inventory',
      onNotification: (_channel, payload) => this.notified(payload),
      // Notifications sent while the connection was down are lost: nothing held can be vouched for.
      onConnected: () => this.dropAll(),
      onLost: (err) => {
        log.warn({ err: err.message }, 'inventory LISTEN connection lost; checks ask PostgreSQL until it is back');
        this.dropAll();
      },
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.listener.start();
    this.poller = setInterval(() => void this.poll(), POLL_MS);
    this.poller.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.poller);
    await this.listener.stop();
    await Promise.all([...this.reading].map((c) => c.end().catch(() => undefined)));
    this.slots.clear();
  }

  /** Called with the tenant whose check settings changed (undefined: any tenant's may have). */
  onSettingsChanged(fn: (tenantId: string | undefined) => void): void {
    this.settingsListeners.push(fn);
  }

  /**
   * The tenant's index if it is loaded and current (see {@link MAX_STALE_MS}); otherwise undefined, and
   * a load starts when one is due.
   */
  get(tenantId: string): TenantInventory | undefined {
    const now = Date.now();
    let slot = this.slots.get(tenantId);
    if (!slot) this.slots.set(tenantId, (slot = newSlot()));
    slot.usedAt = now;
    if (slot.index && slot.heldBack !== undefined && now - slot.heldBack > MAX_STALE_MS) this.changed(tenantId); // never confirmed: read it again
    if (slot.index) {
      if (slot.heldBack !== undefined || slot.index.version < slot.latest) return undefined;
      return this.listener.connected && now - slot.confirmedAt <= MAX_STALE_MS ? slot.index : undefined; // the poll confirms it again
    }
    if (!slot.loading && this.listener.connected && now - slot.changedAt >= QUIET_MS) void this.load(tenantId, slot);
    return undefined;
  }

  /** Reads the tenant's index now, whatever its state, and resolves once it is in place (bench, tests). */
  async ready(tenantId: string): Promise<LoadStats> {
    await this.listener.ready();
    const slot = this.slots.get(tenantId) ?? newSlot();
    this.slots.set(tenantId, slot);
    const stats = await this.load(tenantId, slot);
    if (!stats) throw new Error(`the inventory of ${tenantId} changed while it was read`);
    return stats;
  }

  /**
   * The tenant's inventory changed (`version`: to that version; undefined: it may have, as after a
   * reconnect): its index goes, at once.
   */
  changed(tenantId: string, version?: number): void {
    const slot = this.slots.get(tenantId);
    if (!slot) return;
    if (version !== undefined) {
      if ((slot.index?.version ?? -1) >= version) return; // it has that change already
      slot.latest = Math.max(slot.latest, version);
    } else slot.generation++;
    slot.index = undefined;
    slot.heldBack = undefined;
    slot.changedAt = Date.now();
  }

  /**
   * This process changed the tenant's inventory (an import or sync statement) and its commit is done.
   * The copy is not served from now on, so the request that made the change, and every later one, see
   * it; but it is kept: the change's notification patches it or drops it (see {@link patched}), and
   * the next version poll that starts after now serves it again if it is current by then (patched, or
   * nothing changed). One never confirmed within {@link MAX_STALE_MS} is dropped.
   */
  changedHere(tenantId: string): void {
    const slot = this.slots.get(tenantId);
    if (!slot) return;
    slot.generation++;
    if (slot.index) slot.heldBack = Date.now();
    else slot.changedAt = Date.now();
  }

  private notified(payload: string): void {
    const [tenantId, what, patches] = payload.split(':');
    if (!tenantId || !what) return;
    if (what === 'settings') for (const fn of this.settingsListeners) fn(tenantId);
    else if (patches === undefined || !this.patched(tenantId, Number(what), patches)) this.changed(tenantId, Number(what));
  }

  /**
   * A change of a few boxes' status and ports (see the BoxPatches migration) applied to the copy held,
   * when that copy is at the version just before it (so it has every earlier change); false when it
   * cannot be, and the caller drops the copy as for any change.
   */
  private patched(tenantId: string, version: number, payload: string): boolean {
    const slot = this.slots.get(tenantId);
    const index = slot?.index;
    if (!slot || !index || index.version !== version - 1) return false;
    const patches: BoxPatch[] = [];
    for (const p of payload === '' ? [] : payload.split(';')) {
      const [id, lat, lng, status, capacity, inUse] = p.split(',');
      if (!id || !STATUSES.includes(status as BoxStatus)) return false;
      patches.push({ id, lat: Number(lat), lng: Number(lng), status: status as BoxStatus, capacity: Number(capacity), inUse: Number(inUse) });
    }
    if (!index.patch(version, patches)) return false;
    // A read in flight from before this change is older than the copy now.
    slot.latest = Math.max(slot.latest, version);
    patchesApplied.inc();
    return true;
  }

  private dropAll(): void {
    for (const tenantId of this.slots.keys()) this.changed(tenantId);
    for (const fn of this.settingsListeners) fn(undefined);
  }

  private async load(tenantId: string, slot: Slot): Promise<LoadStats | undefined> {
    slot.loading = true;
    const generation = slot.generation;
    const started = performance.now();
    try {
      const { index, confirmedAt } = await this.read(tenantId);
      // A change announced meanwhile that this snapshot may not have makes this copy old.
      if (slot.generation !== generation || index.version < slot.latest || !this.listener.connected) {
        loads.inc({ outcome: 'discarded' });
        return undefined;
      }
      loads.inc({ outcome: 'loaded' });
      slot.index = index;
      slot.heldBack = undefined; // read after any change of this process's (a load from before one is discarded above)
      slot.confirmedAt = confirmedAt;
      const stats = { boxes: index.boxes.size, poles: index.poles.size, bytes: index.bytes, ms: Math.round(performance.now() - started) };
      log.info({ tenantId, version: index.version, ...stats }, 'inventory index loaded');
      return stats;
    } catch (err) {
      // Checks go on asking PostgreSQL; the next try waits as after a change.
      loads.inc({ outcome: 'failed' });
      slot.changedAt = Date.now();
      log.warn({ tenantId, err: (err as Error).message }, 'inventory index load failed');
      return undefined;
    } finally {
      slot.loading = false;
    }
  }

  /**
   * The tenant's boxes and poles and their version, from one snapshot (repeatable read), on a
   * connection of its own (the pool's serve the checks meanwhile). PostgreSQL packs each chunk of
   * points into a few values (see PackedChunk): read row by row (a cursor, FETCH 20,000 at a time),
   * a million boxes cost this process 6.0 s of CPU (nine million strings); packed, 2.9 s.
   */
  private async read(tenantId: string): Promise<{ index: TenantInventory; confirmedAt: number }> {
    if (this.stopped) throw new Error('shutting down');
    const client = new Client({ connectionString: this.config.DATABASE_URL, application_name: 'viability-inventory-load' });
    // A broken connection fails the query in flight; the event alone must not crash the process.
    client.on('error', () => undefined);
    this.reading.add(client);
    try {
      await client.connect();
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const [counts] = (
        await client.query<{ version: string; boxes: number; poles: number }>(
          `SELECT coalesce((SELECT version FROM viability.inventory_versions WHERE tenant_id = $1), 0)::text AS version,
                  (SELECT count(*)::int FROM viability.boxes WHERE tenant_id = $1) AS boxes,
                  (SELECT count(*)::int FROM viability.poles WHERE tenant_id = $1) AS poles`,
          [tenantId],
        )
      ).rows;
      const index = new TenantInventory(Number(counts!.version), counts!.boxes, counts!.poles);
      for await (const c of this.chunks(client, 'boxes', tenantId)) index.addBoxes(c as PackedChunk & { attrs: Buffer });
      for await (const c of this.chunks(client, 'poles', tenantId)) index.addPoles(c);
      await client.query('COMMIT');
      index.seal();
      // Reading a million boxes takes seconds: the copy is confirmed current now, not as of its snapshot
      // (a change meanwhile would also have been announced, and makes load() throw the copy away).
      const confirmedAt = Date.now();
      const [now] = (await client.query<{ version: string }>('SELECT version::text FROM viability.inventory_versions WHERE tenant_id = $1', [tenantId])).rows;
      if (Number(now?.version ?? 0) > index.version) throw new Error('the inventory changed while it was read');
      return { index, confirmedAt };
    } finally {
      this.reading.delete(client);
      await client.end().catch(() => undefined);
    }
  }

  /** The tenant's boxes or poles, {@link CHUNK_ROWS} at a time in external id order (the unique index). */
  private async *chunks(client: Client, table: 'boxes' | 'poles', tenantId: string): AsyncGenerator<PackedChunk & { attrs?: Buffer }> {
    const boxes = table === 'boxes';
    const sql = `SELECT count(*)::int AS n, max(external_id) AS last,
        string_agg(id::text, '') AS ids,
        string_agg(float8send(ST_Y(g)) || float8send(ST_X(g)), ''::bytea) AS coords,
        string_agg(int4send(octet_length(e)) || int4send(octet_length(nm))${boxes ? ' || int4send(coalesce(octet_length(pl), -1))' : ''}, ''::bytea) AS lengths,
        string_agg(external_id || name${boxes ? " || coalesce(pole_external_id, '')" : ''}, '') AS text
        ${boxes ? ", string_agg(int2send(st) || int4send(port_capacity) || int4send(ports_in_use), ''::bytea) AS attrs" : ''}
      FROM (SELECT id, external_id, name, location::geometry AS g, convert_to(external_id, 'UTF8') AS e, convert_to(name, 'UTF8') AS nm
                   ${boxes ? `, pole_external_id, convert_to(pole_external_id, 'UTF8') AS pl, (CASE status ${STATUSES.map((s, i) => `WHEN '${s}' THEN ${i}`).join(' ')} END)::int2 AS st, port_capacity, ports_in_use` : ''}
              FROM viability.${table} WHERE tenant_id = $1 AND external_id > $2 ORDER BY external_id LIMIT ${CHUNK_ROWS}) x`;
    // The first chunk from the start ("> ''" would leave out an empty external id; an OR would keep the index from seeking).
    const first = sql.replace('AND external_id > $2', 'AND $2::text IS NULL');
    for (let after: string | null = null; ; ) {
      const result: { rows: Array<PackedChunk & { last: string | null; attrs?: Buffer }> } = await client.query(after === null ? first : sql, [tenantId, after]);
      const c = result.rows[0]!;
      if (!c.n) return;
      yield c;
      if (c.n < CHUNK_ROWS) return;
      after = c.last;
    }
  }

  /**
   * Confirms the versions of the indexes held (one query a second for all of them), drops those that
   * are behind (a notification missed), and lets go of the idle ones.
   */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const now = Date.now();
      // Strictly after: a change committed in the same millisecond as the poll started may be missed by it.
      const startedAfter = (t: number) => now > t;
      for (const [tenantId, slot] of this.slots) if (now - slot.usedAt > IDLE_MS && !slot.loading) this.slots.delete(tenantId);
      const held = [...this.slots].filter(([, s]) => s.index);
      if (!held.length) return;
      const rows: Array<{ tenant_id: string; version: string }> = await this.ds.query(
        'SELECT tenant_id, version::text FROM viability.inventory_versions WHERE tenant_id = ANY($1::uuid[])',
        [held.map(([t]) => t)],
      );
      const versions = new Map(rows.map((r) => [r.tenant_id, Number(r.version)]));
      for (const [tenantId, slot] of held) {
        const index = slot.index;
        if (!index) continue;
        const version = versions.get(tenantId) ?? 0;
        if (version > index.version) {
          // The change's notification is usually on its way: it leaves when the change commits, and this poll may
          // have read the new version before this process read the notification. Dropping the copy here threw away
          // the copy the notification would have patched (and a tenant's whole inventory was read again). It is not
          // served from now on (a copy older than `latest` never is), but kept for the notification; still behind what
          // an earlier poll saw, one was missed: dropped.
          if (index.version < slot.latest) this.changed(tenantId, version);
          else slot.latest = version;
        } else {
          slot.confirmedAt = Math.max(slot.confirmedAt, now);
          if (slot.heldBack !== undefined && startedAfter(slot.heldBack)) slot.heldBack = undefined;
        }
      }
    } catch (err) {
      // The indexes age past MAX_STALE_MS and checks ask PostgreSQL.
      log.warn({ err: (err as Error).message }, 'inventory version poll failed');
    } finally {
      this.polling = false;
    }
  }
}
