import type { INestApplication } from '@nestjs/common';
import { BusConnection, BusProbe } from '@elo/messaging';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../src/app.module';
import { InventoryIndexes } from '../src/check/inventory-indexes.service';
import { answer, ViabilityService, type CheckResult } from '../src/check/viability.service';
import { ViabilityConfig } from '../src/config/viability.config';
import { projectPoint } from './project-point';

const ADMIN = 'e'.repeat(40);
const HOME = { lat: -23.5505, lng: -46.6333 };

describe('viability: edges of the check', () => {
  let infra: TestInfra;
  let app: INestApplication;
  let url: string;
  let ds: DataSource;
  let probe: BusProbe;

  beforeAll(async () => {
    infra = await createTestInfra('viability-edges');
    const config = loadConfig(ViabilityConfig, {
      DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN,
      ELO_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 4).toString('base64')}`, ELO_ENCRYPTION_ACTIVE_KEY: 'k1', LOG_LEVEL: 'warn',
    });
    app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'viability', config });
    await app.listen(0, '127.0.0.1');
    await app.get(BusConnection).waitReady(15_000);
    url = await app.getUrl();
    ds = app.get(DataSource);
    probe = await BusProbe.connect(infra.amqpUrl, ['viability.checked']);
  });

  afterAll(async () => {
    await probe?.close();
    await app?.close();
    await infra?.cleanup();
  });

  const call = async <T = Record<string, unknown>>(method: string, path: string, key: string, body: unknown, type = 'application/json') => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': type },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as T };
  };

  /** A tenant and a key that checks and manages its inventory. */
  async function tenantWithKey(): Promise<{ t: { id: string }; key: string }> {
    const t = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: 'isp' })).body;
    return { t, key: (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'k', permissions: ['viability:check', 'viability:manage'] })).body.key };
  }

  async function tenant(): Promise<string> {
    return (await tenantWithKey()).key;
  }

  /** A tenant that checks by pole. */
  async function poleTenant(): Promise<{ t: { id: string }; key: string }> {
    const r = await tenantWithKey();
    expect((await call('PUT', '/settings', r.key, { mode: 'pole' })).status).toBe(200);
    return r;
  }

  /** A pole-mode check at HOME (150 m drop distance) by the statement and by the in-process index. */
  async function poleAnswers(tenantId: string): Promise<{ fromSql: CheckResult; fromIndex: CheckResult }> {
    const s = { mode: 'pole' as const, maxDropMeters: 150 };
    const fromSql = answer(s, await app.get(ViabilityService).nearBySql(ds.manager, tenantId, HOME.lat, HOME.lng, s), HOME);
    await app.get(InventoryIndexes).ready(tenantId);
    const fromIndex = answer(s, app.get(InventoryIndexes).get(tenantId)!.near(HOME.lat, HOME.lng, 150, true)!, HOME);
    return { fromSql, fromIndex };
  }

  const at = (meters: number, azimuthDeg: number, from = HOME) => projectPoint(ds, from, meters, azimuthDeg);

  const boxRow = (id: string, p: { lat: number; lng: number }, status: string, used: number, pole = '') => `${id},${id},${p.lat},${p.lng},${status},8,${used},${pole}`;
  const BOX_HEADER = 'external_id,name,lat,lng,status,port_capacity,ports_in_use,pole_external_id';

  it('radius mode: an eligible box behind a dense cluster of refused ones is still found', async () => {
    const key = await tenant();
    const rows = [BOX_HEADER];
    for (let i = 0; i < 60; i++) rows.push(boxRow(`PROJ-${i}`, await at(5 + i, (i * 37) % 360), 'in_project', 0));
    rows.push(boxRow('FAR-OK', await at(120, 200), 'deployed', 3));
    expect((await call('POST', '/inventory/import?kind=boxes', key, rows.join('\n'), 'text/csv')).body).toMatchObject({ inserted: 61 });
    const r = await call<{ status: string; box: { externalId: string }; refused: unknown[] }>('POST', '/viability', key, HOME);
    expect(r.body).toMatchObject({ status: 'viable', box: { externalId: 'FAR-OK' } });
    expect(r.body.refused).toHaveLength(50);
  });

  it('pole mode: not_viable when the poles near have only full or unbuilt boxes, not_found when nothing is near', async () => {
    const key = await tenant();
    expect((await call('PUT', '/settings', key, { mode: 'pole' })).status).toBe(200);
    const pole = await at(30, 0);
    await call('POST', '/inventory/import?kind=poles', key, `external_id,name,lat,lng\nP-1,Poste 1,${pole.lat},${pole.lng}`, 'text/csv');
    await call('POST', '/inventory/import?kind=boxes', key, [
      BOX_HEADER,
      boxRow('FULL', await at(20, 90, pole), 'certified', 8, 'P-1'),
      boxRow('NOTDEP', await at(25, 270, pole), 'not_deployed', 0, 'P-1'),
    ].join('\n'), 'text/csv');
    const r = await call<{ status: string; mode: string; refused: Array<{ externalId: string; refusedBecause: string }> }>('POST', '/viability', key, HOME);
    expect(r.body).toMatchObject({ status: 'not_viable', mode: 'pole' });
    expect(r.body.refused.map((b) => [b.externalId, b.refusedBecause]).sort()).toEqual([['FULL', 'full'], ['NOTDEP', 'not_deployed']]);
    const far = await at(3_000, 45);
    expect((await call<{ status: string }>('POST', '/viability', key, far)).body.status).toBe('not_found');
  });

  it('pole mode, not_viable: an eligible box in range that no usable pole reaches is still listed among the other eligible boxes (statement and index alike)', async () => {
    const { t, key } = await poleTenant();
    // The only pole near has a full box; a deployed box with free ports stands 130 m south of the customer,
    // 160 m from the pole: in the customer's range, out of the pole's.
    const pole = await at(30, 0);
    await call('POST', '/inventory/import?kind=poles', key, `external_id,name,lat,lng\nP-1,Poste 1,${pole.lat},${pole.lng}`, 'text/csv');
    await call('POST', '/inventory/import?kind=boxes', key, [
      BOX_HEADER,
      boxRow('FULL', await at(20, 90, pole), 'deployed', 8, 'P-1'),
      boxRow('FREE', await at(130, 180), 'deployed', 2),
    ].join('\n'), 'text/csv');
    const { fromSql, fromIndex } = await poleAnswers(t.id);
    for (const r of [fromSql, fromIndex]) {
      expect(r).toMatchObject({ status: 'not_viable', refused: [{ externalId: 'FULL', refusedBecause: 'full' }] });
      expect(r.alternatives.map((b) => [b.externalId, b.freePorts])).toEqual([['FREE', 6]]);
    }
    const http = await call<{ status: string; alternatives: Array<{ externalId: string }> }>('POST', '/viability', key, HOME);
    expect(http.body).toMatchObject({ status: 'not_viable', alternatives: [{ externalId: 'FREE' }] });
  });

  it('pole mode: when the 10 nearest poles have no eligible box, the nearest pole behind them within reach that has one answers (statement and index alike)', async () => {
    const { t, key } = await poleTenant();
    // Ten poles 10 to 55 m north of the customer, with only a full box among them; behind them one 60 m
    // north (no eligible box in its reach either: passed over) and one 120 m south, with an eligible box
    // 130 m farther south (out of every northern pole's reach).
    const poles = [];
    for (let i = 0; i < 11; i++) poles.push({ id: `N-${i}`, ...(await at(10 + 5 * i, 0)) });
    const south = { id: 'S-11', ...(await at(120, 180)) };
    poles.push(south);
    await call('POST', '/inventory/import?kind=poles', key, ['external_id,name,lat,lng', ...poles.map((p) => `${p.id},${p.id},${p.lat},${p.lng}`)].join('\n'), 'text/csv');
    await call('POST', '/inventory/import?kind=boxes', key, [
      BOX_HEADER,
      boxRow('FULL', await at(30, 90), 'deployed', 8, 'N-0'),
      boxRow('FAR-OK', await at(130, 180, south), 'certified', 2, 'S-11'),
    ].join('\n'), 'text/csv');
    const { fromSql, fromIndex } = await poleAnswers(t.id);
    for (const r of [fromSql, fromIndex]) {
      expect(r).toMatchObject({ status: 'viable', pole: { externalId: 'S-11' }, box: { externalId: 'FAR-OK' } });
      // The box's distance is the customer's (120 + 130 m south), the drop its pole's.
      expect(r.box!.distanceMeters).toBeCloseTo(250, 0);
      expect(r.box!.dropMeters).toBeCloseTo(130, 0);
    }
    expect(fromIndex).toEqual(fromSql);
    expect((await call('POST', '/viability', key, HOME)).body).toMatchObject({ status: 'viable', pole: { externalId: 'S-11' }, box: { externalId: 'FAR-OK' } });
    // Beyond the drop distance, the eleventh pole is not looked at: not_viable.
    await call('PUT', '/settings', key, { maxDropMeters: 100 });
    expect((await call('POST', '/viability', key, HOME)).body).toMatchObject({ status: 'not_viable' });
  });

  it('pole mode: the box chosen is the eligible one nearest the pole, not the one nearest the customer, which is listed beside it (statement and index alike)', async () => {
    const { t, key } = await poleTenant();
    // One pole 60 m north; on it a box 20 m farther north (80 m from the customer) and one 50 m back
    // south (10 m from the customer): the drop is run from the pole, so the first.
    const pole = await at(60, 0);
    await call('POST', '/inventory/import?kind=poles', key, `external_id,name,lat,lng\nP-1,Poste 1,${pole.lat},${pole.lng}`, 'text/csv');
    await call('POST', '/inventory/import?kind=boxes', key, [
      BOX_HEADER,
      boxRow('BY-POLE', await at(20, 0, pole), 'deployed', 1, 'P-1'),
      boxRow('BY-HOME', await at(50, 180, pole), 'certified', 1, 'P-1'),
    ].join('\n'), 'text/csv');
    const { fromSql, fromIndex } = await poleAnswers(t.id);
    for (const r of [fromSql, fromIndex]) {
      expect(r).toMatchObject({ status: 'viable', pole: { externalId: 'P-1' }, box: { externalId: 'BY-POLE', freePorts: 7 } });
      expect(r.box!.dropMeters).toBeCloseTo(20, 0);
      expect(r.box!.distanceMeters).toBeCloseTo(80, 0);
      expect(r.alternatives.map((b) => b.externalId)).toEqual(['BY-HOME']);
    }
    expect(fromIndex).toEqual(fromSql);
    expect((await call('POST', '/viability', key, HOME)).body).toMatchObject({ status: 'viable', box: { externalId: 'BY-POLE' }, alternatives: [{ externalId: 'BY-HOME' }] });
  });

  it('pole mode, the drop-distance edge: a box exactly the drop distance from its pole is in, a centimetre beyond is out (statement and index alike)', async () => {
    const pole = await at(30, 0);
    const answers = async (dropM: number) => {
      const { t, key } = await poleTenant();
      await call('POST', '/inventory/import?kind=poles', key, `external_id,name,lat,lng\nP-1,Poste 1,${pole.lat},${pole.lng}`, 'text/csv');
      await call('POST', '/inventory/import?kind=boxes', key, [BOX_HEADER, boxRow('EDGE', await at(dropM, 90, pole), 'deployed', 1, 'P-1')].join('\n'), 'text/csv');
      const { fromSql, fromIndex } = await poleAnswers(t.id);
      expect(fromIndex).toEqual(fromSql);
      return { fromSql, http: (await call<Record<string, unknown>>('POST', '/viability', key, HOME)).body };
    };
    const edge = await answers(150);
    expect(edge.http).toMatchObject({ status: 'viable', pole: { externalId: 'P-1', boxDistanceMeters: 150 }, box: { externalId: 'EDGE', dropMeters: 150 } });
    expect(edge.fromSql).toMatchObject({ status: 'viable', box: { dropMeters: 150 } });
    const beyond = await answers(150.01);
    expect(beyond.http).toMatchObject({ status: 'not_viable' });
    expect(beyond.fromSql.status).toBe('not_viable');
  });

  it('boxes (and poles) at the same point: the same one is chosen, and listed in the same order, by the statement and the index (by external id)', async () => {
    const t = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: 'isp' })).body;
    const key = (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'k', permissions: ['viability:check', 'viability:manage'] })).body.key;
    // A splitter cabinet: several boxes documented at one spot, and two poles on one spot, written in
    // reverse order of their external ids (the order the table holds them in is not the ids').
    const spot = await at(40, 60);
    const poleSpot = await at(20, 300);
    const ids = Array.from({ length: 8 }, (_, i) => `TIE-${String.fromCharCode(72 - i)}`); // TIE-H … TIE-A
    await call('POST', '/inventory/import?kind=poles', key, ['external_id,name,lat,lng', ...['PT-2', 'PT-1'].map((p) => `${p},${p},${poleSpot.lat},${poleSpot.lng}`)].join('\n'), 'text/csv');
    for (const id of ids) await call('POST', '/inventory/import?kind=boxes', key, [BOX_HEADER, boxRow(id, spot, 'deployed', 1, 'PT-1')].join('\n'), 'text/csv');
    await app.get(InventoryIndexes).ready(t.id);
    for (const mode of ['radius', 'pole'] as const) {
      const s = { mode, maxDropMeters: 150 };
      const fromSql = answer(s, await app.get(ViabilityService).nearBySql(ds.manager, t.id, HOME.lat, HOME.lng, s), HOME);
      const fromIndex = answer(s, app.get(InventoryIndexes).get(t.id)!.near(HOME.lat, HOME.lng, 150, mode === 'pole')!, HOME);
      expect(fromSql).toMatchObject({ status: 'viable', box: { externalId: 'TIE-A' } });
      expect(fromIndex).toEqual(fromSql);
      if (mode === 'pole') expect(fromSql.pole).toMatchObject({ externalId: 'PT-1' });
    }
  });

  it('records each check: the outcome, the chosen box, the other boxes in range by id and the refused ones with the reason', async () => {
    const key = await tenant();
    await call('POST', '/inventory/import?kind=boxes', key, [
      BOX_HEADER,
      boxRow('NEAR', await at(10, 0), 'deployed', 2),
      boxRow('NEXT', await at(40, 90), 'certified', 0),
      boxRow('FULL', await at(20, 180), 'deployed', 8),
      boxRow('PROJ', await at(60, 270), 'in_project', 0),
    ].join('\n'), 'text/csv');
    const r = await call<{ checkId: string; box: { id: string }; alternatives: Array<{ id: string }>; refused: Array<{ id: string; refusedBecause: string }> }>('POST', '/viability', key, HOME);
    expect(r.status).toBe(200);
    const [row] = await ds.query('SELECT via, lat, lng, status, box_id, result FROM viability.checks WHERE id = $1', [r.body.checkId]);
    expect(row).toMatchObject({ via: 'coordinates', lat: HOME.lat, lng: HOME.lng, status: 'viable', box_id: r.body.box.id });
    expect(row.result).toEqual({
      status: 'viable',
      mode: 'radius',
      maxDropMeters: 150,
      box: expect.objectContaining({ id: r.body.box.id, externalId: 'NEAR', freePorts: 6 }),
      alternatives: r.body.alternatives.map((b) => b.id),
      refused: r.body.refused.map((b) => ({ id: b.id, refusedBecause: b.refusedBecause })),
    });
    expect(row.result.alternatives).toHaveLength(1);
    expect(row.result.refused.map((b: { refusedBecause: string }) => b.refusedBecause)).toEqual(['full', 'in_project']);
  });

  it('concurrent checks share their record writes, and each check still has its own row and viability.checked event', async () => {
    const key = await tenant();
    await call('POST', '/inventory/import?kind=boxes', key, [BOX_HEADER, boxRow('NEAR', await at(10, 0), 'deployed', 2), boxRow('FULL', await at(20, 180), 'deployed', 8)].join('\n'), 'text/csv');
    const points = await Promise.all(Array.from({ length: 40 }, (_, i) => at(i % 2 ? 5 : 3_000, i * 9)));
    const answers = await Promise.all(points.map((p) => call<{ checkId: string; status: string; box?: { id: string } }>('POST', '/viability', key, p)));
    expect(answers.map((a) => a.status)).toEqual(points.map(() => 200));
    const ids = answers.map((a) => a.body.checkId);
    expect(new Set(ids).size).toBe(40);
    const rows: Array<{ id: string; lat: number; status: string; box_id: string | null }> = await ds.query(
      'SELECT id, lat, status, box_id FROM viability.checks WHERE id = ANY($1)', [ids],
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    answers.forEach((a, i) => {
      expect(byId.get(a.body.checkId)).toEqual({ id: a.body.checkId, lat: points[i]!.lat, status: a.body.status, box_id: a.body.box?.id ?? null });
    });
    expect(answers.map((a) => a.body.status)).toEqual(points.map((_, i) => (i % 2 ? 'viable' : 'not_found')));
    // One viability.checked per check, about the check, with its outcome, as published on the bus.
    const bySubject = (a: { subject: string }, b: { subject: string }) => a.subject.localeCompare(b.subject);
    await expectEventually(() =>
      expect(
        probe
          .ofType<{ status: string }>('viability.checked')
          .filter((e) => ids.includes(e.subject ?? ''))
          .map((e) => ({ subject: e.subject ?? '', status: e.data.status }))
          .sort(bySubject),
      ).toEqual(answers.map((a) => ({ subject: a.body.checkId, status: a.body.status })).sort(bySubject)),
    );
    // Grouped: fewer transactions than checks wrote them.
    const [{ n }] = await ds.query(`SELECT count(DISTINCT xmin::text)::int AS n FROM viability.checks WHERE id = ANY($1)`, [ids]);
    expect(n).toBeLessThan(40);
  });

  it('checks asked at the same time by different tenants are read together, each from its own inventory and settings', async () => {
    const [wide, narrow, empty] = [await tenant(), await tenant(), await tenant()];
    const HOME_100M = await at(100, 30);
    const boxes = (id: string) => [BOX_HEADER, boxRow(id, HOME_100M, 'deployed', 1)].join('\n');
    await call('POST', '/inventory/import?kind=boxes', wide, boxes('WIDE'), 'text/csv');
    await call('POST', '/inventory/import?kind=boxes', narrow, boxes('NARROW'), 'text/csv');
    expect((await call('PUT', '/settings', narrow, { maxDropMeters: 60 })).status).toBe(200);
    const keys = Array.from({ length: 30 }, (_, i) => [wide, narrow, empty][i % 3]!);
    const answers = await Promise.all(keys.map((k) => call<{ status: string; box?: { externalId: string } }>('POST', '/viability', k, HOME)));
    expect(answers.map((a) => [a.body.status, a.body.box?.externalId])).toEqual(
      keys.map((_, i) => [['viable', 'WIDE'], ['not_found', undefined], ['not_found', undefined]][i % 3]),
    );
  });

  it('FindME without a public URL configured is refused plainly', async () => {
    const key = await tenant();
    const r = await call<{ detail: string }>('POST', '/findme', key, { phone: '+5511987654321' });
    expect(r.status).toBe(422);
    expect(r.body.detail).toMatch(/FINDME_PUBLIC_URL/);
  });
});
