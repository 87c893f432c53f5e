import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Server as TcpServer } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { createEvent, type CloudEvent, type IntegrationDeliveryOutcome } from '@elo/contracts';
import { BusConnection, type BusProbe } from '@elo/messaging';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { expectEventually, type TestInfra } from '@elo/testing';
import { Client } from 'pg';
import { AppModule, SERVICE } from '../src/app.module';
import { WebhookDispatcherConfig } from '../src/config/webhook-dispatcher.config';

export const ADMIN_KEY = 'a'.repeat(40);

/** A customer's WhatsApp text message (`chat.message.received`) in a conversation of `tenantId`. */
export function messageReceived(tenantId: string, text: string, conversationId = randomUUID()): CloudEvent {
  return createEvent({
    type: 'chat.message.received',
    tenantId,
    source: 'elo://chat-ingress',
    subject: conversationId,
    data: {
      channelId: randomUUID(),
      provider: 'whatsapp',
      conversationId,
      providerMessageId: `wamid.${randomUUID()}`,
      contact: { phone: '+5511999990000', name: 'Ana Souza', attributes: { cpf: '12345678909', email: 'ana@example.com' } },
      message: { kind: 'text', text },
      providerTimestamp: new Date().toISOString(),
    },
  });
}

/** A call that ended (`telephony.call.ended`) in `tenantId`: answered after 42 s on extension 2001, unless `data` says otherwise. */
export function callEnded(tenantId: string, data: { callId?: string; ramal?: string; durationSeconds?: number } = {}): CloudEvent {
  const callId = data.callId ?? `1537276453.${Math.floor(Math.random() * 1e6)}`;
  return createEvent({
    type: 'telephony.call.ended',
    tenantId,
    source: 'elo://telephony-bridge',
    subject: callId,
    data: { profileId: randomUUID(), ramal: '2001', telefone: '+551130000000', durationSeconds: 42, disposition: 'ANSWERED', ...data, callId },
  });
}

export interface RunningApp {
  app: INestApplication;
  url: string;
  close(): Promise<void>;
}

/** The whole service as `npm start` runs it, on a free port, against the test file's own infra (`env`: settings of its own). */
export async function startApp(infra: TestInfra, env: Record<string, string> = {}): Promise<RunningApp> {
  process.env['EGRESS_ALLOW_PRIVATE'] = '127.0.0.1/32';
  const config = loadConfig(WebhookDispatcherConfig, {
    DATABASE_URL: infra.databaseUrl,
    AMQP_URL: infra.amqpUrl,
    PORT: '0',
    ELO_ADMIN_KEY: ADMIN_KEY,
    ELO_ENCRYPTION_KEYS: 'k1:' + Buffer.alloc(32, 7).toString('base64'),
    ELO_ENCRYPTION_ACTIVE_KEY: 'k1',
    EGRESS_ALLOW_PRIVATE: '127.0.0.1/32',
    LOG_LEVEL: 'warn',
    DISPATCHER_POLL_MS: '200',
    DISPATCHER_PER_INTEGRATION_CONCURRENCY: '4',
    ...env,
  });
  const app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'Elo webhook-dispatcher', config });
  await app.listen(0, '127.0.0.1');
  await app.get(BusConnection).waitReady(15_000);
  const addr = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${addr.port}`, close: () => app.close() };
}

async function adminPost<T>(url: string, path: string, body: unknown): Promise<T> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export interface Tenant {
  tenantId: string;
  key: string;
}

/** A tenant and an API key with `permissions`, made through the admin API. */
export async function tenantWithKey(url: string, permissions = ['integrations:manage', 'integrations:read']): Promise<Tenant> {
  const { id } = await adminPost<{ id: string }>(url, '/tenants', { name: `t-${Date.now()}-${Math.random().toString(36).slice(2, 8)}` });
  const { key } = await adminPost<{ key: string }>(url, `/tenants/${id}/keys`, { name: 'integrations', permissions });
  return { tenantId: id, key };
}

export async function keyFor(url: string, tenantId: string, permissions: string[]): Promise<string> {
  return (await adminPost<{ key: string }>(url, `/tenants/${tenantId}/keys`, { name: 'k', permissions })).key;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, checked field by field
export type Body = Record<string, any>;

/** Calls the service's API with a key; answers status and parsed JSON. */
export function api(base: string, key: string) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Body; headers: Headers }> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Body) : {}, headers: res.headers };
  };
}

export type Api = ReturnType<typeof api>;

/** A new tenant with an integrations key (see `tenantWithKey`), and `call` for the API with that key. */
export async function tenantApi(url: string): Promise<{ tenant: Tenant; call: Api }> {
  const tenant = await tenantWithKey(url);
  return { tenant, call: api(url, tenant.key) };
}

/**
 * Waits up to `timeoutMs` until exactly one `type` outcome event the probe saw matches `match`, and answers it.
 */
export async function expectOneOutcome(
  probe: BusProbe,
  type: 'integration.delivery.succeeded' | 'integration.delivery.failed',
  match: (outcome: IntegrationDeliveryOutcome) => boolean,
  timeoutMs: number,
): Promise<CloudEvent<IntegrationDeliveryOutcome>> {
  const matching = () => probe.ofType<IntegrationDeliveryOutcome>(type).filter((e) => match(e.data));
  await expectEventually(() => expect(matching()).toHaveLength(1), { timeoutMs });
  return matching()[0];
}

/** A connection to the test file's database for the length of `use`. */
export async function withDb<T>(infra: TestInfra, use: (db: Client) => Promise<T>): Promise<T> {
  const db = new Client({ connectionString: infra.databaseUrl });
  await db.connect();
  try {
    return await use(db);
  } finally {
    await db.end();
  }
}

/** Starts `server` on a free port of 127.0.0.1; answers the port. */
export const listen = (server: TcpServer): Promise<number> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));

export const closeServer = (server: TcpServer): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

type Closable = { close(): Promise<unknown> } | { cleanup(): Promise<void> } | { end(): Promise<void> };

/**
 * Closes what a test file started, one after the other in the order given (the probe and the apps before the
 * endpoints they call, the infra last); skips what was never started.
 */
export async function closeAll(...started: Array<Closable | undefined>): Promise<void> {
  for (const s of started) {
    if (s === undefined) continue;
    if ('cleanup' in s) await s.cleanup();
    else if ('end' in s) await s.end();
    else await s.close();
  }
}

export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

/** A local HTTP endpoint standing in for a CRM: records requests, answers with `handler`. */
export class FakeEndpoint {
  readonly received: Received[] = [];
  /** The answer to a request; a promise holds the request open until it settles. */
  handler: (r: Received) => Reply | Promise<Reply> = () => ({ status: 200, body: { ok: true } });
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        this.received.push(r);
        void Promise.resolve(this.handler(r)).then((out) => {
          const payload = out.body === undefined ? '' : typeof out.body === 'string' ? out.body : JSON.stringify(out.body);
          res.writeHead(out.status, { 'content-type': 'application/json', ...(out.headers ?? {}) });
          res.end(payload);
        });
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
