import type { INestApplication } from '@nestjs/common';
import { createEvent } from '@elo/contracts';
import { BusConnection, BusProbe } from '@elo/messaging';
import { buildServiceApp, loadConfig, RetentionSweeper, SERVICE_CONFIG } from '@elo/platform';
import { HttpEgress } from '@elo/http-egress';
import { createTestInfra, expectEventually, expectRetained, type TestInfra } from '@elo/testing';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../src/app.module';
import { ViabilityService, type CheckResult } from '../src/check/viability.service';
import { ViabilityConfig } from '../src/config/viability.config';
import { GeocoderService } from '../src/geocoder/geocoder.service';
import { projectPoint } from './project-point';

const ADMIN = 'v'.repeat(40);
const HOME = { lat: -25.4284, lng: -49.2733 }; // the customer

describe('viability: the check, the inventory and the chat path', () => {
  let infra: TestInfra;
  let app: INestApplication;
  let url: string;
  let probe: BusProbe;
  let ds: DataSource;
  let geocoder: Server;
  const geocoderCalls: Array<{ q: string; at: number; path: string; format: string | null }> = [];
  /** What the fake Nominatim answers, by query. */
  const places: Record<string, Array<{ lat: string; lon: string; display_name: string }>> = {};

  beforeAll(async () => {
    infra = await createTestInfra('viability');
    geocoder = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      const q = u.searchParams.get('q') ?? '';
      geocoderCalls.push({ q, at: Date.now(), path: u.pathname, format: u.searchParams.get('format') });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(places[q] ?? []));
    });
    await new Promise<void>((r) => geocoder.listen(0, '127.0.0.1', r));
    const config = loadConfig(ViabilityConfig, {
      DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN,
      ELO_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 5).toString('base64')}`, ELO_ENCRYPTION_ACTIVE_KEY: 'k1', LOG_LEVEL: 'warn',
      GEOCODER_BASE_URL: `http://127.0.0.1:${(geocoder.address() as { port: number }).port}`, GEOCODER_MIN_INTERVAL_MS: '300',
      EGRESS_ALLOW_PRIVATE: '127.0.0.1/32', BODY_LIMIT_BYTES: String(64 * 1024),
    });
    app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'viability', config });
    await app.listen(0, '127.0.0.1');
    await app.get(BusConnection).waitReady(15_000);
    url = await app.getUrl();
    ds = app.get(DataSource);
    probe = await BusProbe.connect(infra.amqpUrl, ['viability.checked', 'chat.message.send.requested']);
  });

  afterAll(async () => {
    await probe?.close();
    await app?.close();
    await new Promise((r) => geocoder?.close(r));
    await infra?.cleanup();
  });

  const call = async <T = Record<string, unknown>>(method: string, path: string, key: string, body?: unknown, type = 'application/json') => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': type } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as T };
  };

  async function tenant(): Promise<{ id: string; key: string }> {
    const t = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: 'isp' })).body;
    const k = (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'k', permissions: ['viability:check', 'viability:manage'] })).body;
    return { id: t.id, key: k.key };
  }

  const at = (meters: number, azimuthDeg: number, from = HOME) => projectPoint(ds, from, meters, azimuthDeg);

  const csv = (rows: string[][]) => rows.map((r) => r.join(',')).join('\n');

  it('imports CSV boxes (upsert by external id), reporting bad rows by line', async () => {
    const t = await tenant();
    const a = await at(100, 0);
    const body = csv([
      ['external_id', 'name', 'lat', 'lng', 'status', 'port_capacity', 'ports_in_use'],
      ['CTO-1', 'CTO 1', String(a.lat), String(a.lng), 'deployed', '16', '3'],
      ['CTO-2', 'CTO 2', '95', '-49', 'deployed', '8', '0'],
      ['CTO-3', 'CTO 3', String(a.lat), String(a.lng), 'flying', '8', '0'],
      ['CTO-4', 'CTO 4', String(a.lat), String(a.lng), 'certified', '8', '9'],
    ]);
    const first = await call('POST', '/inventory/import?kind=boxes', t.key, body, 'text/csv');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ inserted: 1, updated: 0 });
    expect(first.body.errors).toEqual([
      { line: 3, reason: expect.stringMatching(/lat/) },
      { line: 4, reason: expect.stringMatching(/status/) },
      { line: 5, reason: expect.stringMatching(/ports_in_use/) },
    ]);
    const again = await call('POST', '/inventory/import?kind=boxes', t.key, csv([
      ['external_id', 'name', 'lat', 'lng', 'status', 'port_capacity', 'ports_in_use'],
      ['CTO-1', 'CTO 1 renamed', String(a.lat), String(a.lng), 'deployed', '16', '4'],
    ]), 'text/csv');
    expect(again.body).toMatchObject({ inserted: 0, updated: 1, errors: [] });
    // The update took: one row, with the new name and ports.
    const mine = () => ds.query('SELECT external_id, name, ports_in_use FROM viability.boxes WHERE tenant_id = $1', [t.id]);
    expect(await mine()).toEqual([{ external_id: 'CTO-1', name: 'CTO 1 renamed', ports_in_use: 4 }]);
    // The external id is the tenant's own: another tenant's CTO-1 is a box of its own, and leaves this one alone.
    const other = await tenant();
    expect((await call('POST', '/inventory/import?kind=boxes', other.key, csv([
      ['external_id', 'name', 'lat', 'lng', 'status', 'port_capacity', 'ports_in_use'],
      ['CTO-1', 'CTO de outro provedor', String(a.lat), String(a.lng), 'deployed', '8', '8'],
    ]), 'text/csv')).body).toMatchObject({ inserted: 1, updated: 0 });
    expect(await mine()).toEqual([{ external_id: 'CTO-1', name: 'CTO 1 renamed', ports_in_use: 4 }]);
    expect((await call('POST', '/inventory/import?kind=boxes', t.key, 'x', 'application/xml')).status).toBe(415);
  });

  it('keeps poles and boxes as geography(Point) with GiST indexes on their location', async () => {
    for (const table of ['poles', 'boxes']) {
      const [col] = await ds.query(
        `SELECT format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
          WHERE a.attrelid = ('viability.' || $1)::regclass AND a.attname = 'location' AND NOT a.attisdropped`,
        [table],
      );
      expect({ table, type: col?.type }).toEqual({ table, type: 'geography(Point,4326)' });
      // An index on the location column alone, by GiST: what the KNN (<->) and ST_DWithin of the check use.
      const gist: Array<{ name: string }> = await ds.query(
        `SELECT i.relname AS name FROM pg_index x
           JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am am ON am.oid = i.relam
           JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
          WHERE x.indrelid = ('viability.' || $1)::regclass AND am.amname = 'gist' AND a.attname = 'location' AND x.indnatts = 1`,
        [table],
      );
      expect({ table, gist: gist.length }).toEqual({ table, gist: 1 });
    }
  });

  it('radius mode: viable, not_viable with the refusals, not_found, and the drop-distance edge', async () => {
    const t = await tenant();
    const [near, full, project] = await Promise.all([at(60, 90), at(40, 180), at(30, 270)]);
    const fc = {
      type: 'FeatureCollection',
      features: [
        { type: 'Feature', geometry: { type: 'Point', coordinates: [full.lng, full.lat] }, properties: { external_id: 'FULL', name: 'Full', status: 'deployed', port_capacity: 8, ports_in_use: 8 } },
        { type: 'Feature', geometry: { type: 'Point', coordinates: [project.lng, project.lat] }, properties: { external_id: 'PROJ', name: 'Proj', status: 'in_project', port_capacity: 8, ports_in_use: 0 } },
      ],
    };
    expect((await call('POST', '/inventory/import?kind=boxes', t.key, fc, 'application/geo+json')).body).toMatchObject({ inserted: 2 });
    const notViable = await call<{ status: string; refused: Array<{ externalId: string; refusedBecause: string }> }>('POST', '/viability', t.key, HOME);
    expect(notViable.status).toBe(200);
    expect(notViable.body.status).toBe('not_viable');
    expect(notViable.body.refused.map((r) => [r.externalId, r.refusedBecause]).sort()).toEqual([['FULL', 'full'], ['PROJ', 'in_project']]);

    await call('POST', '/inventory/import?kind=boxes', t.key, { type: 'FeatureCollection', features: [
      { type: 'Feature', geometry: { type: 'Point', coordinates: [near.lng, near.lat] }, properties: { external_id: 'NEAR', name: 'Near', status: 'certified', port_capacity: 8, ports_in_use: 2 } },
    ] }, 'application/json');
    const viable = await call<{ status: string; box: { externalId: string; distanceMeters: number; freePorts: number; lat: number; lng: number }; refused: Array<{ externalId: string; lat: number; lng: number }> }>('POST', '/viability', t.key, HOME);
    expect(viable.body.status).toBe('viable');
    expect(viable.body.box).toMatchObject({ externalId: 'NEAR', freePorts: 6 });
    expect(viable.body.box.distanceMeters).toBeCloseTo(60, 0);
    // Every box listed says where it stands (the console maps them around the point).
    expect(viable.body.box.lat).toBeCloseTo(near.lat, 6);
    expect(viable.body.box.lng).toBeCloseTo(near.lng, 6);
    expect(viable.body.refused.find((b) => b.externalId === 'FULL')).toMatchObject({ lat: expect.closeTo(full.lat, 6), lng: expect.closeTo(full.lng, 6) });

    // Edge: only boxes at 149 m (in) and 151 m (out), seen from a point with nothing else near.
    const far = await at(5_000, 0);
    const [in149, out151] = await Promise.all([at(149, 0, far), at(151, 90, far)]);
    await call('POST', '/inventory/import?kind=boxes', t.key, { type: 'FeatureCollection', features: [
      { type: 'Feature', geometry: { type: 'Point', coordinates: [out151.lng, out151.lat] }, properties: { external_id: 'OUT', name: 'Out', status: 'deployed', port_capacity: 8, ports_in_use: 0 } },
    ] });
    expect((await call<{ status: string }>('POST', '/viability', t.key, far)).body.status).toBe('not_found');
    await call('POST', '/inventory/import?kind=boxes', t.key, { type: 'FeatureCollection', features: [
      { type: 'Feature', geometry: { type: 'Point', coordinates: [in149.lng, in149.lat] }, properties: { external_id: 'IN', name: 'In', status: 'deployed', port_capacity: 8, ports_in_use: 0 } },
    ] });
    const edge = await call<{ status: string; box: { externalId: string } }>('POST', '/viability', t.key, far);
    expect(edge.body).toMatchObject({ status: 'viable', box: { externalId: 'IN' } });

    // Every check is published.
    await expectEventually(() => expect(probe.ofType('viability.checked').filter((e) => e.tenantid === t.id).length).toBeGreaterThanOrEqual(4));
    // Another tenant sees none of this network.
    const other = await tenant();
    expect((await call<{ status: string }>('POST', '/viability', other.key, HOME)).body.status).toBe('not_found');
    expect((await call('POST', '/viability', t.key, { lat: 91, lng: 0 })).status).toBe(400);
  });

  it('pole mode: the nearest usable pole, then the nearest eligible box to it', async () => {
    const t = await tenant();
    await call('PUT', '/settings', t.key, { mode: 'pole', maxDropMeters: 100 });
    const [poleA, poleB] = await Promise.all([at(20, 0), at(80, 180)]);
    // Pole A is nearer but has only a full box; pole B has an eligible one.
    const [boxA, boxB] = await Promise.all([at(30, 90, poleA), at(50, 90, poleB)]);
    await call('POST', '/inventory/import?kind=poles', t.key, csv([
      ['external_id', 'name', 'lat', 'lng'],
      ['P-A', 'Pole A', String(poleA.lat), String(poleA.lng)],
      ['P-B', 'Pole B', String(poleB.lat), String(poleB.lng)],
    ]), 'text/csv');
    await call('POST', '/inventory/import?kind=boxes', t.key, csv([
      ['external_id', 'name', 'lat', 'lng', 'status', 'port_capacity', 'ports_in_use', 'pole_external_id'],
      ['B-A', 'Box A', String(boxA.lat), String(boxA.lng), 'deployed', '8', '8', 'P-A'],
      ['B-B', 'Box B', String(boxB.lat), String(boxB.lng), 'deployed', '8', '1', 'P-B'],
    ]), 'text/csv');
    const r = await call<{ status: string; mode: string; pole: { externalId: string; distanceMeters: number; boxDistanceMeters: number }; box: { externalId: string; distanceMeters: number; dropMeters: number } }>('POST', '/viability', t.key, HOME);
    expect(r.body).toMatchObject({ status: 'viable', mode: 'pole', pole: { externalId: 'P-B' }, box: { externalId: 'B-B', lat: expect.closeTo(boxB.lat, 6), lng: expect.closeTo(boxB.lng, 6) } });
    expect(r.body.pole.distanceMeters).toBeCloseTo(80, 0);
    // The box's distance is the customer's (80 m south, then 50 m east: about 94 m); the drop from the pole is beside it.
    expect(r.body.box.distanceMeters).toBeCloseTo(Math.hypot(80, 50), -1);
    expect(r.body.box.dropMeters).toBeCloseTo(50, 0);
    expect(r.body.pole.boxDistanceMeters).toBeCloseTo(50, 0);
    // ...and the chat reply tells the customer that distance.
    const viability = app.get(ViabilityService);
    const reply = viability.reply(r.body as unknown as CheckResult, await viability.settings(ds.manager, t.id));
    expect(reply).toContain(`a ${Math.round(r.body.box.distanceMeters)} m`);
    expect(Math.round(r.body.box.distanceMeters)).not.toBe(Math.round(r.body.box.dropMeters));
  });

  it('answers a bot flow step and a location message on the chat, on the bus', async () => {
    const t = await tenant();
    const box = await at(50, 45);
    await call('POST', '/inventory/import?kind=boxes', t.key, csv([
      ['external_id', 'name', 'lat', 'lng', 'status', 'port_capacity', 'ports_in_use'],
      ['CTO-9', 'CTO Centro', String(box.lat), String(box.lng), 'deployed', '16', '0'],
    ]), 'text/csv');
    const requestId = randomUUID();
    const conversationId = randomUUID();
    await probe.publish(createEvent({ type: 'viability.requested', tenantId: t.id, source: 'elo://test', data: { requestId, conversationId, location: HOME } }));
    await expectEventually(() => {
      const e = probe.ofType<{ requestId: string; status: string; box: { name: string } }>('viability.checked').find((x) => x.data.requestId === requestId);
      expect(e?.data).toMatchObject({ status: 'viable', box: { name: 'CTO Centro' } });
    });

    // Chat location checks are off by default, then switched on.
    const channelId = randomUUID();
    const location = (id: string) => createEvent({
      type: 'chat.message.received', tenantId: t.id, source: 'elo://test',
      data: {
        channelId, provider: 'whatsapp', conversationId, providerMessageId: id, contact: { phone: '+5541988445566' },
        message: { kind: 'location', location: HOME }, providerTimestamp: new Date().toISOString(),
      },
    });
    const off = location('wamid.LOC1');
    await probe.publish(off);
    // Handled (the inbox has it) while checks are off: no reply.
    await expectEventually(async () =>
      expect(await ds.query('SELECT 1 FROM viability.inbox WHERE event_id = $1', [off.id])).toHaveLength(1),
    );
    await call('PUT', '/settings', t.key, { chatLocationChecks: true, replies: { viable: 'Atendemos você pela {box}!' } });
    await probe.publish(location('wamid.LOC2'));
    const reply = await expectEventually(() => {
      const r = probe.ofType<{ conversationId: string; message: { text: string } }>('chat.message.send.requested').filter((x) => x.data.conversationId === conversationId);
      expect(r).toHaveLength(1);
      return r[0]!;
    });
    expect(reply.data.message.text).toBe('Atendemos você pela CTO Centro!');
  });

  it('locates addresses through the geocoder: found, unknown, ambiguous, cached and spaced out', async () => {
    const t = await tenant();
    const box = await at(40, 10);
    await call('POST', '/inventory/import?kind=boxes', t.key, csv([
      ['external_id', 'name', 'lat', 'lng', 'status', 'port_capacity', 'ports_in_use'],
      ['CTO-G', 'CTO Flores', String(box.lat), String(box.lng), 'deployed', '8', '0'],
    ]), 'text/csv');
    const far = await at(5_000, 90);
    places['Rua das Flores 10'] = [{ lat: String(HOME.lat), lon: String(HOME.lng), display_name: 'Rua das Flores, 10, Curitiba' }];
    places['Rua Principal'] = [
      { lat: String(HOME.lat), lon: String(HOME.lng), display_name: 'Rua Principal, Curitiba' },
      { lat: String(far.lat), lon: String(far.lng), display_name: 'Rua Principal, São José dos Pinhais' },
    ];
    const asked = geocoderCalls.length;
    const found = await call<{ status: string; address: string; box: { name: string } }>('POST', '/viability', t.key, { address: 'Rua das Flores 10' });
    expect(found.status).toBe(200);
    // Asked as Nominatim is: its search endpoint, in its JSON format.
    expect(geocoderCalls.slice(asked)).toEqual([expect.objectContaining({ q: 'Rua das Flores 10', path: '/search', format: 'jsonv2' })]);
    expect(found.body).toMatchObject({ status: 'viable', address: 'Rua das Flores, 10, Curitiba', box: { name: 'CTO Flores' } });
    const unknown = await call<{ status: string; reason: string }>('POST', '/viability', t.key, { address: 'Lugar Nenhum 999' });
    expect(unknown.body).toMatchObject({ status: 'not_found', reason: expect.stringMatching(/not found/) });
    const ambiguous = await call<{ status: string; reason: string; candidates: string[] }>('POST', '/viability', t.key, { address: 'Rua Principal' });
    expect(ambiguous.body).toMatchObject({ status: 'not_found', reason: expect.stringMatching(/ambiguous/) });
    expect(ambiguous.body.candidates).toHaveLength(2);
    // Lookups asked at the same time wait their turn too (spaced below with the rest).
    const together = await Promise.all(['Rua Um 1', 'Rua Dois 2', 'Rua Três 3'].map((address) => call<{ status: string }>('POST', '/viability', t.key, { address })));
    expect(together.map((r) => r.body.status)).toEqual(['not_found', 'not_found', 'not_found']);
    // Cached: asking again does not call the geocoder; distinct calls were spaced by the interval (seen by the fake, give or take network jitter).
    const calls = geocoderCalls.length;
    expect((await call<{ status: string }>('POST', '/viability', t.key, { address: '  rua das flores   10 ' })).body.status).toBe('viable');
    expect(geocoderCalls.length).toBe(calls);
    for (let i = 1; i < geocoderCalls.length; i++) expect(geocoderCalls[i]!.at - geocoderCalls[i - 1]!.at).toBeGreaterThanOrEqual(280);
    expect((await call('POST', '/viability', t.key, {})).status).toBe(400);

    // "Not found" is kept a day (GEOCODER_NEGATIVE_TTL_SECONDS), then asked again; a place found is kept.
    expect((await call<{ status: string }>('POST', '/viability', t.key, { address: 'Rua Nova 5' })).body.status).toBe('not_found');
    places['Rua Nova 5'] = [{ lat: String(HOME.lat), lon: String(HOME.lng), display_name: 'Rua Nova, 5, Curitiba' }];
    expect((await call<{ status: string }>('POST', '/viability', t.key, { address: 'Rua Nova 5' })).body.status).toBe('not_found');
    await ds.query(`UPDATE viability.geocode_cache SET created_at = now() - interval '25 hours' WHERE query IN ('rua nova 5', 'rua das flores 10')`);
    const before = geocoderCalls.length;
    expect((await call<{ status: string; address: string }>('POST', '/viability', t.key, { address: 'Rua Nova 5' })).body).toMatchObject({ status: 'viable', address: 'Rua Nova, 5, Curitiba' });
    expect((await call<{ status: string }>('POST', '/viability', t.key, { address: 'Rua das Flores 10' })).body.status).toBe('viable');
    expect(geocoderCalls.length).toBe(before + 1);

    // The bot flow's step can send an address too.
    const requestId = randomUUID();
    await probe.publish(createEvent({ type: 'viability.requested', tenantId: t.id, source: 'elo://test', data: { requestId, address: 'Rua das Flores 10' } }));
    await expectEventually(() => {
      const e = probe.ofType<{ requestId: string; status: string; via: string }>('viability.checked').find((x) => x.data.requestId === requestId);
      expect(e?.data).toMatchObject({ status: 'viable', via: 'address' });
    });
  });

  it('the geocoder rate limit holds across replicas: lookups from two replicas at once reach the geocoder spaced by the interval', async () => {
    // A second replica: its own GeocoderService (its own queue) on the same database.
    const other = new GeocoderService(ds, app.get(HttpEgress), app.get<ViabilityConfig>(SERVICE_CONFIG));
    const mine = app.get(GeocoderService);
    const from = geocoderCalls.length;
    const addresses = ['Rua Réplica 1', 'Rua Réplica 2', 'Rua Réplica 3', 'Rua Réplica 4'];
    const start = Date.now();
    const answers = await Promise.all(addresses.map((a, i) => (i % 2 ? other : mine).locate(a)));
    expect(answers.map((a) => a.found)).toEqual([false, false, false, false]);
    const calls = geocoderCalls.slice(from).map((c) => c.at).sort((a, b) => a - b);
    expect(calls).toHaveLength(4);
    // The k-th call to arrive left no earlier than k intervals (300 ms) after the lookups began: a call goes out in its slot
    // or later (a loaded machine delays arrivals, so gaps between arrivals prove nothing). Spaced per replica only, two
    // calls of each went out together.
    calls.forEach((at, k) => expect({ k, after: at - start >= k * 300 - 20 }).toEqual({ k, after: true }));
  });

  it('an address of blanks is no address: 400 over HTTP, nothing asked of the geocoder or recorded; not_found on the bus without a lookup', async () => {
    const t = await tenant();
    const calls = geocoderCalls.length;
    for (const address of ['   ', '\t\n', ' \u00a0 ']) {
      const r = await call<{ detail: string }>('POST', '/viability', t.key, { address });
      expect(r.status).toBe(400);
      expect(r.body.detail).toMatch(/address/);
    }
    expect(geocoderCalls.length).toBe(calls);
    expect(await ds.query('SELECT 1 FROM viability.checks WHERE tenant_id = $1', [t.id])).toEqual([]);

    const requestId = randomUUID();
    await probe.publish(createEvent({ type: 'viability.requested', tenantId: t.id, source: 'elo://test', data: { requestId, address: '   ' } }));
    await expectEventually(() => {
      const e = probe.ofType<{ requestId: string; status: string; reason: string }>('viability.checked').find((x) => x.data.requestId === requestId);
      expect(e?.data).toMatchObject({ status: 'not_found', reason: 'no location or address given' });
    });
    expect(geocoderCalls.length).toBe(calls);
  });

  it('lists the tenant\'s recorded checks newest first, filtered by outcome and how they came, in cursor pages that keep the filter', async () => {
    const t = await tenant();
    const other = await tenant();
    const box = await at(60, 45);
    await call('POST', '/inventory/import?kind=boxes', t.key, { type: 'FeatureCollection', features: [
      { type: 'Feature', geometry: { type: 'Point', coordinates: [box.lng, box.lat] }, properties: { external_id: 'HIST', name: 'Hist', status: 'deployed', port_capacity: 8, ports_in_use: 1 } },
    ] }, 'application/json');
    const far = { lat: HOME.lat + 0.5, lng: HOME.lng };
    const asked = [HOME, far, HOME, far, HOME];
    for (const point of asked) expect((await call('POST', '/viability', t.key, point)).status).toBe(200);
    // An address nobody knows: recorded not_found, with no point.
    expect((await call('POST', '/viability', t.key, { address: 'Rua que não existe, 1' })).body).toMatchObject({ status: 'not_found' });
    expect((await call('POST', '/viability', other.key, HOME)).status).toBe(200);

    type Page = { items: Array<{ id: string; checkedAt: string; via: string; status: string; location: { lat: number; lng: number } | null; result: Record<string, unknown> }>; nextCursor: string | null };
    const all = async (query: string, key = t.key) => {
      const items: Page['items'] = [];
      let cursor: string | null = null;
      do {
        const page: { status: number; body: Page } = await call<Page>('GET', `/viability/checks?${cursor ? `cursor=${cursor}&` : query}`, key);
        expect(page.status).toBe(200);
        items.push(...page.body.items);
        cursor = page.body.nextCursor;
      } while (cursor);
      return items;
    };
    const every = await all('limit=2');
    expect(every).toHaveLength(6);
    expect(new Set(every.map((c) => c.id)).size).toBe(6);
    expect(every.map((c) => c.checkedAt)).toEqual([...every.map((c) => c.checkedAt)].sort().reverse());
    // Newest first: the address check was the last one asked.
    expect(every[0]).toMatchObject({ via: 'address', status: 'not_found', location: null, result: { reason: expect.any(String) } });
    expect(every.filter((c) => c.status === 'viable')).toHaveLength(3);
    expect(every.find((c) => c.status === 'viable')).toMatchObject({ via: 'coordinates', location: HOME, result: { box: { externalId: 'HIST', distanceMeters: expect.closeTo(60, 0) } } });

    // The cursor keeps the filter: later pages pass only the cursor.
    const unserved = await all('status=not_found&limit=1');
    expect(unserved.map((c) => c.status)).toEqual(['not_found', 'not_found', 'not_found']);
    expect(unserved.map((c) => c.via).sort()).toEqual(['address', 'coordinates', 'coordinates']);
    expect(await all('status=not_found&via=coordinates')).toHaveLength(2);
    expect(await all('from=2000-01-01T00:00:00Z')).toHaveLength(6);
    expect(await all('from=2999-01-01T00:00:00Z')).toEqual([]);
    expect(await all('to=2000-01-01')).toEqual([]);
    expect(await all('limit=10', other.key)).toHaveLength(1);

    const first = await call<Page>('GET', '/viability/checks?status=not_found&limit=1', t.key);
    expect((await call('GET', `/viability/checks?status=viable&cursor=${first.body.nextCursor}`, t.key)).status).toBe(400);
    for (const bad of ['status=maybe', 'via=carrier_pigeon', 'from=yesterday', 'to=2026', 'from=2026-W01', 'limit=0', 'cursor=nope']) {
      const r = await call<{ detail: string }>('GET', `/viability/checks?${bad}`, t.key);
      expect(r.status).toBe(400);
      expect(r.body.detail).toMatch(new RegExp(bad.split('=')[0]));
    }
    const checker = (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'bot', permissions: ['viability:check'] })).body.key;
    expect((await call('GET', '/viability/checks', checker)).status).toBe(403);
    // ...while the check itself is what such a key (an outside chatbot's) is for.
    expect((await call<{ status: string; box: { externalId: string } }>('POST', '/viability', checker, HOME)).body).toMatchObject({ status: 'viable', box: { externalId: 'HIST' } });
  });

  it('deletes check records past CHECK_RETENTION_DAYS (365 by default) and keeps the younger ones', async () => {
    const t = await tenant();
    for (const point of [HOME, HOME]) expect((await call('POST', '/viability', t.key, point)).status).toBe(200);
    await expectRetained(ds, () => app.get(RetentionSweeper).sweep(), { table: 'viability.checks', column: 'checked_at', days: 365 });
  });

  it('streams a CSV import over HTTP far past the body size limit', async () => {
    const t = await tenant();
    const lines = ['external_id,name,lat,lng,status,port_capacity,ports_in_use'];
    for (let i = 0; i < 6_000; i++) lines.push(`API-${i},Caixa de atendimento ${i},${(-25.3 - i / 1e5).toFixed(6)},-49.1,certified,16,${i === 4_321 ? 'x' : 2}`);
    const body = lines.join('\n');
    expect(body.length).toBeGreaterThan(5 * 64 * 1024);
    const r = await call<{ inserted: number; errors: Array<{ line: number; reason: string }>; errorCount: number }>('POST', '/inventory/import?kind=boxes', t.key, body, 'text/csv; charset=utf-8');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ inserted: 5_999, updated: 0, errorCount: 1 });
    expect(r.body.errors).toEqual([{ line: 4_323, reason: expect.stringMatching(/ports_in_use/) }]);
    // Other JSON bodies still have the limit.
    expect((await call('POST', '/viability', t.key, { address: 'x'.repeat(70 * 1024) })).status).toBe(413);
  });

  it('a CSV upload is imported while it arrives: the first 5,000 rows are in before the body has ended', async () => {
    const t = await tenant();
    const row = (i: number) => `ARR-${i},Caixa ${i},${(-25.3 - i / 1e5).toFixed(6)},-49.1,deployed,16,1\n`;
    const enc = new TextEncoder();
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(enc.encode(`external_id,name,lat,lng,status,port_capacity,ports_in_use\n${Array.from({ length: 5_200 }, (_, i) => row(i)).join('')}`));
      },
      // The rest waits until the test lets it go: an import that buffered the whole body would see no end, and write nothing.
      async pull(c) {
        await released;
        c.enqueue(enc.encode(row(5_200)));
        c.close();
      },
    });
    const answered = fetch(`${url}/inventory/import?kind=boxes`, {
      method: 'POST', headers: { authorization: `Bearer ${t.key}`, 'content-type': 'text/csv' }, body, duplex: 'half',
    } as RequestInit);
    try {
      await expectEventually(async () => {
        const [c] = await ds.query('SELECT count(*)::int AS n FROM viability.boxes WHERE tenant_id = $1', [t.id]);
        expect(c.n).toBeGreaterThanOrEqual(5_000);
      }, { timeoutMs: 20_000 });
    } finally {
      release();
    }
    const res = await answered;
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ inserted: 5_201, updated: 0, errorCount: 0 });
  }, 40_000);

  it('imports a file from the command line in chunks with a progress bar, reporting bad lines', async () => {
    const t = await tenant();
    const lines = ['external_id,name,lat,lng,status,port_capacity,ports_in_use'];
    for (let i = 0; i < 2_500; i++) lines.push(`CLI-${i},Box ${i},${(-25.4 - i / 1e5).toFixed(6)},-49.27,deployed,16,${i % 17 === 0 ? 20 : 1}`);
    const dir = mkdtempSync(join(tmpdir(), 'elo-import-'));
    const file = join(dir, 'boxes.csv');
    writeFileSync(file, lines.join('\n'));
    const r = spawnSync(process.execPath, ['-r', '@swc-node/register', join(__dirname, '..', 'src', 'cli', 'import.ts'), '--tenant', t.id, '--kind', 'boxes', '--file', file], {
      cwd: join(__dirname, '..', '..', '..'),
      env: { ...process.env, DATABASE_URL: infra.databaseUrl },
      encoding: 'utf8',
    });
    rmSync(dir, { recursive: true, force: true });
    expect(r.status).toBe(0);
    const bad = Array.from({ length: 2_500 }, (_, i) => i).filter((i) => i % 17 === 0);
    // The progress bar (on stderr, so the report on stdout stays clean) ends full: every byte read, the rows written.
    const size = Buffer.byteLength(lines.join('\n'));
    expect(r.stderr).toContain(`| 100% ${size}/${size} bytes, ${2_500 - bad.length} rows`);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { inserted: number; updated: number; errors: number };
    expect(summary).toEqual({ inserted: 2_500 - bad.length, updated: 0, errors: bad.length });
    expect(r.stdout).toContain(`line ${bad[1]! + 2}: ports_in_use`);
    const [c] = await ds.query('SELECT count(*)::int AS n FROM viability.boxes WHERE tenant_id = $1', [t.id]);
    expect(c.n).toBe(2_500 - bad.length);
  }, 60_000);
});
