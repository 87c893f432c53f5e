import type { INestApplication } from '@nestjs/common';
import { BusConnection } from '@elo/messaging';
import { buildServiceApp, loadConfig } from '@elo/platform';
import type { TestInfra } from '@elo/testing';
import { AppModule, SERVICE } from '../src/app.module';
import { MessageStatusConfig } from '../src/config/message-status.config';

export const ADMIN_KEY = 'a'.repeat(40);

export interface RunningApp {
  app: INestApplication;
  url: string;
  close(): Promise<void>;
}

/** The whole service as `npm start` runs it, on a free port, against the test file's own infra. */
export async function startApp(infra: TestInfra): Promise<RunningApp> {
  const config = loadConfig(MessageStatusConfig, {
    DATABASE_URL: infra.databaseUrl,
    AMQP_URL: infra.amqpUrl,
    PORT: '0',
    ELO_ADMIN_KEY: ADMIN_KEY,
    ELO_ENCRYPTION_KEYS: 'k1:' + Buffer.alloc(32, 7).toString('base64'),
    ELO_ENCRYPTION_ACTIVE_KEY: 'k1',
    EGRESS_ALLOW_PRIVATE: '127.0.0.1/32',
    LOG_LEVEL: 'warn',
  });
  const app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'Elo message-status', config });
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
export async function tenantWithKey(url: string, permissions = ['dashboard:read']): Promise<{ tenantId: string; key: string }> {
  const { id } = await adminPost<{ id: string }>(url, '/tenants', { name: `t-${Date.now()}-${Math.random().toString(36).slice(2, 8)}` });
  const { key } = await adminPost<{ key: string }>(url, `/tenants/${id}/keys`, { name: 'dashboard', permissions });
  return { tenantId: id, key };
}
