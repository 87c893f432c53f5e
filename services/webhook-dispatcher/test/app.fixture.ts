import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { createEvent, type CloudEvent } from '@elo/contracts';
import { BusConnection } from '@elo/messaging';
import { buildServiceApp, loadConfig } from '@elo/platform';
import type { TestInfra } from '@elo/testing';
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

/** A tenant and an API key with `permissions`, made through the admin API. */
export async function tenantWithKey(url: string, permissions = ['integrations:manage', 'integrations:read']): Promise<{ tenantId: string; key: string }> {
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

export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A local HTTP endpoint standing in for a CRM: records requests, answers with `handler`. */
export class FakeEndpoint {
  readonly received: Received[] = [];
  handler: (r: Received) => { status: number; body?: unknown; headers?: Record<string, string> } = () => ({ status: 200, body: { ok: true } });
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        this.received.push(r);
        const out = this.handler(r);
        const payload = out.body === undefined ? '' : typeof out.body === 'string' ? out.body : JSON.stringify(out.body);
        res.writeHead(out.status, { 'content-type': 'application/json', ...(out.headers ?? {}) });
        res.end(payload);
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
