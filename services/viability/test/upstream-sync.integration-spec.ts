import type { INestApplication } from '@nestjs/common';
import { BusConnection } from '@elo/messaging';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { callApi, createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { createServer, type Server } from 'node:http';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../src/app.module';
import { ViabilityConfig } from '../src/config/viability.config';
import { UpstreamSyncService } from '../src/sync/upstream-sync.service';

const ADMIN = 'u'.repeat(40);
const HOME = { lat: -25.4284, lng: -49.2733 };

/** One network as a documentation system would hold it, served by token. */
interface FakeNetwork {
  boxes: unknown[];
  poles: unknown[];
  /** ms to wait before each page */
  delayMs?: number;
  /** poles answer with `{items, next}` links instead of bare arrays */
  poleLinks?: boolean;
  /** the next link of the poles points elsewhere */
  evilNext?: boolean;
  /** the next link of the poles points back to the first page, whatever page was asked */
  loopNext?: boolean;
  /**
   * boxes in another API's shape: `{data, links: {next}}` with absolute next links, or `{results, has_more}` from an
   * API that serves at most 4 a page whatever per_page asks (so its pages never look full)
   */
  boxShape?: 'data-links' | 'results-has-more';
  /** bare arrays of at most this many items a page whatever per_page asks, and nothing said of what follows */
  capPerPage?: number;
  /** the same first page whatever page is asked (an API that does not page) */
  noPaging?: boolean;
  /** 404 for a page past the last */
  missingPastEnd?: boolean;
}

describe('viability: inventory synced from an upstream network-documentation system', () => {
  let infra: TestInfra;
  let app: INestApplication;
  let url: string;
  let ds: DataSource;
  let upstream: Server;
  let upstreamUrl: string;
  const networks = new Map<string, FakeNetwork>();
  const requests: Array<{ path: string; auth: string | undefined }> = [];

  beforeAll(async () => {
    infra = await createTestInfra('viability-sync');
    upstream = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      requests.push({ path: `${u.pathname}${u.search}`, auth: req.headers.authorization });
      const net = networks.get(req.headers.authorization ?? '');
      const send = (status: number, body: unknown) => {
        res.statusCode = status;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(body));
      };
      if (!net) return send(401, { error: 'bad token' });
      const kind = u.pathname.split('/').pop() as 'boxes' | 'poles';
      if (kind !== 'boxes' && kind !== 'poles') return send(404, { error: 'no such resource' });
      const page = net.noPaging ? 1 : Number(u.searchParams.get('page') ?? '1');
      const asked = Number(u.searchParams.get('per_page') ?? '100');
      const per = kind === 'boxes' && net.boxShape === 'results-has-more' ? 4 : Math.min(asked, net.capPerPage ?? asked);
      const items = net[kind].slice((page - 1) * per, page * per);
      if (net.missingPastEnd && page > 1 && items.length === 0) return send(404, { error: 'no such page' });
      setTimeout(() => {
        const more = page * per < net[kind].length;
        if (kind === 'boxes' && net.boxShape === 'data-links') {
          return send(200, { data: items, links: { next: more ? `http://${req.headers.host}/api/boxes?page=${page + 1}&per_page=${per}&via=link` : null } });
        }
        if (kind === 'boxes' && net.boxShape === 'results-has-more') return send(200, { results: items, has_more: more });
        if (kind === 'poles' && net.poleLinks) {
          const more = page * per < net.poles.length;
          const next = net.evilNext ? 'http://169.254.169.254/latest/poles?page=2' : net.loopNext ? `/api/poles?page=1&per_page=${per}` : `/api/poles?page=${page + 1}&per_page=${per}`;
          return send(200, { items, next: more ? next : null });
        }
        send(200, items);
      }, net.delayMs ?? 0);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}/api`;
    const config = loadConfig(ViabilityConfig, {
      DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN,
      ELO_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 9).toString('base64')}`, ELO_ENCRYPTION_ACTIVE_KEY: 'k1', LOG_LEVEL: 'warn',
      EGRESS_ALLOW_PRIVATE: '127.0.0.1/32', UPSTREAM_SYNC_TICK_MS: '200',
    });
    app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'viability', config });
    await app.listen(0, '127.0.0.1');
    await app.get(BusConnection).waitReady(15_000);
    url = await app.getUrl();
    ds = app.get(DataSource);
  });

  afterAll(async () => {
    await app?.close();
    upstream?.closeAllConnections();
    await new Promise((r) => upstream?.close(r));
    await infra?.cleanup();
  });

  const call = <T = Record<string, unknown>>(method: string, path: string, key: string, body?: unknown) => callApi<T>(url, method, path, key, body);

  async function tenant(): Promise<{ id: string; key: string }> {
    const t = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: 'isp' })).body;
    const k = (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'k', permissions: ['viability:check', 'viability:manage'] })).body;
    return { id: t.id, key: k.key };
  }

  /** n boxes on a line going north from HOME, 10 m apart, all deployed with free ports. */
  const boxesNorth = (prefix: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({
      id: `${prefix}-${i}`,
      name: `Caixa ${i}`,
      latitude: HOME.lat + (i * 10) / 111_320,
      longitude: HOME.lng,
      status: 'deployed',
      portCapacity: 8,
      portsInUse: i % 8,
      pole: `${prefix}-P${i % 3}`,
    }));

  it('pages through poles (next links) and boxes (full pages), upserts by external id, reports bad items, token sent and never shown', async () => {
    const t = await tenant();
    const token = 'ozm-3c1b7e0f9d2a4b6c8e0f1a2b';
    const boxes: unknown[] = boxesNorth('SYNC', 23);
    boxes.push({ id: 'BAD-1', name: 'Sem status', latitude: HOME.lat, longitude: HOME.lng, portCapacity: 8 });
    boxes.push({ type: 'Feature', id: 'GEO-1', geometry: { type: 'Point', coordinates: [HOME.lng + 0.0003, HOME.lat] }, properties: { status: 'certified', port_capacity: 16, ports_in_use: 0 } });
    const poles = Array.from({ length: 3 }, (_, i) => ({ external_id: `SYNC-P${i}`, name: `Poste ${i}`, lat: HOME.lat + i / 111_320, lng: HOME.lng }));
    networks.set(`Bearer ${token}`, { boxes, poles, poleLinks: true });

    const put = await call<{ token: string; baseUrl: string; enabled: boolean }>('PUT', '/inventory/upstream', t.key, { baseUrl: upstreamUrl, token, enabled: false, pageSize: 10 });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ baseUrl: upstreamUrl, enabled: false, token: `••••${token.slice(-4)}` });
    const [stored] = await ds.query('SELECT token_sealed FROM viability.upstreams WHERE tenant_id = $1', [t.id]);
    expect(stored.token_sealed).not.toContain(token);

    const before = requests.length;
    const r = await call<{ boxes: { inserted: number; updated: number; pages: number; errors: number }; poles: { inserted: number; pages: number }; errors: Array<{ kind: string; page: number; position: number; externalId: string; reason: string }> }>('POST', '/inventory/sync', t.key);
    expect(r.status).toBe(200);
    expect(r.body.poles).toMatchObject({ inserted: 3, pages: 1 });
    // 25 items, 10 a page: pages of 10, 10, 5.
    expect(r.body.boxes).toMatchObject({ inserted: 24, updated: 0, pages: 3, errors: 1 });
    expect(r.body.errors).toEqual([{ kind: 'boxes', page: 3, position: 4, externalId: 'BAD-1', reason: expect.stringMatching(/status/) }]);
    const mine = requests.slice(before);
    expect(mine.every((q) => q.auth === `Bearer ${token}`)).toBe(true);
    // The poles' `next: null` ends them; the boxes' short third page is followed by a fourth, empty, that tells it was the
    // last (an upstream that says nothing of what follows may serve fewer a page than asked).
    expect(mine.map((q) => q.path)).toEqual([
      '/api/poles?page=1&per_page=10',
      '/api/boxes?page=1&per_page=10', '/api/boxes?page=2&per_page=10', '/api/boxes?page=3&per_page=10', '/api/boxes?page=4&per_page=10',
    ]);

    // The synced network answers checks.
    const check = await call<{ status: string; box: { externalId: string; freePorts: number } }>('POST', '/viability', t.key, HOME);
    expect(check.body).toMatchObject({ status: 'viable', box: { externalId: 'SYNC-0', freePorts: 8 } });

    // Again: same external ids are updated, not duplicated.
    (boxes[0] as { portsInUse: number }).portsInUse = 8;
    const again = await call<{ boxes: { inserted: number; updated: number } }>('POST', '/inventory/sync', t.key);
    expect(again.body.boxes).toEqual(expect.objectContaining({ inserted: 0, updated: 24 }));
    const [n] = await ds.query('SELECT count(*)::int AS n FROM viability.boxes WHERE tenant_id = $1', [t.id]);
    expect(n.n).toBe(24);
    const next = await call<{ box: { externalId: string } }>('POST', '/viability', t.key, HOME);
    expect(next.body.box.externalId).toBe('SYNC-1');

    const view = await call<{ lastStatus: string; token: string; lastResult: { boxes: { updated: number } } }>('GET', '/inventory/upstream', t.key);
    expect(view.body).toMatchObject({ lastStatus: 'ok', lastResult: { boxes: { updated: 24 } } });
    expect(JSON.stringify(view.body)).not.toContain(token);
  });

  it('pages other APIs\' shapes: {data, links.next} with absolute links, and {results, has_more} from one that serves fewer than asked', async () => {
    for (const boxShape of ['data-links', 'results-has-more'] as const) {
      const t = await tenant();
      const token = `shape-${boxShape}-token-0001`;
      networks.set(`Bearer ${token}`, { boxes: boxesNorth(`SH-${boxShape}`, 11), poles: [], boxShape });
      await call('PUT', '/inventory/upstream', t.key, { baseUrl: upstreamUrl, token, enabled: false, pageSize: 5 });
      const before = requests.length;
      const r = await call<{ boxes: { inserted: number; pages: number; errors: number } }>('POST', '/inventory/sync', t.key);
      expect(r.status).toBe(200);
      // 11 boxes: pages of 5 (5, 5, 1) by the links, or of 4 (4, 4, 3) while has_more says so.
      expect({ boxShape, boxes: r.body.boxes }).toEqual({ boxShape, boxes: expect.objectContaining({ inserted: 11, pages: 3, errors: 0 }) });
      const boxPages = requests.slice(before).filter((q) => q.path.startsWith('/api/boxes'));
      expect(boxPages.every((q) => q.auth === `Bearer ${token}`)).toBe(true);
      expect(boxPages.map((q) => q.path)).toEqual(boxShape === 'data-links'
        // The links are followed as given (they carry what the upstream needs), not rebuilt from page numbers.
        ? ['/api/boxes?page=1&per_page=5', '/api/boxes?page=2&per_page=5&via=link', '/api/boxes?page=3&per_page=5&via=link']
        : ['/api/boxes?page=1&per_page=5', '/api/boxes?page=2&per_page=5', '/api/boxes?page=3&per_page=5']);
      const [n] = await ds.query('SELECT count(*)::int AS n FROM viability.boxes WHERE tenant_id = $1', [t.id]);
      expect(n.n).toBe(11);
    }
  });

  it('an upstream listing an external id on two pages: the first is kept, the repeat reported with its page and position', async () => {
    const t = await tenant();
    const token = 'ozm-dup-5e1b7e0f9d2a4b6c8e0f';
    const boxes = boxesNorth('TWICE', 4);
    boxes.push({ ...boxes[1]!, name: 'Caixa repetida' });
    networks.set(`Bearer ${token}`, { boxes, poles: [] });
    await call('PUT', '/inventory/upstream', t.key, { baseUrl: upstreamUrl, token, enabled: false, pageSize: 3 });
    const r = await call<{ boxes: { inserted: number; errors: number }; errors: unknown[] }>('POST', '/inventory/sync', t.key);
    expect(r.status).toBe(200);
    expect(r.body.boxes).toMatchObject({ inserted: 4, errors: 1 });
    expect(r.body.errors).toEqual([{ kind: 'boxes', page: 2, position: 2, externalId: 'TWICE-1', reason: 'external_id TWICE-1 already appears earlier; only the first is imported' }]);
    const [row] = await ds.query(`SELECT name FROM viability.boxes WHERE tenant_id = $1 AND external_id = 'TWICE-1'`, [t.id]);
    expect(row.name).toBe('Caixa 1');
  });

  it('a refused token, an unreachable upstream and a next link leaving the upstream fail with the reason', async () => {
    const t = await tenant();
    expect((await call('POST', '/inventory/sync', t.key)).status).toBe(404);
    expect((await call('PUT', '/inventory/upstream', t.key, { baseUrl: 'ftp://x', token: 'a' })).status).toBe(400);

    await call('PUT', '/inventory/upstream', t.key, { baseUrl: upstreamUrl, token: 'nobody-knows-this', enabled: false });
    const refused = await call<{ detail: string }>('POST', '/inventory/sync', t.key);
    expect(refused.status).toBe(502);
    expect(refused.body.detail).toMatch(/refused the token \(401\)/);
    expect((await call<{ lastStatus: string }>('GET', '/inventory/upstream', t.key)).body.lastStatus).toMatch(/^failed: poles page 1/);

    await call('PUT', '/inventory/upstream', t.key, { baseUrl: 'http://127.0.0.1:1/api', token: 'whatever-token', enabled: false });
    const down = await call<{ detail: string }>('POST', '/inventory/sync', t.key);
    expect(down.status).toBe(502);
    expect(down.body.detail).toMatch(/poles page 1: connect/);

    networks.set('Token evil-one', { boxes: [], poles: boxesNorth('E', 3).map((b) => ({ id: b.id, lat: b.latitude, lng: b.longitude })), poleLinks: true, evilNext: true });
    await call('PUT', '/inventory/upstream', t.key, { baseUrl: upstreamUrl, token: 'Token evil-one', pageSize: 2, enabled: false });
    const evil = await call<{ detail: string }>('POST', '/inventory/sync', t.key);
    expect(evil.status).toBe(502);
    expect(evil.body.detail).toMatch(/leaves the upstream/);
    expect(requests.some((q) => q.path.includes('latest'))).toBe(false);
  });

  it('one sync of a tenant at a time (409), and the schedule runs on one replica only', async () => {
    const t = await tenant();
    const token = 'slow-network-token-0001';
    networks.set(`Bearer ${token}`, { boxes: boxesNorth('SLOW', 30), poles: [], delayMs: 150 });
    await call('PUT', '/inventory/upstream', t.key, { baseUrl: upstreamUrl, token, pageSize: 10, enabled: false });
    const [a, b] = await Promise.all([call('POST', '/inventory/sync', t.key), new Promise((r) => setTimeout(r, 50)).then(() => call('POST', '/inventory/sync', t.key))]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);

    // Another replica holds the scheduler lock: this one skips its pass.
    const sync = app.get(UpstreamSyncService);
    const other = ds.createQueryRunner();
    await other.connect();
    try {
      await other.query(`SELECT pg_advisory_lock(hashtextextended('viability:upstream-scheduler', 0))`);
      expect(await sync.tick()).toBeUndefined();
    } finally {
      await other.query(`SELECT pg_advisory_unlock(hashtextextended('viability:upstream-scheduler', 0))`);
      await other.release();
    }
  });

  it('prune: after a complete sync, what the upstream no longer lists is deleted (not what it sent invalid)', async () => {
    const t = await tenant();
    const token = 'prune-network-token-0001';
    const boxes: Array<Record<string, unknown>> = boxesNorth('PR', 3);
    networks.set(`Bearer ${token}`, { boxes, poles: [{ id: 'PR-P0', lat: HOME.lat, lng: HOME.lng }] });
    await call('PUT', '/inventory/upstream', t.key, { baseUrl: upstreamUrl, token, enabled: false, prune: true });
    const first = await call<{ boxes: { inserted: number; deleted: number } }>('POST', '/inventory/sync', t.key);
    expect(first.body.boxes).toMatchObject({ inserted: 3, deleted: 0 });
    // A box imported by hand, one the upstream drops, one it now sends broken.
    await fetch(`${url}/inventory/import?kind=boxes`, {
      method: 'POST', headers: { authorization: `Bearer ${t.key}`, 'content-type': 'text/csv' },
      body: `external_id,name,lat,lng,status,port_capacity,ports_in_use\nHAND-1,Manual,${HOME.lat},${HOME.lng},deployed,8,0`,
    });
    boxes.splice(2, 1);
    boxes[1] = { ...boxes[1], status: 'exploded' };
    const r = await call<{ boxes: { updated: number; errors: number; deleted: number }; poles: { deleted: number } }>('POST', '/inventory/sync', t.key);
    expect(r.body.boxes).toMatchObject({ updated: 1, errors: 1, deleted: 2 });
    expect(r.body.poles).toMatchObject({ deleted: 0 });
    const left = await ds.query('SELECT external_id FROM viability.boxes WHERE tenant_id = $1 ORDER BY 1', [t.id]);
    expect(left.map((x: { external_id: string }) => x.external_id)).toEqual(['PR-0', 'PR-1']);

    // An upstream that suddenly lists no boxes at all (a wrong path, a token without the scope) prunes none: it says so.
    networks.set(`Bearer ${token}`, { ...networks.get(`Bearer ${token}`)!, boxes: [] });
    const empty = await call<{ boxes: { deleted: number }; notes: string[] }>('POST', '/inventory/sync', t.key);
    expect(empty.body).toMatchObject({ boxes: { deleted: 0 }, notes: ['boxes: the upstream listed none, so none were pruned'] });
    expect(await ds.query('SELECT 1 FROM viability.boxes WHERE tenant_id = $1', [t.id])).toHaveLength(2);

    // A failed sync deletes nothing.
    networks.get(`Bearer ${token}`)!.poles = 'not a list' as unknown as unknown[];
    expect((await call('POST', '/inventory/sync', t.key)).status).toBe(502);
    expect(await ds.query('SELECT 1 FROM viability.boxes WHERE tenant_id = $1', [t.id])).toHaveLength(2);
  });

  it('an upstream serving fewer a page than asked, saying nothing of what follows, is read to its end: prune deletes nothing it lists', async () => {
    const t = await tenant();
    const token = 'capped-network-token-0001';
    const boxes = boxesNorth('CAP', 11);
    networks.set(`Bearer ${token}`, { boxes, poles: [{ id: 'CAP-P0', lat: HOME.lat, lng: HOME.lng }], capPerPage: 4 });
    await call('PUT', '/inventory/upstream', t.key, { baseUrl: upstreamUrl, token, enabled: false, prune: true, pageSize: 10 });
    const first = await call<{ boxes: { inserted: number; pages: number; deleted: number } }>('POST', '/inventory/sync', t.key);
    // Pages of 4, 4, 3 where 10 were asked for: each short page is followed by the next, until one comes back empty.
    expect(first.body.boxes).toMatchObject({ inserted: 11, pages: 3, deleted: 0 });
    // The same from one that answers 404 past its last page: the end, not a failure.
    networks.set(`Bearer ${token}`, { ...networks.get(`Bearer ${token}`)!, missingPastEnd: true });
    const again = await call<{ boxes: { updated: number; deleted: number } }>('POST', '/inventory/sync', t.key);
    expect(again.status).toBe(200);
    expect(again.body.boxes).toMatchObject({ updated: 11, deleted: 0 });
    expect(await ds.query('SELECT 1 FROM viability.boxes WHERE tenant_id = $1', [t.id])).toHaveLength(11);

    // One that does not page at all (the same items whatever page is asked) ends at the repeat, with nothing reported.
    networks.set(`Bearer ${token}`, { boxes: boxes.slice(0, 3), poles: [{ id: 'CAP-P0', lat: HOME.lat, lng: HOME.lng }], noPaging: true });
    const before = requests.length;
    const flat = await call<{ boxes: { updated: number; pages: number; errors: number; deleted: number } }>('POST', '/inventory/sync', t.key);
    expect(flat.body.boxes).toMatchObject({ updated: 3, pages: 1, errors: 0, deleted: 8 });
    expect(requests.slice(before).map((q) => q.path).filter((p) => p.startsWith('/api/boxes'))).toEqual(['/api/boxes?page=1&per_page=10', '/api/boxes?page=2&per_page=10']);
  });

  it('prune keeps an item sent invalid whatever field names its id (externalId, a feature\'s properties), as the import reads it', async () => {
    const t = await tenant();
    const token = 'prune-ids-network-token-01';
    const at = (i: number) => [HOME.lng, HOME.lat + (i * 10) / 111_320];
    const boxes: Array<Record<string, unknown>> = [
      { externalId: 'CAMEL-1', lat: HOME.lat, lng: HOME.lng, status: 'deployed', portCapacity: 8 },
      { type: 'Feature', id: 7, geometry: { type: 'Point', coordinates: at(1) }, properties: { external_id: 'PROP-1', status: 'deployed', port_capacity: 8 } },
      { type: 'Feature', geometry: { type: 'Point', coordinates: at(2) }, properties: { id: 'PROPID-1', status: 'deployed', port_capacity: 8 } },
      { external_id: 'PLAIN-1', lat: HOME.lat, lng: HOME.lng, status: 'deployed', port_capacity: 8 },
    ];
    networks.set(`Bearer ${token}`, { boxes, poles: [] });
    await call('PUT', '/inventory/upstream', t.key, { baseUrl: upstreamUrl, token, enabled: false, prune: true });
    expect((await call<{ boxes: { inserted: number } }>('POST', '/inventory/sync', t.key)).body.boxes).toMatchObject({ inserted: 4 });

    // The upstream now sends the first three broken (a status it made up): they are refused, not taken away.
    for (const b of boxes.slice(0, 3)) {
      if (b.properties) b.properties = { ...(b.properties as object), status: 'exploded' };
      else b.status = 'exploded';
    }
    const r = await call<{ boxes: { updated: number; errors: number; deleted: number }; errors: Array<{ externalId?: string }> }>('POST', '/inventory/sync', t.key);
    expect(r.body.boxes).toMatchObject({ updated: 1, errors: 3, deleted: 0 });
    expect(r.body.errors.map((e) => e.externalId)).toEqual(['CAMEL-1', 'PROP-1', 'PROPID-1']);
    const left = await ds.query('SELECT external_id FROM viability.boxes WHERE tenant_id = $1 ORDER BY 1', [t.id]);
    expect(left.map((x: { external_id: string }) => x.external_id)).toEqual(['CAMEL-1', 'PLAIN-1', 'PROP-1', 'PROPID-1']);
  });

  it('a next link that leads back to a page already read fails the sync (no prune) before asking for it again', async () => {
    const t = await tenant();
    const token = 'loop-network-token-0001';
    const poles = [0, 1, 2].map((i) => ({ id: `LOOP-P${i}`, lat: HOME.lat + i / 111_320, lng: HOME.lng }));
    networks.set(`Bearer ${token}`, { boxes: [], poles, poleLinks: true });
    await call('PUT', '/inventory/upstream', t.key, { baseUrl: upstreamUrl, token, enabled: false, prune: true, pageSize: 1 });
    expect((await call<{ poles: { inserted: number } }>('POST', '/inventory/sync', t.key)).body.poles).toMatchObject({ inserted: 3 });

    // The upstream's paging breaks: every page's next link is the first page again.
    networks.set(`Bearer ${token}`, { boxes: [], poles, poleLinks: true, loopNext: true });
    const before = requests.length;
    const r = await call<{ detail: string }>('POST', '/inventory/sync', t.key);
    expect(r.status).toBe(502);
    expect(r.body.detail).toMatch(/poles page 2: the next link leads back to page 1/);
    expect(requests.length - before).toBe(1);
    // Not a complete sync: the poles on the pages it never reached are still there.
    const left = await ds.query('SELECT external_id FROM viability.poles WHERE tenant_id = $1 ORDER BY 1', [t.id]);
    expect(left.map((x: { external_id: string }) => x.external_id)).toEqual(['LOOP-P0', 'LOOP-P1', 'LOOP-P2']);
  }, 300_000);

  it('syncs on the schedule when the interval is due', async () => {
    const t = await tenant();
    const token = 'scheduled-network-token-01';
    networks.set(`Bearer ${token}`, { boxes: boxesNorth('SCHED', 5), poles: [] });
    await call('PUT', '/inventory/upstream', t.key, { baseUrl: upstreamUrl, token, intervalMinutes: 60 });
    await expectEventually(async () => {
      const [n] = await ds.query('SELECT count(*)::int AS n FROM viability.boxes WHERE tenant_id = $1', [t.id]);
      expect(n.n).toBe(5);
    }, { timeoutMs: 10_000 });
    await expectEventually(async () => expect((await call<{ lastStatus: string }>('GET', '/inventory/upstream', t.key)).body.lastStatus).toBe('ok'));
    // Not due again for an hour: further ticks leave it alone.
    const calls = requests.filter((q) => q.auth === `Bearer ${token}`).length;
    const sync = app.get(UpstreamSyncService);
    await expectEventually(async () => {
      const done = await sync.tick(); // undefined while the timer's own pass holds the lock
      expect(done).toBeDefined();
      expect(done).not.toContain(t.id);
    });
    expect(requests.filter((q) => q.auth === `Bearer ${token}`).length).toBe(calls);
  });
});
