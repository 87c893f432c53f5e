import type { INestApplication } from '@nestjs/common';
import { createEvent } from '@elo/contracts';
import { BusConnection, BusProbe } from '@elo/messaging';
import { metricsRegistry } from '@elo/observability';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { callApi, createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../src/app.module';
import { InventoryIndexes } from '../src/check/inventory-indexes.service';
import { answer, ViabilityService } from '../src/check/viability.service';
import { ViabilityConfig } from '../src/config/viability.config';
import { projectPoint } from './project-point';

const ADMIN = 'x'.repeat(40);
const HOME = { lat: -25.4284, lng: -49.2733 };
const HEADER = 'external_id,name,lat,lng,status,port_capacity,ports_in_use';
/** The tile server configured for the FindME page (FINDME_TILE_URL). */
const TILES = 'https://tiles.example.net/osm/{z}/{x}/{y}.png';

/** What reaches the check from outside: coordinates as strings, the drop-distance edge, bad import rows, a bad geocoder. */
describe('viability: input at the edges', () => {
  let infra: TestInfra;
  let app: INestApplication;
  let url: string;
  let ds: DataSource;
  let probe: BusProbe;
  let fake: Server;
  const geocoderCalls: string[] = [];
  /** What the fake Nominatim answers, by query. */
  const places: Record<string, unknown[]> = {};

  beforeAll(async () => {
    infra = await createTestInfra('viability-input');
    fake = createServer((req, res) => {
      const q = new URL(req.url ?? '/', 'http://x').searchParams.get('q') ?? '';
      geocoderCalls.push(q);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(places[q] ?? []));
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    const config = loadConfig(ViabilityConfig, {
      DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN,
      ELO_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`, ELO_ENCRYPTION_ACTIVE_KEY: 'k1', LOG_LEVEL: 'warn',
      GEOCODER_BASE_URL: `http://127.0.0.1:${(fake.address() as { port: number }).port}`, GEOCODER_MIN_INTERVAL_MS: '0',
      EGRESS_ALLOW_PRIVATE: '127.0.0.1/32', FINDME_PUBLIC_URL: 'https://elo.example.net', UPSTREAM_SYNC_TICK_MS: '0',
      FINDME_TILE_URL: TILES,
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
    await new Promise((r) => fake?.close(r));
    await infra?.cleanup();
  });

  const call = <T = Record<string, unknown>>(method: string, path: string, key: string | undefined, body?: unknown, type?: string) =>
    callApi<T>(url, method, path, key, body, type ? { 'content-type': type } : {});

  async function tenant(): Promise<{ id: string; key: string }> {
    const t = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: 'isp' })).body;
    const k = (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'k', permissions: ['viability:check', 'viability:manage'] })).body;
    return { id: t.id, key: k.key };
  }

  const at = (meters: number, azimuthDeg: number, from = HOME) => projectPoint(ds, from, meters, azimuthDeg);

  const indexes = () => app.get(InventoryIndexes);

  /** Checks answered by the in-process index so far (the service's own counter). */
  async function indexAnswered(): Promise<number> {
    const m = await metricsRegistry.getSingleMetric('elo_viability_checks_total')!.get();
    return m.values.find((v) => v.labels.from === 'index')?.value ?? 0;
  }

  /** A tenant with one eligible box 50 m from HOME, its index loaded and serving. */
  async function tenantWithIndex() {
    const t = await tenant();
    const box = await at(50, 45);
    expect((await call('POST', '/inventory/import?kind=boxes', t.key, `${HEADER}\nCTO-S,CTO Strings,${box.lat},${box.lng},deployed,8,0`, 'text/csv')).body).toMatchObject({ inserted: 1 });
    await indexes().ready(t.id);
    await expectEventually(() => expect(indexes().get(t.id)).toBeDefined());
    return t;
  }

  it('coordinates sent as strings are checked as numbers by the index: JSON, a form, FindME and the bus', async () => {
    const t = await tenantWithIndex();
    const lat = String(HOME.lat);
    const lng = String(HOME.lng);

    // Numbers first: the index answers.
    let before = await indexAnswered();
    expect((await call('POST', '/viability', t.key, HOME)).body).toMatchObject({ status: 'viable', box: { externalId: 'CTO-S' } });
    expect(await indexAnswered()).toBe(before + 1);

    // JSON strings and a form-encoded body: the same answer, from the index.
    before = await indexAnswered();
    expect((await call('POST', '/viability', t.key, { lat, lng })).body).toMatchObject({ status: 'viable', box: { externalId: 'CTO-S' } });
    expect((await call('POST', '/viability', t.key, `lat=${encodeURIComponent(lat)}&lng=${encodeURIComponent(lng)}`, 'application/x-www-form-urlencoded')).body)
      .toMatchObject({ status: 'viable', box: { externalId: 'CTO-S' } });
    expect(await indexAnswered()).toBe(before + 2);

    // FindME: the confirmed point as strings does not spend the link on a wrong not_found.
    const link = (await call<{ link: string }>('POST', '/findme', t.key, { phone: '+5541988445566' })).body.link;
    before = await indexAnswered();
    const confirmed = await call(`POST`, `/findme/${link.split('/findme/')[1]}/confirm`, undefined, { lat, lng });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body).toMatchObject({ status: 'viable', box: { name: 'CTO Strings' } });
    expect(await indexAnswered()).toBe(before + 1);

    // The bus: a bot flow step whose location came as strings.
    const requestId = randomUUID();
    before = await indexAnswered();
    await probe.publish(createEvent({ type: 'viability.requested', tenantId: t.id, source: 'elo://test', data: { requestId, location: { lat, lng } as unknown as typeof HOME } }));
    await expectEventually(() => {
      const e = probe.ofType<{ requestId: string; status: string; location: unknown; box: { externalId: string } }>('viability.checked').find((x) => x.data.requestId === requestId);
      expect(e?.data).toMatchObject({ status: 'viable', box: { externalId: 'CTO-S' }, location: HOME });
    });
    expect(await indexAnswered()).toBe(before + 1);
  });

  it('coordinates win over an address sent with them; a lone lat with an address is a 400', async () => {
    const t = await tenantWithIndex();
    const calls = geocoderCalls.length;
    const both = await call<{ status: string; address?: string }>('POST', '/viability', t.key, { ...HOME, address: 'Rua Desconhecida 1' });
    expect(both.status).toBe(200);
    expect(both.body).toMatchObject({ status: 'viable', box: { externalId: 'CTO-S' } });
    expect(both.body.address).toBeUndefined();
    expect(geocoderCalls.length).toBe(calls);
    expect((await call('POST', '/viability', t.key, { lat: HOME.lat, address: 'Rua Desconhecida 1' })).status).toBe(400);
  });

  it('a box at exactly the drop distance is in range for the statement and the index alike', async () => {
    const t = await tenant();
    // One box 150 m (the default drop distance) from each of 36 points, placed with ST_Project, each alone.
    const centres = await Promise.all(Array.from({ length: 36 }, (_, i) => at(2_000 * (i + 1), 90)));
    const boxes = await Promise.all(centres.map((c, i) => at(150, i * 10 + 3, c)));
    const csv = [HEADER, ...boxes.map((b, i) => `EDGE-${i},Caixa ${i},${b.lat},${b.lng},deployed,8,0`)].join('\n');
    expect((await call('POST', '/inventory/import?kind=boxes', t.key, csv, 'text/csv')).body).toMatchObject({ inserted: 36 });
    await indexes().ready(t.id);
    await expectEventually(() => expect(indexes().get(t.id)).toBeDefined());
    const index = indexes().get(t.id)!;
    const s = { mode: 'radius' as const, maxDropMeters: 150 };
    for (const [i, c] of centres.entries()) {
      const fromSql = answer(s, await app.get(ViabilityService).nearBySql(ds.manager, t.id, c.lat, c.lng, s), c);
      const fromIndex = answer(s, index.near(c.lat, c.lng, 150, false)!, c);
      expect({ i, status: fromSql.status, box: fromSql.box?.externalId }).toEqual({ i, status: 'viable', box: `EDGE-${i}` });
      expect({ i, status: fromIndex.status, box: fromIndex.box?.externalId }).toEqual({ i, status: fromSql.status, box: fromSql.box?.externalId });
    }
  });

  it('CSV with Windows line breaks and a name over two lines (a quoted CRLF): later errors are reported at their own line', async () => {
    const t = await tenant();
    const lines = [
      HEADER, // line 1
      'ML-2,"Caixa da esquina\r\nRua XV",-25.52,-49.32,deployed,8,0', // lines 2-3: one record
      'ML-4,Caixa 4,-25.54,-49.34,deployed,8,9', // 4: more ports in use than it has
      'ML-5,Caixa 5,-25.55,-49.35,exploded,8,0', // 5: no such status
    ];
    const r = await call<{ inserted: number; errors: Array<{ line: number; reason: string }> }>(
      'POST', '/inventory/import?kind=boxes', t.key, `${lines.join('\r\n')}\r\n`, 'text/csv',
    );
    expect(r.status).toBe(200);
    expect(r.body.inserted).toBe(1);
    expect(r.body.errors).toEqual([
      { line: 4, reason: expect.stringMatching(/ports_in_use/) },
      { line: 5, reason: expect.stringMatching(/status/) },
    ]);
    const [row] = await ds.query(`SELECT name FROM viability.boxes WHERE tenant_id = $1 AND external_id = 'ML-2'`, [t.id]);
    expect(row.name).toMatch(/^Caixa da esquina\r?\nRua XV$/);
  });

  it('CSV: a record over several lines (a quoted line break) is reported at the line it starts on, after blank and emptied rows too', async () => {
    const t = await tenant();
    const lines = [
      HEADER, // line 1
      'MS-2,"Caixa da\nesquina",-25.52,-49.32,exploded,8,0', // lines 2-3: no such status
      '', // 4: blank
      ',,,,,,', // 5: emptied
      'MS-6,"Caixa\n\nlonga",-25.56,-49.36,deployed,8,9', // lines 6-8: more ports in use than it has
      'MS-9,"Caixa 9\nRua XV",-25.59,-49.39,deployed,8,0', // lines 9-10: goes in
      'MS-9,Caixa 9 de novo,-25.59,-49.39,deployed,8,0', // 11: its id again
    ];
    const r = await call<{ inserted: number; errors: Array<{ line: number; reason: string }> }>(
      'POST', '/inventory/import?kind=boxes', t.key, `${lines.join('\n')}\n`, 'text/csv',
    );
    expect(r.status).toBe(200);
    expect(r.body.inserted).toBe(1);
    expect(r.body.errors).toEqual([
      { line: 2, reason: expect.stringMatching(/^status/) },
      { line: 6, reason: expect.stringMatching(/^ports_in_use/) },
      { line: 11, reason: expect.stringMatching(/already appears earlier \(line 9\)/) },
    ]);
  });

  it('CSV: a quote left open early in a big file is refused once the record passes 1,000,000 bytes, at the line it starts on; what came before goes in', async () => {
    const t = await tenant();
    const filler = Array.from({ length: 20_000 }, (_, i) => `F-${i},Caixa ${i} ${'x'.repeat(80)},-25.5,-49.3,deployed,8,0`);
    const body = [HEADER, 'G-2,Caixa 2,-25.52,-49.32,deployed,8,0', 'OPEN,"Caixa aberta,-25.53,-49.33,deployed,8,0', ...filler].join('\n');
    const r = await call<{ inserted: number; errors: Array<{ line: number; reason: string }>; errorCount: number }>(
      'POST', '/inventory/import?kind=boxes', t.key, `${body}\n`, 'text/csv',
    );
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ inserted: 1, errorCount: 1 });
    expect(r.body.errors).toEqual([{ line: 3, reason: expect.stringMatching(/over 1,000,000 bytes.*nothing after line 2 was imported/) }]);
    // The rest of the upload was read: the next request goes through.
    expect((await call('POST', '/inventory/import?kind=boxes', t.key, `${HEADER}\nG-3,Caixa 3,-25.53,-49.33,deployed,8,0\n`, 'text/csv')).body).toMatchObject({ inserted: 1 });
  });

  it('CSV: a stray quote, ports beyond int4, a NUL and a quote left open are row errors; the other rows go in', async () => {
    const t = await tenant();
    const good = (i: number) => `G-${i},Caixa ${i},-25.5${i},-49.3,deployed,8,0`;
    const lines = [
      HEADER, // line 1
      good(1), // 2
      'Q-3,Caixa 5" poste,-25.53,-49.33,deployed,8,0', // 3: a quote inside a field, read as text
      'BIG,Caixa grande,-25.54,-49.34,deployed,3000000000,0', // 4: port_capacity beyond int4
      'NUL,Caixa\u0000nula,-25.55,-49.35,deployed,8,0', // 5: a NUL in the name
      good(6), // 6
      good(7), // 7
      'OPEN,"Caixa aberta,-25.56,-49.36,deployed,8,0', // 8: a quote never closed
    ];
    const r = await call<{ inserted: number; errors: Array<{ line: number; reason: string }>; errorCount: number }>(
      'POST', '/inventory/import?kind=boxes', t.key, `${lines.join('\n')}\n`, 'text/csv',
    );
    expect(r.status).toBe(200);
    expect(r.body.inserted).toBe(4);
    expect(r.body.errorCount).toBe(3);
    expect(r.body.errors).toEqual([
      { line: 4, reason: expect.stringMatching(/port_capacity/) },
      { line: 5, reason: expect.stringMatching(/NUL/) },
      { line: expect.any(Number), reason: expect.stringMatching(/not valid CSV: .*quote/i) },
    ]);
    expect(r.body.errors[2]!.line).toBe(8);
    const names: Array<{ external_id: string; name: string }> = await ds.query('SELECT external_id, name FROM viability.boxes WHERE tenant_id = $1 ORDER BY external_id', [t.id]);
    expect(names).toEqual([
      { external_id: 'G-1', name: 'Caixa 1' },
      { external_id: 'G-6', name: 'Caixa 6' },
      { external_id: 'G-7', name: 'Caixa 7' },
      { external_id: 'Q-3', name: 'Caixa 5" poste' },
    ]);
  });

  it('GeoJSON: a string property over the per-feature limit is a 400, and nothing goes in', async () => {
    const t = await tenant();
    const doc = `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[-49.27,-25.42]},"properties":{"external_id":"X","note":"${'y'.repeat(3_000_000)}"}}]}`;
    // On a connection of its own: the service answers before reading the rest of the body, then closes it.
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${url}/inventory/import?kind=poles`, { method: 'POST', agent: false, headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/geo+json' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end(doc);
    });
    expect(r.status).toBe(400);
    expect((JSON.parse(r.body) as { detail: string }).detail).toMatch(/feature 1 is larger than 1000000 characters/);
    expect((await ds.query('SELECT count(*)::int AS n FROM viability.poles WHERE tenant_id = $1', [t.id]))[0].n).toBe(0);
  });

  it('a geocoder answering coordinates out of range is a failure: 502 in plain words, nothing cached, nothing shown to the FindME page', async () => {
    const t = await tenantWithIndex();
    places['Rua Quebrada 95'] = [{ lat: '95', lon: '-49.2733', display_name: 'Rua Quebrada, 95' }];
    const r = await call<{ detail: string }>('POST', '/viability', t.key, { address: 'Rua Quebrada 95' });
    expect(r.status).toBe(502);
    expect(r.body.detail).toBe('the geocoder answered coordinates that are not valid');
    expect(JSON.stringify(r.body)).not.toMatch(/viability\.checked|data\.location/);
    expect(await ds.query('SELECT query FROM viability.geocode_cache WHERE query = $1', ['rua quebrada 95'])).toEqual([]);

    const link = (await call<{ link: string }>('POST', '/findme', t.key, { phone: '+5541988445566' })).body.link;
    const token = link.split('/findme/')[1];
    const located = await call<{ detail: string; instance: string }>('POST', `/findme/${token}/locate`, undefined, { address: 'Rua Quebrada 95' });
    expect(located.status).toBe(502);
    // Neither the bad point nor the geocoder's place is shown (the instance is the page's own path, whose random token may hold "95").
    const { instance, ...shown } = located.body;
    expect(instance).toBe(`/findme/${token}/locate`);
    expect(JSON.stringify(shown)).not.toMatch(/95|49\.2733|Quebrada/);
    // Blank or missing coordinates are as broken (not a point at 0,0).
    places['Rua Vazia 1'] = [{ lat: '', lon: ' ', display_name: 'Rua Vazia, 1' }];
    expect((await call('POST', '/viability', t.key, { address: 'Rua Vazia 1' })).status).toBe(502);

    // A bad answer cached before this check existed is asked again, and replaced once the geocoder is right.
    places['Rua Quebrada 95'] = [{ lat: String(HOME.lat), lon: String(HOME.lng), display_name: 'Rua Quebrada, 95' }];
    await ds.query(`INSERT INTO viability.geocode_cache (query, result) VALUES ('rua quebrada 95', $1)`, [JSON.stringify({ found: true, lat: 95, lng: -49.2733, displayName: 'x' })]);
    expect((await call('POST', '/viability', t.key, { address: 'Rua Quebrada 95' })).body).toMatchObject({ status: 'viable', address: 'Rua Quebrada, 95' });
    const [cached] = await ds.query('SELECT result FROM viability.geocode_cache WHERE query = $1', ['rua quebrada 95']);
    expect(cached.result).toMatchObject({ found: true, lat: HOME.lat });
  });
  it('the FindME page: a mobile page with its own bundled assets, told the tile server configured (FINDME_TILE_URL)', async () => {
    const t = await tenant();
    const token = (await call<{ link: string }>('POST', '/findme', t.key, { phone: '+5541988445566' })).body.link.split('/findme/')[1]!;
    const page = await fetch(`${url}/findme/${token}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toMatch(/<meta name="viewport" content="width=device-width/);
    // Its script and styles are served here (Leaflet bundled in), not from a CDN.
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const a of assets) {
      expect(a).toMatch(/^\/findme\/assets\//);
      expect((await fetch(`${url}${a}`)).status).toBe(200);
    }
    expect((await call('GET', `/findme/${token}/state`, undefined)).body).toEqual({ state: 'open', expiresAt: expect.any(String), tileUrl: TILES });
  });

  it('CSV in the charset it declares: Latin-1 names read right, an unknown charset 415 and nothing stored', async () => {
    const t = await tenant();
    const latin1 = Buffer.from(`${HEADER}\nCTO-L1,Caixa São João,-25.43,-49.27,deployed,8,0\n`, 'latin1');
    const send = (body: Buffer, type: string) =>
      fetch(`${url}/inventory/import?kind=boxes`, { method: 'POST', headers: { authorization: `Bearer ${t.key}`, 'content-type': type }, body });
    const ok = await send(latin1, 'text/csv; charset=ISO-8859-1');
    expect(await ok.json()).toMatchObject({ inserted: 1, errorCount: 0 });
    const [row] = await ds.query(`SELECT name FROM viability.boxes WHERE tenant_id = $1 AND external_id = 'CTO-L1'`, [t.id]);
    expect(row.name).toBe('Caixa São João');
    const unknown = await send(Buffer.from(`${HEADER}\nCTO-L2,x,-25.43,-49.27,deployed,8,0\n`), 'text/csv; charset=klingon');
    expect(unknown.status).toBe(415);
    expect(((await unknown.json()) as { detail: string }).detail).toContain('klingon');
    expect(await ds.query(`SELECT 1 FROM viability.boxes WHERE tenant_id = $1 AND external_id = 'CTO-L2'`, [t.id])).toEqual([]);
  });

  it('an external id named twice in one file: the first row goes in, the later one is refused by line, within a batch and across batches; importing the file again updates', async () => {
    const t = await tenant();
    const row = (id: string, name: string) => `${id},${name},-25.43,-49.27,deployed,8,0`;
    // 5,000 rows a batch: DUP-A repeats within the first batch, DUP-B in the second batch after its first row in the first.
    const filler = Array.from({ length: 5_000 }, (_, i) => row(`F-${i}`, `Caixa ${i}`));
    const lines = [HEADER, row('DUP-A', 'first A'), row('DUP-B', 'first B'), row('DUP-A', 'second A'), ...filler, row('DUP-B', 'second B')];
    const send = () => call<{ inserted: number; updated: number; errorCount: number; errors: Array<{ line: number; reason: string }> }>(
      'POST', '/inventory/import?kind=boxes', t.key, `${lines.join('\n')}\n`, 'text/csv',
    );
    const first = await send();
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ inserted: 5_002, updated: 0, errorCount: 2 });
    expect(first.body.errors).toEqual([
      { line: 4, reason: 'external_id DUP-A already appears earlier (line 2); only the first is imported' },
      { line: lines.length, reason: 'external_id DUP-B already appears earlier; only the first is imported' },
    ]);
    const names: Array<{ external_id: string; name: string }> = await ds.query(
      `SELECT external_id, name FROM viability.boxes WHERE tenant_id = $1 AND external_id LIKE 'DUP-%' ORDER BY external_id`, [t.id],
    );
    expect(names).toEqual([{ external_id: 'DUP-A', name: 'first A' }, { external_id: 'DUP-B', name: 'first B' }]);
    // A new import is a new run: every row it names once is updated, the repeats refused again.
    expect((await send()).body).toMatchObject({ inserted: 0, updated: 5_002, errorCount: 2 });
    const geo = await call<{ inserted: number; updated: number; errors: Array<{ line: number; reason: string }> }>('POST', '/inventory/import?kind=poles', t.key, {
      type: 'FeatureCollection',
      features: ['P-1', 'P-2', 'P-1'].map((id) => ({ type: 'Feature', geometry: { type: 'Point', coordinates: [-49.27, -25.43] }, properties: { external_id: id, name: id } })),
    });
    expect(geo.body).toMatchObject({ inserted: 2, updated: 0, errors: [{ line: 3, reason: 'external_id P-1 already appears earlier (line 1); only the first is imported' }] });
  });

  it('the command line imports as the API does: a Latin-1 file separated by semicolons, a bad row by line, the totals', async () => {
    const t = await tenant();
    const dir = mkdtempSync(join(tmpdir(), 'elo-import-'));
    const file = join(dir, 'rede.csv');
    writeFileSync(file, Buffer.from(`${HEADER.replaceAll(',', ';')}\nCLI-1;Caixa Conceição;-25,43;-49,27;deployed;8;1\nCLI-2;Caixa 2;-25,43;-49,27;quebrada;8;0\n`, 'latin1'));
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, ['-r', '@swc-node/register', 'services/viability/src/cli/import.ts', '--tenant', t.id, '--kind', 'boxes', '--file', file, '--charset', 'iso-8859-1', '--quiet'], {
      env: { ...process.env, DATABASE_URL: infra.databaseUrl },
    });
    rmSync(dir, { recursive: true });
    expect(stdout.trim().split('\n')).toEqual([expect.stringMatching(/^line 3: status must be one of/), JSON.stringify({ inserted: 1, updated: 0, errors: 1 })]);
    const rows: Array<{ external_id: string; name: string }> = await ds.query('SELECT external_id, name FROM viability.boxes WHERE tenant_id = $1', [t.id]);
    expect(rows).toEqual([{ external_id: 'CLI-1', name: 'Caixa Conceição' }]);
  });

  it('CSV rows with nothing in them (a spreadsheet\'s emptied rows, saved as separators alone) are skipped like blank lines, not refused', async () => {
    const t = await tenant();
    const csv = `${HEADER.replaceAll(',', ';')}\r\nCTO-E1;Caixa 1;-25,4321;-49,2765;deployed;8;2\r\n;;;;;;\r\n ; ;;;;; \r\nCTO-E2;Caixa 2;-25,4322;-49,2766;deployed;8;0\r\n;;;;;;\r\n;;;;;;\r\n`;
    expect((await call('POST', '/inventory/import?kind=boxes', t.key, csv, 'text/csv')).body).toEqual({ inserted: 2, updated: 0, errors: [], errorCount: 0 });
    // A row with something in it is still a row: refused by its line.
    const partial = `${HEADER}\nCTO-E3,Caixa 3,-25.43,-49.27,deployed,8,0\n,,,,,,\n,Caixa sem id,,,,,\n`;
    expect((await call('POST', '/inventory/import?kind=boxes', t.key, partial, 'text/csv')).body).toMatchObject({ inserted: 1, errors: [{ line: 4, reason: expect.stringMatching(/^external_id is required/) }], errorCount: 1 });
  });

  it('CSV as spreadsheets in Portuguese save it: semicolons and decimal commas (UTF-8 with a BOM, or Latin-1), tabs; a comma file keeps its semicolons as text', async () => {
    const t = await tenant();
    const send = async (body: Buffer | string, type: string) => {
      const res = await fetch(`${url}/inventory/import?kind=boxes`, { method: 'POST', headers: { authorization: `Bearer ${t.key}`, 'content-type': type }, body });
      expect(res.status).toBe(200);
      return (await res.json()) as { inserted: number; errorCount: number; errors: unknown[] };
    };
    const semicolonRows = `${HEADER.replaceAll(',', ';')}\r\nCTO-S1;Caixa São Paulo, 12;-25,4321;-49,2765;deployed;8;2\r\n`;
    // Excel's "CSV UTF-8": a byte-order mark, CRLF; and its plain "CSV": Latin-1.
    expect(await send(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(semicolonRows)]), 'text/csv')).toMatchObject({ inserted: 1, errorCount: 0 });
    expect(await send(Buffer.from(`${HEADER.replaceAll(',', ';')}\nCTO-S2;Caixa São João;-25,44;-49,28;certified;16;0\n`, 'latin1'), 'text/csv; charset=windows-1252')).toMatchObject({ inserted: 1, errorCount: 0 });
    expect(await send(`${HEADER.replaceAll(',', '\t')}\nCTO-T1\tCaixa T\t-25,45\t-49,29\tdeployed\t8\t0\n`, 'text/csv')).toMatchObject({ inserted: 1, errorCount: 0 });
    expect(await send(`${HEADER}\nCTO-C1,Caixa; com ponto e vírgula,-25.46,-49.30,deployed,8,0\n`, 'text/csv')).toMatchObject({ inserted: 1, errorCount: 0 });
    const rows: Array<{ external_id: string; name: string; lat: number; lng: number; ports_in_use: number }> = await ds.query(
      `SELECT external_id, name, ST_Y(location::geometry) AS lat, ST_X(location::geometry) AS lng, ports_in_use FROM viability.boxes WHERE tenant_id = $1 ORDER BY external_id`,
      [t.id],
    );
    expect(rows).toEqual([
      { external_id: 'CTO-C1', name: 'Caixa; com ponto e vírgula', lat: -25.46, lng: -49.3, ports_in_use: 0 },
      { external_id: 'CTO-S1', name: 'Caixa São Paulo, 12', lat: -25.4321, lng: -49.2765, ports_in_use: 2 },
      { external_id: 'CTO-S2', name: 'Caixa São João', lat: -25.44, lng: -49.28, ports_in_use: 0 },
      { external_id: 'CTO-T1', name: 'Caixa T', lat: -25.45, lng: -49.29, ports_in_use: 0 },
    ]);
  });
});
