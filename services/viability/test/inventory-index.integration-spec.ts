import type { Socket } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { BusConnection } from '@elo/messaging';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { callApi, createTestInfra, expectEventually, seededRandom, withAdminClient, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../src/app.module';
import type { BoxInRange } from '../src/check/boxes-near';
import { FromPoint, sphereDistance, spheroidDistance } from '../src/check/geodesy';
import { InventoryIndexes } from '../src/check/inventory-indexes.service';
import { answer, ViabilityService, type CheckResult, type TenantSettings } from '../src/check/viability.service';
import { ViabilityConfig } from '../src/config/viability.config';
import { projectPoint } from './project-point';

const ADMIN = 'i'.repeat(40);
const HOME = { lat: -22.9068, lng: -43.1729 };
/** The area the random inventory covers: about 1.5 × 1.5 km. */
const SPAN = 0.014;


/**
 * Answers from the in-process index are the answers PostgreSQL gives, and every replica's index follows
 * the inventory: two replicas of the service on one database.
 */
describe('viability: the in-process inventory index', () => {
  let infra: TestInfra;
  const apps: INestApplication[] = [];
  const urls: string[] = [];
  let ds: DataSource;

  beforeAll(async () => {
    infra = await createTestInfra('viability-index');
    const config = loadConfig(ViabilityConfig, {
      DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN,
      ELO_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 6).toString('base64')}`, ELO_ENCRYPTION_ACTIVE_KEY: 'k1', LOG_LEVEL: 'warn',
    });
    for (let i = 0; i < 2; i++) {
      const app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'viability', config });
      await app.listen(0, '127.0.0.1');
      await app.get(BusConnection).waitReady(15_000);
      apps.push(app);
      urls.push(await app.getUrl());
    }
    ds = apps[0]!.get(DataSource);
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await infra?.cleanup();
  });

  const call = <T = Record<string, unknown>>(replica: number, method: string, path: string, key: string, body?: unknown, type?: string) =>
    callApi<T>(urls[replica]!, method, path, key, body, type ? { 'content-type': type } : {});

  async function tenant(): Promise<{ id: string; key: string }> {
    const t = (await call<{ id: string }>(0, 'POST', '/tenants', ADMIN, { name: 'isp' })).body;
    const k = (await call<{ key: string }>(0, 'POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'k', permissions: ['viability:check', 'viability:manage'] })).body;
    return { id: t.id, key: k.key };
  }

  const at = (meters: number, azimuthDeg: number, from = HOME) => projectPoint(ds, from, meters, azimuthDeg);

  const indexes = (replica: number) => apps[replica]!.get(InventoryIndexes);
  const viability = (replica: number) => apps[replica]!.get(ViabilityService);
  const header = 'external_id,name,lat,lng,status,port_capacity,ports_in_use,pole_external_id';
  // Names and pole references beyond ASCII: the index keeps them as UTF-8 bytes.
  const boxRow = (id: string, p: { lat: number; lng: number }, status: string, cap: number, used: number, pole = '') => `${id},Caixa ${id} São João 📦,${p.lat},${p.lng},${status},${cap},${used},${pole}`;

  /** An answer with distances rounded to the metre: the index and PostGIS agree to the micrometre, so 0.1 m roundings can differ at a .x5. */
  const comparable = (r: CheckResult) => {
    const box = (b: BoxInRange) => ({ ...b, distanceMeters: Math.round(b.distanceMeters) });
    return {
      ...r,
      ...(r.box ? { box: box(r.box) } : {}),
      ...(r.pole ? { pole: { ...r.pole, distanceMeters: Math.round(r.pole.distanceMeters), boxDistanceMeters: Math.round(r.pole.boxDistanceMeters) } } : {}),
      alternatives: r.alternatives.map(box),
      refused: r.refused.map(box),
    };
  };

  it('measures distances as PostGIS does on geography (spheroid for ST_Distance, sphere for <->)', async () => {
    const r = seededRandom(3);
    const pairs = Array.from({ length: 2_000 }, () => [-55 + r() * 60, -75 + r() * 45, r() * 500, r() * 360] as const);
    const rows: Array<{ lat: number; lng: number; lat2: number; lng2: number; d: number; s: number }> = await ds.query(
      `SELECT lat, lng, ST_Y(q::geometry) AS lat2, ST_X(q::geometry) AS lng2, ST_Distance(p, q) AS d, p <-> q AS s
         FROM (SELECT lat, lng, ST_SetSRID(ST_MakePoint(lng, lat), 4326)::geography AS p,
                      ST_Project(ST_SetSRID(ST_MakePoint(lng, lat), 4326)::geography, m, radians(az)) AS q
                 FROM unnest($1::float8[], $2::float8[], $3::float8[], $4::float8[]) AS u(lat, lng, m, az)) x`,
      [pairs.map((p) => p[0]), pairs.map((p) => p[1]), pairs.map((p) => p[2]), pairs.map((p) => p[3])],
    );
    let spheroid = 0;
    let sphere = 0;
    for (const x of rows) {
      spheroid = Math.max(spheroid, Math.abs(spheroidDistance(x.lat, x.lng, x.lat2, x.lng2) - x.d));
      sphere = Math.max(sphere, Math.abs(sphereDistance(x.lat, x.lng, x.lat2, x.lng2) - x.s));
    }
    expect(spheroid).toBeLessThan(1e-5);
    expect(sphere).toBeLessThan(1e-5);
    // The per-point form the index uses: the same spheroid distance, and the order of <->.
    let fromPoint = 0;
    for (const x of rows) fromPoint = Math.max(fromPoint, Math.abs(new FromPoint(x.lat, x.lng).spheroid(x.lat2, x.lng2) - x.d));
    expect(fromPoint).toBeLessThan(1e-5);
    const around: Array<{ i: number; lat: number; lng: number }> = await ds.query(
      `SELECT i, ST_Y(q::geometry) AS lat, ST_X(q::geometry) AS lng
         FROM (SELECT i, ST_Project(ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography, 500 * random(), 2 * pi() * random()) AS q FROM generate_series(1, 500) i) x
        ORDER BY q <-> ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography`,
      [HOME.lat, HOME.lng],
    );
    const from = new FromPoint(HOME.lat, HOME.lng);
    expect([...around].sort((a, b) => from.sphereOrder(a.lat, a.lng) - from.sphereOrder(b.lat, b.lng)).map((p) => p.i)).toEqual(around.map((p) => p.i));
  });

  it('answers what PostgreSQL answers, for random points in both modes and every outcome', async () => {
    const t = await tenant();
    const r = seededRandom(11);
    const spot = () => ({ lat: HOME.lat + r() * SPAN, lng: HOME.lng + r() * SPAN });
    const poles = Array.from({ length: 150 }, (_, i) => ({ id: `P-${i}-poste-ç`, ...spot() }));
    const rows = Array.from({ length: 1_500 }, (_, i) => {
      const x = r();
      const status = x < 0.15 ? 'in_project' : x < 0.25 ? 'not_deployed' : x < 0.6 ? 'deployed' : 'certified';
      return boxRow(`B-${i}`, spot(), status, 8, r() < 0.3 ? 8 : Math.floor(r() * 8), r() < 0.8 ? poles[Math.floor(r() * poles.length)]!.id : '');
    });
    // Behind a full list: 60 full boxes within 20 m of a point, eligible ones at 100 m and 140 m.
    const crowd = await at(3_000, 0);
    for (let i = 0; i < 60; i++) rows.push(boxRow(`FULL-${i}`, await at(1 + (i % 20), i * 6, crowd), 'deployed', 8, 8));
    rows.push(boxRow('BEHIND-1', await at(100, 45, crowd), 'certified', 8, 1), boxRow('BEHIND-2', await at(140, 200, crowd), 'deployed', 8, 0));
    // The drop-distance edge: boxes at 149.9 m and 150.1 m, alone.
    const edge = await at(6_000, 90);
    rows.push(boxRow('EDGE-IN', await at(149.9, 10, edge), 'deployed', 8, 0), boxRow('EDGE-OUT', await at(150.1, 100, edge), 'deployed', 8, 0));
    const poleCsv = ['external_id,name,lat,lng', ...poles.map((p) => `${p.id},Poste ${p.id} à rua,${p.lat},${p.lng}`)].join('\n');
    expect((await call(0, 'POST', '/inventory/import?kind=poles', t.key, poleCsv, 'text/csv')).body).toMatchObject({ inserted: 150 });
    expect((await call(0, 'POST', '/inventory/import?kind=boxes', t.key, [header, ...rows].join('\n'), 'text/csv')).body).toMatchObject({ inserted: rows.length });

    const loaded = await indexes(1).ready(t.id);
    expect(loaded).toMatchObject({ boxes: rows.length, poles: 150 });
    const index = indexes(1).get(t.id)!;
    expect(index).toBeDefined();
    const points = [...Array.from({ length: 150 }, spot), crowd, edge, await at(5_000, 180)];
    const seen = new Set<string>();
    for (const mode of ['radius', 'pole'] as const) {
      for (const maxDropMeters of [150, 60]) {
        const s: Pick<TenantSettings, 'mode' | 'maxDropMeters'> = { mode, maxDropMeters };
        for (const p of points) {
          const fromIndex = answer(s, index.near(p.lat, p.lng, maxDropMeters, mode === 'pole')!, p);
          const fromSql = answer(s, await viability(1).nearBySql(ds.manager, t.id, p.lat, p.lng, s), p);
          expect(comparable(fromIndex)).toEqual(comparable(fromSql));
          seen.add(`${mode}:${fromSql.status}`);
          for (const b of fromSql.refused) seen.add(`refused:${b.refusedBecause}`);
        }
      }
    }
    // Every outcome and refusal came up.
    expect([...seen].sort()).toEqual(
      ['pole:not_found', 'pole:not_viable', 'pole:viable', 'radius:not_found', 'radius:not_viable', 'radius:viable', 'refused:full', 'refused:in_project', 'refused:not_deployed'].sort(),
    );
    const behind = answer({ mode: 'radius', maxDropMeters: 150 }, index.near(crowd.lat, crowd.lng, 150, false)!, crowd);
    expect(behind).toMatchObject({ status: 'viable', box: { externalId: 'BEHIND-1' }, alternatives: [{ externalId: 'BEHIND-2' }] });
    expect(behind.refused).toHaveLength(50);
    expect(answer({ mode: 'radius', maxDropMeters: 150 }, index.near(edge.lat, edge.lng, 150, false)!, edge)).toMatchObject({ status: 'viable', box: { externalId: 'EDGE-IN' }, alternatives: [] });
  });

  it("an import or a port taken on one replica reaches the other's index, and a missed notification is caught", async () => {
    const t = await tenant();
    const near = await at(40, 30);
    await call(0, 'POST', '/inventory/import?kind=boxes', t.key, [header, boxRow('A', near, 'deployed', 8, 7)].join('\n'), 'text/csv');
    await indexes(1).ready(t.id);
    const onReplica1 = () => {
      const index = indexes(1).get(t.id);
      expect(index).toBeDefined();
      return answer({ mode: 'radius', maxDropMeters: 150 }, index!.near(HOME.lat, HOME.lng, 150, false)!, HOME);
    };
    expect(onReplica1()).toMatchObject({ status: 'viable', box: { externalId: 'A', freePorts: 1 } });

    // The last port of A is taken (an import on replica 0): replica 1 drops its index, then reads it again.
    await call(0, 'POST', '/inventory/import?kind=boxes', t.key, [header, boxRow('A', near, 'deployed', 8, 8)].join('\n'), 'text/csv');
    await expectEventually(() => expect(onReplica1()).toMatchObject({ status: 'not_viable', refused: [{ externalId: 'A', refusedBecause: 'full' }] }));
    // Meanwhile, its checks were answered by PostgreSQL: never the old answer.
    expect((await call<{ status: string }>(1, 'POST', '/viability', t.key, HOME)).body.status).toBe('not_viable');

    // A new box imported on replica 0.
    const other = await at(90, 200);
    await call(0, 'POST', '/inventory/import?kind=boxes', t.key, [header, boxRow('B', other, 'certified', 16, 2)].join('\n'), 'text/csv');
    await expectEventually(() => expect(onReplica1()).toMatchObject({ status: 'viable', box: { externalId: 'B', freePorts: 14 } }));

    // Replica 1's LISTEN connection breaks while the inventory changes: it drops what it holds and reads it again.
    await withAdminClient(infra.databaseUrl, (c) =>
      c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'viability-inventory' AND datname = current_database()`),
    );
    await ds.query(`UPDATE viability.boxes SET ports_in_use = port_capacity WHERE tenant_id = $1 AND external_id = 'B'`, [t.id]);
    await expectEventually(() => expect(onReplica1()).toMatchObject({ status: 'not_viable' }), { timeoutMs: 15_000 });

    // A change whose notification never came (the version moved, nothing said): the version poll drops the index.
    // (Without it the poll would go on confirming the copy every second, and the copy would stay.)
    const held = indexes(1).get(t.id)!;
    await ds.query('UPDATE viability.inventory_versions SET version = version + 1 WHERE tenant_id = $1', [t.id]);
    await expectEventually(() => expect(indexes(1).get(t.id)).not.toBe(held));
  });

  it("a few boxes' status and ports changed patch every replica's copy in place, a statement that changes nothing of it keeps it; any other change, or too many boxes, reads it again", async () => {
    const t = await tenant();
    const [a, b] = [await at(40, 30), await at(70, 120)];
    await call(0, 'POST', '/inventory/import?kind=boxes', t.key, [header, boxRow('A', a, 'deployed', 8, 7), boxRow('B', b, 'in_project', 16, 0)].join('\n'), 'text/csv');
    await Promise.all([indexes(0).ready(t.id), indexes(1).ready(t.id)]);
    const held = [indexes(0).get(t.id)!, indexes(1).get(t.id)!];
    const check = (replica: number) => answer({ mode: 'radius', maxDropMeters: 150 }, indexes(replica).get(t.id)!.near(HOME.lat, HOME.lng, 150, false)!, HOME);
    expect(check(1)).toMatchObject({ status: 'viable', box: { externalId: 'A', freePorts: 1 } });

    // A's last port taken (psql, any writer): both copies have it, and they are the copies they were.
    await ds.query(`UPDATE viability.boxes SET ports_in_use = 8 WHERE tenant_id = $1 AND external_id = 'A'`, [t.id]);
    for (const replica of [0, 1]) {
      await expectEventually(() => expect(check(replica)).toMatchObject({ status: 'not_viable', refused: [{ externalId: 'A', refusedBecause: 'full' }, { externalId: 'B' }] }));
      expect(indexes(replica).get(t.id)).toBe(held[replica]);
    }
    // B deployed and A freed in one statement (two boxes, one version): patched too.
    await ds.query(`UPDATE viability.boxes SET status = CASE external_id WHEN 'B' THEN 'deployed' ELSE status END,
      ports_in_use = CASE external_id WHEN 'A' THEN 2 ELSE ports_in_use END WHERE tenant_id = $1`, [t.id]);
    await expectEventually(() => expect(check(1)).toMatchObject({ status: 'viable', box: { externalId: 'A', freePorts: 6 }, alternatives: [{ externalId: 'B', freePorts: 16 }] }));
    expect(indexes(1).get(t.id)).toBe(held[1]);
    // The patched copy answers what PostgreSQL answers.
    const fromSql = answer({ mode: 'radius', maxDropMeters: 150 }, await viability(1).nearBySql(ds.manager, t.id, HOME.lat, HOME.lng, { mode: 'radius', maxDropMeters: 150 }), HOME);
    expect(comparable(check(1))).toEqual(comparable(fromSql));

    // The same through an import on replica 0: right after it, replica 0 holds its copy back (its own
    // change must show at once: checks ask PostgreSQL), then serves it again, patched, the same copy.
    await call(0, 'POST', '/inventory/import?kind=boxes', t.key, [header, boxRow('A', a, 'deployed', 8, 8)].join('\n'), 'text/csv');
    expect(indexes(0).get(t.id)).toBeUndefined();
    expect((await call<CheckResult>(0, 'POST', '/viability', t.key, HOME)).body).toMatchObject({ status: 'viable', box: { externalId: 'B' } });
    await expectEventually(() => expect(indexes(0).get(t.id)).toBe(held[0]));
    expect(check(0)).toMatchObject({ status: 'viable', box: { externalId: 'B' }, refused: [{ externalId: 'A', refusedBecause: 'full' }] });
    expect(indexes(1).get(t.id)).toBe(held[1]);

    // A box moved is not a patch: the copy is read again (a new copy, with A where it now stands).
    const moved = await at(20, 200);
    await ds.query(`UPDATE viability.boxes SET location = ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography, ports_in_use = 2 WHERE tenant_id = $1 AND external_id = 'A'`, [t.id, moved.lng, moved.lat]);
    await expectEventually(() => {
      const index = indexes(1).get(t.id);
      expect(index).toBeDefined();
      expect(index).not.toBe(held[1]);
      expect(check(1)).toMatchObject({ box: { externalId: 'A' } });
      expect(check(1).box!.distanceMeters).toBeCloseTo(20, 0);
    }, { timeoutMs: 10_000 });

    // Seventy boxes imported again as they are (a sync writes every box it sees): nothing for the index
    // to change, so the copy stays, at the new version.
    const many = await Promise.all(Array.from({ length: 70 }, (_, i) => at(100 + i, i * 5)));
    const csv = [header, ...many.map((p, i) => boxRow(`M${i}`, p, 'deployed', 4, 4))].join('\n');
    await call(0, 'POST', '/inventory/import?kind=boxes', t.key, csv, 'text/csv');
    await indexes(1).ready(t.id);
    const before = indexes(1).get(t.id)!;
    const version = before.version;
    await call(0, 'POST', '/inventory/import?kind=boxes', t.key, csv, 'text/csv');
    await expectEventually(() => expect(before.version).toBeGreaterThan(version));
    expect(indexes(1).get(t.id)).toBe(before);
    expect(comparable(check(1))).toEqual(comparable(answer({ mode: 'radius', maxDropMeters: 150 }, await viability(1).nearBySql(ds.manager, t.id, HOME.lat, HOME.lng, { mode: 'radius', maxDropMeters: 150 }), HOME)));

    // Their ports changed, more boxes than a notification carries: read again.
    await ds.query(`UPDATE viability.boxes SET ports_in_use = 0 WHERE tenant_id = $1 AND external_id LIKE 'M%'`, [t.id]);
    await expectEventually(() => {
      const index = indexes(1).get(t.id);
      expect(index).toBeDefined();
      expect(index).not.toBe(before);
    }, { timeoutMs: 10_000 });
  });

  it("a version poll that reads a change before its notification is read keeps the copy unserved for the notification to patch", async () => {
    const t = await tenant();
    const near = await at(40, 30);
    await call(0, 'POST', '/inventory/import?kind=boxes', t.key, [header, boxRow('A', near, 'deployed', 8, 7)].join('\n'), 'text/csv');
    await indexes(1).ready(t.id);
    const held = indexes(1).get(t.id)!;
    expect(held).toBeDefined();
    // Replica 1 reads nothing from its LISTEN connection for a while (a busy process, a slow link): the notification
    // of the change waits there while the version poll, every second, reads the new version.
    const internals = indexes(1) as unknown as { listener: { client?: { connection: { stream: Socket } } } };
    const stream = internals.listener.client!.connection.stream;
    stream.pause();
    try {
      await ds.query(`UPDATE viability.boxes SET ports_in_use = 8 WHERE tenant_id = $1 AND external_id = 'A'`, [t.id]);
      // Behind a version it knows of: never served (checks ask PostgreSQL).
      await expectEventually(() => expect(indexes(1).get(t.id)).toBeUndefined());
    } finally {
      stream.resume();
    }
    // The notification patches the copy kept, which is served again: not a new one read from the database.
    await expectEventually(() => expect(indexes(1).get(t.id)).toBe(held));
    expect(answer({ mode: 'radius', maxDropMeters: 150 }, held.near(HOME.lat, HOME.lng, 150, false)!, HOME)).toMatchObject({
      status: 'not_viable', refused: [{ externalId: 'A', refusedBecause: 'full' }],
    });
  });

  it("the settings a check reads reach the other replica without waiting for its cache to expire", async () => {
    const t = await tenant();
    const heard: Array<string | undefined> = [];
    indexes(1).onSettingsChanged((tenantId) => heard.push(tenantId));
    expect((await call<{ maxDropMeters: number }>(1, 'POST', '/viability', t.key, HOME)).body.maxDropMeters).toBe(150);
    await call(0, 'PUT', '/settings', t.key, { maxDropMeters: 80 });
    // Replica 1 keeps settings for 5 s without a notification: once it has heard of the change (its own listener runs
    // first), its next check reads the new ones. (A poll with a deadline under the 5 s could miss it on a slow machine.)
    await expectEventually(() => expect(heard).toContain(t.id));
    expect((await call<{ maxDropMeters: number }>(1, 'POST', '/viability', t.key, HOME)).body.maxDropMeters).toBe(80);
  });

  // Last: it empties the tables of every tenant in this database.
  it('a TRUNCATE of the boxes or the poles (an operator in psql) reaches every replica too: no copy keeps answering with what is gone', async () => {
    const t = await tenant();
    const near = await at(40, 30);
    await call(0, 'POST', '/inventory/import?kind=boxes', t.key, [header, boxRow('T', near, 'deployed', 8, 0)].join('\n'), 'text/csv');
    await call(0, 'POST', '/inventory/import?kind=poles', t.key, `external_id,name,lat,lng\nP-T,Poste T,${near.lat},${near.lng}`, 'text/csv');
    const onReplica1 = (withPoles: boolean) => indexes(1).get(t.id)?.near(HOME.lat, HOME.lng, 150, withPoles);
    await indexes(1).ready(t.id);
    expect(onReplica1(false)?.inRange).toMatchObject([{ externalId: 'T' }]);
    await ds.query('TRUNCATE viability.boxes');
    // A copy that missed it would keep answering: the version poll confirms it every second while its version stays.
    await expectEventually(() => expect(onReplica1(false)?.inRange ?? []).toEqual([]));
    await indexes(1).ready(t.id);
    expect(onReplica1(true)?.poles).toMatchObject([{ externalId: 'P-T' }]);
    await ds.query('TRUNCATE viability.poles');
    await expectEventually(() => expect(onReplica1(true)?.poles ?? []).toEqual([]));
  });
});
