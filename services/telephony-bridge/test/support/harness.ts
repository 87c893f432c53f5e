import type { INestApplication } from '@nestjs/common';
import { BusConnection, BusProbe } from '@elo/messaging';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { callApi, createTestInfra, expectEventually, outboxEmpty, TEST_REQUEST_PRIVATE_RANGES, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { startPbxSimulator, type PbxSimulator } from './pbx-simulator';
import { AppModule, SERVICE } from '../../src/app.module';
import { TelephonyBridgeConfig } from '../../src/config/telephony-bridge.config';
import { PopHub } from '../../src/screen-pop/pop-hub.service';

export const ADMIN_KEY = 'a'.repeat(40);
export interface ApiAnswer<T> {
  status: number;
  body: T;
  headers: Headers;
}

export interface Tenant {
  tenantId: string;
  key: string;
  headers: Record<string, string>;
}

export interface Harness {
  infra: TestInfra;
  app: INestApplication;
  url: string;
  ds: DataSource;
  probe: BusProbe;
  pbx: PbxSimulator;
  config: TelephonyBridgeConfig;
  tenant(permissions?: string[]): Promise<Tenant>;
  api<T = Record<string, unknown>>(method: string, path: string, headers?: Record<string, string>, body?: unknown): Promise<ApiAnswer<T>>;
  /** A generic-http profile pointing at the simulator (its host named as the private PBX host). */
  profile(t: Tenant, extra?: Record<string, unknown>): Promise<{ id: string; callbackBase: string }>;
  /** Boots one more replica of the service on the same database and vhost. */
  replica(): Promise<{ app: INestApplication; url: string }>;
  /** Waits until every event the service (and its replicas) had written is on the probe (BusProbe.settled). */
  settled(): Promise<void>;
  /** Events of `type` and tenant published so far, counted on the bus once `settled` (so a final count). */
  publishedCount(type: string, tenantId: string): Promise<number>;
  close(): Promise<void>;
}

let seq = 0;

export function testConfig(infra: TestInfra, env: Record<string, string> = {}): TelephonyBridgeConfig {
  return loadConfig(TelephonyBridgeConfig, {
    DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN_KEY,
    ELO_ENCRYPTION_KEYS: 'k1:' + Buffer.alloc(32, 7).toString('base64'), ELO_ENCRYPTION_ACTIVE_KEY: 'k1',
    LOG_LEVEL: 'silent', PUBLIC_BASE_URL: 'https://elo.example.com',
    // Only the TCP peer 127.0.0.1 is a trusted proxy: tests can speak "through a proxy" with X-Forwarded-For.
    TELEPHONY_TRUSTED_PROXIES: '127.0.0.1/32',
    TELEPHONY_PBX_TIMEOUT_MS: '3000', TELEPHONY_RECORDING_TIMEOUT_MS: '20000',
    // The PBX simulator on 127.0.0.1, named as a profile's pbxHost, stands in for a PBX on the ISP's LAN; the
    // deployment's own allow-list (EGRESS_ALLOW_PRIVATE) stays empty, so a profile that does not name it cannot
    // reach it. Pass `EGRESS_REQUEST_PRIVATE_RANGES: ''` for the production default.
    EGRESS_REQUEST_PRIVATE_RANGES: TEST_REQUEST_PRIVATE_RANGES,
    ...env,
  });
}

export async function bootApp(config: TelephonyBridgeConfig): Promise<{ app: INestApplication; url: string }> {
  const app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'telephony-bridge test', config });
  await app.listen(0, '127.0.0.1');
  await app.get(BusConnection).waitReady(15_000);
  await app.get(PopHub).ready();
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return { app, url };
}

export async function startHarness(label: string, env: Record<string, string> = {}): Promise<Harness> {
  // No EGRESS_ALLOW_PRIVATE: the simulator on 127.0.0.1 is reachable only through a profile's pbxHost
  // (which TEST_REQUEST_PRIVATE_RANGES lets open loopback).
  delete process.env.EGRESS_ALLOW_PRIVATE;
  const infra = await createTestInfra(label);
  const pbx = await startPbxSimulator();
  const config = testConfig(infra, env);
  const { app, url } = await bootApp(config);
  const probe = await BusProbe.connect(infra.amqpUrl, ['telephony.#']);
  const ds = app.get(DataSource);
  const replicas: INestApplication[] = [];

  const api = <T>(method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<ApiAnswer<T>> =>
    callApi<T>(url, method, path, undefined, body, headers);

  const h: Harness = {
    infra, app, url, ds, probe, pbx, config, api,
    async tenant(permissions = ['telephony:manage', 'telephony:call', 'telephony:recordings']) {
      const admin = { authorization: `Bearer ${ADMIN_KEY}` };
      const t = await api<{ id: string }>('POST', '/tenants', admin, { name: `tenant ${++seq}` });
      if (t.status !== 201) throw new Error(`tenant not created: ${t.status} ${JSON.stringify(t.body)}`);
      const k = await api<{ key: string }>('POST', `/tenants/${t.body.id}/keys`, admin, { name: 'test', permissions });
      if (k.status !== 201) throw new Error(`key not created: ${k.status} ${JSON.stringify(k.body)}`);
      return { tenantId: t.body.id, key: k.body.key, headers: { authorization: `Bearer ${k.body.key}` } };
    },
    async profile(t, extra = {}) {
      const r = await api<{ id: string }>('POST', '/pbx-profiles', t.headers, {
        name: `pbx ${++seq}`, preset: 'generic-http', baseUrl: pbx.url, pbxHost: '127.0.0.1',
        allowedCidrs: ['127.0.0.1/32'], ...extra,
      });
      if (r.status !== 201) throw new Error(`profile not created: ${r.status} ${JSON.stringify(r.body)}`);
      return { id: r.body.id, callbackBase: `${url}/telephony/${r.body.id}` };
    },
    async replica() {
      const r = await bootApp(config);
      replicas.push(r.app);
      return r;
    },
    settled: () => probe.settled(outboxEmpty(ds, 'telephony'), 15_000),
    async publishedCount(type, tenantId) {
      await h.settled();
      return probe.ofType(type).filter((e) => e.tenantid === tenantId).length;
    },
    async close() {
      await probe.close();
      for (const r of replicas) await r.close();
      await app.close();
      await pbx.close();
      await infra.cleanup();
    },
  };
  return h;
}

/** A minimal Server-Sent Events reader over fetch (headers allowed, unlike EventSource). */
export interface SseClient {
  status: number;
  events: Array<{ event: string; data: Record<string, unknown>; at: number }>;
  /** The last `id:` received, as an EventSource would send it back in Last-Event-ID when it reconnects. */
  lastEventId?: string;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const ctrl = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: ctrl.signal });
  const client: SseClient = { status: res.status, events: [], close: () => ctrl.abort() };
  if (res.status !== 200 || !res.body) {
    await res.text().catch(() => undefined);
    return client;
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  void (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        buf += decoder.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
            else if (line.startsWith('id: ')) client.lastEventId = line.slice(4);
          }
          if (data) client.events.push({ event, data: JSON.parse(data) as Record<string, unknown>, at: performance.now() });
        }
      }
    } catch {
      /* aborted */
    }
  })();
  return client;
}

/**
 * Holds every write to `table` (LOCK … IN SHARE MODE, in a transaction of its own) until released: a statement that
 * writes to it waits, visibly in pg_stat_activity, with nothing of its transaction committed.
 */
export async function holdWrites(ds: DataSource, table: string): Promise<{ release(): Promise<void> }> {
  const holder = ds.createQueryRunner();
  await holder.connect();
  await holder.startTransaction();
  await holder.query(`LOCK TABLE ${table} IN SHARE MODE`);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await holder.rollbackTransaction();
      await holder.release();
    },
  };
}

/** The backend of the one session waiting for a lock with a statement LIKE `pattern`, once there is one. */
export function waitingOnLock(ds: DataSource, pattern: string): Promise<number> {
  return expectEventually(async () => {
    const rows: Array<{ pid: number }> = await ds.query(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`, [pattern]);
    expect(rows).toHaveLength(1);
    return rows[0].pid;
  }, { timeoutMs: 30_000 });
}
