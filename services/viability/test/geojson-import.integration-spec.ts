import type { INestApplication } from '@nestjs/common';
import { BusConnection } from '@elo/messaging';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../src/app.module';
import { ViabilityConfig } from '../src/config/viability.config';

const ADMIN = 'g'.repeat(40);

const feature = (i: number, props: Record<string, unknown> = {}) => ({
  type: 'Feature',
  geometry: { type: 'Point', coordinates: [-49.27, -25.4 - i / 1e5] },
  properties: { external_id: `GJ-${i}`, name: `Caixa ${i}`, status: 'deployed', port_capacity: 16, ports_in_use: 1, ...props },
});

describe('viability: GeoJSON inventory streamed (API and command line)', () => {
  let infra: TestInfra;
  let app: INestApplication;
  let url: string;
  let ds: DataSource;

  beforeAll(async () => {
    infra = await createTestInfra('viability-geojson');
    const config = loadConfig(ViabilityConfig, {
      DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN,
      ELO_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 3).toString('base64')}`, ELO_ENCRYPTION_ACTIVE_KEY: 'k1', LOG_LEVEL: 'warn',
      // A small body limit: the import must not go through the shared body parser.
      BODY_LIMIT_BYTES: String(64 * 1024), UPSTREAM_SYNC_TICK_MS: '0',
    });
    app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'viability', config });
    await app.listen(0, '127.0.0.1');
    await app.get(BusConnection).waitReady(15_000);
    url = await app.getUrl();
    ds = app.get(DataSource);
  });

  afterAll(async () => {
    await app?.close();
    await infra?.cleanup();
  });

  async function tenant(): Promise<{ id: string; key: string }> {
    const post = (path: string, body: unknown) =>
      fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json());
    const t = (await post('/tenants', { name: 'isp' })) as { id: string };
    const k = (await post(`/tenants/${t.id}/keys`, { name: 'k', permissions: ['viability:manage'] })) as { key: string };
    return { id: t.id, key: k.key };
  }

  const importGeo = async (key: string, body: string | ReadableStream) => {
    const res = await fetch(`${url}/inventory/import?kind=boxes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/geo+json' },
      body,
      ...(typeof body === 'string' ? {} : { duplex: 'half' }),
    } as RequestInit);
    return { status: res.status, body: (await res.json()) as { inserted: number; updated: number; errorCount: number; errors: Array<{ line: number; reason: string }>; detail?: string } };
  };

  it('a collection far over the body limit, sent in pieces, goes in; bad features are reported by position', async () => {
    const t = await tenant();
    const n = 5_000;
    const enc = new TextEncoder();
    let i = 0;
    // Sent as a stream of small pieces (chunked), about 1 MB in all against a 64 KB body limit.
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (i === 0) c.enqueue(enc.encode('{"type":"FeatureCollection","features":[\n'));
        const parts: string[] = [];
        for (let k = 0; k < 250 && i < n; k++, i++) {
          const f = i === 10 ? feature(i, { status: 'flying' }) : i === 20 ? { type: 'Feature', geometry: { type: 'LineString', coordinates: [] } } : feature(i);
          parts.push(`${i ? ',\n' : ''}${JSON.stringify(f)}`);
        }
        c.enqueue(enc.encode(parts.join('')));
        if (i >= n) {
          c.enqueue(enc.encode('\n]}'));
          c.close();
        }
      },
    });
    const r = await importGeo(t.key, stream);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ inserted: n - 2, updated: 0, errorCount: 2 });
    expect(r.body.errors).toEqual([
      { line: 11, reason: expect.stringMatching(/status/) },
      { line: 21, reason: 'geometry must be a Point' },
    ]);
    const [c] = await ds.query('SELECT count(*)::int AS n FROM viability.boxes WHERE tenant_id = $1', [t.id]);
    expect(c.n).toBe(n - 2);
  });

  it('features are imported while the collection arrives: the first 5,000 are in before the body has ended', async () => {
    const t = await tenant();
    const enc = new TextEncoder();
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(enc.encode(`{"type":"FeatureCollection","features":[${Array.from({ length: 5_200 }, (_, i) => JSON.stringify(feature(i))).join(',')}`));
      },
      // The end waits until the test lets it go: an import that read the whole document first would write nothing meanwhile.
      async pull(c) {
        await released;
        c.enqueue(enc.encode(`,${JSON.stringify(feature(5_200))}]}`));
        c.close();
      },
    });
    const answered = importGeo(t.key, body);
    try {
      await expectEventually(async () => {
        const [c] = await ds.query('SELECT count(*)::int AS n FROM viability.boxes WHERE tenant_id = $1', [t.id]);
        expect(c.n).toBeGreaterThanOrEqual(5_000);
      }, { timeoutMs: 20_000 });
    } finally {
      release();
    }
    const r = await answered;
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ inserted: 5_201, updated: 0, errorCount: 0 });
  }, 40_000);

  it('not a FeatureCollection, or not JSON: 400 with the reason; a broken end keeps what came before', async () => {
    const t = await tenant();
    const notFc = await importGeo(t.key, JSON.stringify({ type: 'Feature', geometry: null }));
    expect(notFc.status).toBe(400);
    expect(notFc.body.detail).toMatch(/FeatureCollection/);
    expect((await importGeo(t.key, 'hello')).status).toBe(400);
    const cut = await importGeo(t.key, `{"type":"FeatureCollection","features":[${JSON.stringify(feature(1))},${JSON.stringify(feature(2))},{"type":`);
    expect(cut.status).toBe(200);
    expect(cut.body).toMatchObject({ inserted: 2, errors: [{ line: 0, reason: expect.stringMatching(/truncated/) }] });
  });

  it('the command line streams a GeoJSON file too', async () => {
    const t = await tenant();
    const features = Array.from({ length: 2_100 }, (_, i) => (i === 1_500 ? feature(i, { ports_in_use: 99 }) : feature(i)));
    const dir = mkdtempSync(join(tmpdir(), 'elo-geojson-'));
    const file = join(dir, 'boxes.geojson');
    writeFileSync(file, JSON.stringify({ type: 'FeatureCollection', features }, null, 1));
    const r = spawnSync(process.execPath, ['-r', '@swc-node/register', join(__dirname, '..', 'src', 'cli', 'import.ts'), '--tenant', t.id, '--kind', 'boxes', '--file', file, '--quiet'], {
      cwd: join(__dirname, '..', '..', '..'),
      env: { ...process.env, DATABASE_URL: infra.databaseUrl },
      encoding: 'utf8',
    });
    rmSync(dir, { recursive: true, force: true });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('line 1501: ports_in_use');
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toEqual({ inserted: 2_099, updated: 0, errors: 1 });
  }, 60_000);
});
