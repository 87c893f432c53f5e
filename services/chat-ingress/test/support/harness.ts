import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { CloudEvent } from '@elo/contracts';
import { BusConnection, BusProbe } from '@elo/messaging';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { callApi, createTestInfra, outboxEmpty, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../../src/app.module';
import { ChatIngressConfig } from '../../src/config/chat-ingress.config';
import { ConversationsService, type ConversationRow } from '../../src/conversations/conversations.service';
import { FlowEngine } from '../../src/flow/flow-engine.service';
import { FlowScheduler } from '../../src/flow/flow-scheduler.service';
import { metaSignature } from '../../src/webhooks/signatures';
import { FakeProviders } from './fake-providers';

export const fixture = (name: string): string => readFileSync(join(__dirname, '..', 'fixtures', 'providers', name), 'utf8');

export interface Harness {
  infra: TestInfra;
  app: INestApplication;
  url: string;
  ds: DataSource;
  probe: BusProbe;
  fakes: FakeProviders;
  /** Waits until every event the service had written is on the probe (BusProbe.settled): absence and exact counts are then final. */
  settled(): Promise<void>;
  /** Events on the probe of `type` (call `settled` first for a final count). */
  published<T = Record<string, unknown>>(type?: string | string[]): Array<CloudEvent<T>>;
  /** Headers of an API key with the given permissions, of a fresh tenant or of `tenantId` when given. */
  tenantKey(permissions?: string[], tenantId?: string): Promise<{ tenantId: string; headers: Record<string, string> }>;
  api<T = Record<string, unknown>>(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; body: T }>;
  postMeta(provider: string, channelId: string, raw: string, appSecret: string | null, extra?: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Stops the service and boots a new one on the same database and vhost (a restart), with `env` over the first start's settings. */
  restart(env?: Record<string, string>): Promise<void>;
  /** Boots a second instance on the same database and vhost (another replica); the caller closes it. */
  replica(env?: Record<string, string>): Promise<INestApplication>;
  close(): Promise<void>;
}

/**
 * One flow-scheduler tick on `app` (FlowScheduler.tick), counting only what it did to the test's own conversations: those
 * of `tenantId`, or the `conversations` named. The tick's own counts cover every tenant in the database, so a conversation
 * another test of the file left due would change them. What it did is what the tick calls for each conversation it takes:
 * a wait's timeout (FlowEngine.onWaitTimeout), a reminder (FlowEngine.remind), a close for silence (ConversationsService.close
 * with `inactivity`; a flow's close step, which a timeout may reach, says `bot`).
 */
export async function tickFor(app: INestApplication, own: { tenantId: string } | { conversations: string[] }): Promise<{ timedOut: number; reminded: number; closed: number }> {
  const mine = (c: ConversationRow) => ('tenantId' in own ? c.tenant_id === own.tenantId : own.conversations.includes(c.id));
  const engine = app.get(FlowEngine);
  const timeouts = jest.spyOn(engine, 'onWaitTimeout');
  const reminders = jest.spyOn(engine, 'remind');
  const closes = jest.spyOn(app.get(ConversationsService), 'close');
  try {
    await app.get(FlowScheduler).tick();
    return {
      timedOut: timeouts.mock.calls.filter(([, c]) => mine(c)).length,
      reminded: reminders.mock.calls.filter(([, c]) => mine(c)).length,
      closed: closes.mock.calls.filter(([, c, reason]) => reason === 'inactivity' && mine(c)).length,
    };
  } finally {
    timeouts.mockRestore();
    reminders.mockRestore();
    closes.mockRestore();
  }
}

let tenantSeq = 0;
const ADMIN_KEY = 'a'.repeat(40);

export async function startHarness(label: string, env: Record<string, string> = {}): Promise<Harness> {
  process.env.EGRESS_ALLOW_PRIVATE = '127.0.0.1/32';
  const infra = await createTestInfra(label);
  const fakes = await FakeProviders.start();
  // The scheduled token check's first run (a minute after boot by default) calls the fake providers, refreshes tokens
  // and may race a test's own check when a slow run reaches that minute: a test that wants it sets a short delay itself.
  const settings = {
    TOKEN_CHECK_FIRST_DELAY_MS: '3600000',
    DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '1', ELO_ADMIN_KEY: ADMIN_KEY,
    ELO_ENCRYPTION_KEYS: 'k1:' + Buffer.alloc(32, 7).toString('base64'), ELO_ENCRYPTION_ACTIVE_KEY: 'k1',
    EGRESS_ALLOW_PRIVATE: '127.0.0.1/32', LOG_LEVEL: 'silent', PUBLIC_BASE_URL: 'https://elo.example.com',
    GRAPH_API_BASE_URL: fakes.graph, TELEGRAM_API_BASE_URL: fakes.telegram, SENDER_POLL_MS: '100', ...env,
  };
  const boot = async (more: Record<string, string> = {}) => {
    const config = loadConfig(ChatIngressConfig, { ...settings, ...more });
    const a = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'chat-ingress test', config });
    await a.listen(0, '127.0.0.1');
    await a.get(BusConnection).waitReady(15_000);
    return a;
  };
  let app = await boot();
  let url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const probe = await BusProbe.connect(infra.amqpUrl, ['chat.#', 'integration.requested', 'viability.requested']);
  let ds = app.get(DataSource);

  // url changes on restart: read at each call.
  const api = async <T>(method: string, path: string, headers: Record<string, string>, body?: unknown) => {
    const { status, body: answer } = await callApi<T>(url, method, path, undefined, body, headers);
    return { status, body: answer };
  };

  const h: Harness = {
    infra, app, url, ds, probe, fakes, api,
    settled: () => probe.settled(outboxEmpty(h.ds, 'chat_ingress'), 15_000),
    published<T>(type?: string | string[]) {
      const types = type === undefined ? undefined : [type].flat();
      return probe.events.filter((e) => !types || types.includes(e.type)) as Array<CloudEvent<T>>;
    },
    async restart(more) {
      await app.close();
      app = await boot(more);
      url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
      ds = app.get(DataSource);
      Object.assign(h, { app, url, ds });
    },
    replica: (more) => boot(more),
    async tenantKey(permissions = ['channels:manage', 'messages:send'], existing?: string) {
      const admin = { authorization: `Bearer ${ADMIN_KEY}` };
      let tenantId = existing;
      if (!tenantId) {
        const t = await api<{ id: string }>('POST', '/tenants', admin, { name: `tenant ${++tenantSeq}` });
        if (t.status !== 201) throw new Error(`tenant not created: ${t.status} ${JSON.stringify(t.body)}`);
        tenantId = t.body.id;
      }
      const k = await api<{ key: string }>('POST', `/tenants/${tenantId}/keys`, admin, { name: 'test', permissions });
      if (k.status !== 201) throw new Error(`key not created: ${k.status} ${JSON.stringify(k.body)}`);
      return { tenantId, headers: { authorization: `Bearer ${k.body.key}` } };
    },
    postMeta(provider, channelId, raw, appSecret, extra = {}) {
      const headers: Record<string, string> = { 'content-type': 'application/json', ...extra };
      if (appSecret) headers['x-hub-signature-256'] = metaSignature(Buffer.from(raw, 'utf8'), appSecret);
      return api('POST', `/webhooks/${provider}/${channelId}`, headers, raw);
    },
    async close() {
      await probe.close();
      await app.close();
      await fakes.close();
      await infra.cleanup();
    },
  };
  return h;
}
