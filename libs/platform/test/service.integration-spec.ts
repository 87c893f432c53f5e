import { Body, Controller, Module, Param, Post, type INestApplication } from '@nestjs/common';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { createEvent } from '@elo/contracts';
import { BusConnection, BusProbe, leanerMessagingIndexes, messagingTablesSql, Outbox, outboxKeepsOnlyPending, queueNames } from '@elo/messaging';
import { Public } from '@elo/observability';
import { createTestInfra, expectEventually, startTcpProxy, viaProxy, type TcpProxy, type TestInfra } from '@elo/testing';
import { IsString, MaxLength } from 'class-validator';
import { DataSource, type MigrationInterface, type QueryRunner } from 'typeorm';
import { BaseServiceConfig, buildServiceApp, EloServiceModule, loadConfig } from '../src';

class NoteDto {
  @IsString() @MaxLength(100) text!: string;
}

class Init1763800000000 implements MigrationInterface {
  name = 'Init1763800000000';
  async up(q: QueryRunner): Promise<void> {
    for (const sql of messagingTablesSql('platform_test')) await q.query(sql);
    await q.query('CREATE TABLE platform_test.notes (id serial PRIMARY KEY, tenant_id text NOT NULL, text text NOT NULL)');
  }
  async down(): Promise<void> {}
}

/** An endpoint that must store: a note and its event in one transaction. */
@Controller('notes')
class NotesController {
  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
  ) {}

  @Post()
  @RequirePermission('channels:manage')
  create(@CurrentPrincipal() p: Principal, @Body() dto: NoteDto) {
    return this.store(tenantIdOf(p), dto);
  }

  /** The same write behind no API key, as a provider's webhook reaches a service: only the write needs the database. */
  @Post('inbound/:tenantId')
  @Public()
  inbound(@Param('tenantId') tenantId: string, @Body() dto: NoteDto) {
    return this.store(tenantId, dto);
  }

  private async store(tenantId: string, dto: NoteDto) {
    await this.ds.transaction(async (m) => {
      await m.query('INSERT INTO platform_test.notes (tenant_id, text) VALUES ($1, $2)', [tenantId, dto.text]);
      await this.outbox.publish(m, {
        type: 'chat.conversation.closed',
        tenantId,
        data: { conversationId: '00000000-0000-4000-8000-000000000001', channelId: '00000000-0000-4000-8000-000000000002', reason: dto.text },
      });
    });
    return { stored: true };
  }
}

const ADMIN = 'admin-key-for-tests-0123456789-abcdefghij';

describe('a service on the platform', () => {
  let infra: TestInfra;
  let pgProxy: TcpProxy;
  let amqpProxy: TcpProxy;
  let app: INestApplication;
  let base: string;
  let probe: BusProbe;

  beforeAll(async () => {
    infra = await createTestInfra('platform');
    const pg = new URL(infra.databaseUrl);
    pgProxy = await startTcpProxy(pg.hostname, Number(pg.port || 5432));
    const amqp = new URL(infra.amqpUrl);
    amqpProxy = await startTcpProxy(amqp.hostname, Number(amqp.port || 5672));
    const config = loadConfig(BaseServiceConfig, {
      DATABASE_URL: viaProxy(infra.databaseUrl, pgProxy),
      AMQP_URL: viaProxy(infra.amqpUrl, amqpProxy),
      PORT: '0',
      ELO_ADMIN_KEY: ADMIN,
      ELO_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
      ELO_ENCRYPTION_ACTIVE_KEY: 'k1',
      LOG_LEVEL: process.env.ELO_TEST_LOG ?? 'silent',
      BODY_LIMIT_BYTES: '16384',
      RATE_LIMIT_PER_KEY_PER_MINUTE: '100',
    });
    @Module({
      imports: [
        EloServiceModule.forRoot({ service: 'platform-test', schema: 'platform_test', config, entities: [], migrations: [Init1763800000000, leanerMessagingIndexes('platform_test'), outboxKeepsOnlyPending('platform_test')] }),
      ],
      controllers: [NotesController],
    })
    class AppModule {}
    app = await buildServiceApp(AppModule, { service: 'platform-test', title: 'test', config });
    await app.listen(0, '127.0.0.1');
    base = await app.getUrl();
    probe = await BusProbe.connect(infra.amqpUrl, ['chat.conversation.closed']);
  });

  afterAll(async () => {
    await probe?.close();
    await app?.close();
    await pgProxy?.close();
    await amqpProxy?.close();
    await infra?.cleanup();
  });

  const call = (path: string, init: RequestInit & { key?: string; json?: unknown } = {}) =>
    fetch(`${base}${path}`, {
      ...init,
      headers: {
        ...(init.key ? { authorization: `Bearer ${init.key}` } : {}),
        ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(init.headers as Record<string, string>),
      },
      body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
    });

  async function tenantWithKey(permissions: string[]): Promise<{ tenantId: string; key: string; keyId: string }> {
    const t = (await (await call('/tenants', { method: 'POST', key: ADMIN, json: { name: 'Acme' } })).json()) as { id: string };
    const k = (await (await call(`/tenants/${t.id}/keys`, { method: 'POST', key: ADMIN, json: { name: 'ops', permissions } })).json()) as { id: string; key: string };
    return { tenantId: t.id, key: k.key, keyId: k.id };
  }

  it('is live and ready, serves metrics and its OpenAPI document, with security headers', async () => {
    await expectEventually(async () => {
      const r = await call('/health/ready');
      expect(`${r.status} ${await r.text()}`).toMatch(/^200 /);
    });
    const live = await call('/health/live');
    expect(live.status).toBe(200);
    expect(live.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await (await call('/metrics')).text()).toContain('elo_events_published_total');
    const doc = (await (await call('/docs/openapi.json')).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/notes', '/tenants', '/ops/parked-events']));
  });

  it("carries the request's correlation id onto the event it stores, a given one or the one it made and answered", async () => {
    const given = `corr-${Date.now()}`;
    const r1 = await call('/notes/inbound/tenant-corr', { method: 'POST', json: { text: 'corr given' }, headers: { 'x-correlation-id': given } });
    expect(r1.status).toBe(201);
    expect(r1.headers.get('x-correlation-id')).toBe(given);
    const r2 = await call('/notes/inbound/tenant-corr', { method: 'POST', json: { text: 'corr made' } });
    expect(r2.status).toBe(201);
    const made = r2.headers.get('x-correlation-id');
    expect(made).toBeTruthy();
    expect(made).not.toBe(given);
    const byReason = (reason: string) => probe.events.find((e) => e.tenantid === 'tenant-corr' && (e.data as { reason: string }).reason === reason);
    await expectEventually(() => {
      expect(byReason('corr given')?.correlationid).toBe(given);
      expect(byReason('corr made')?.correlationid).toBe(made);
    }, { timeoutMs: 20_000 });
  });

  it("creates each request and response with Express's prototypes, so Express never has to swap them", async () => {
    // Express sets both prototypes on every request; on objects born with them that is a no-op, and V8
    // no longer keeps each request's objects alive into the old generation (ExpressPlatform).
    const express = app.getHttpAdapter().getInstance() as { request: object; response: object };
    const born: boolean[] = [];
    const server = app.getHttpServer() as import('node:http').Server;
    const seen = (req: object, res: object) => born.push(Object.getPrototypeOf(req) === express.request && Object.getPrototypeOf(res) === express.response);
    server.prependListener('request', seen);
    try {
      expect((await call('/health/live')).status).toBe(200);
      expect((await call('/notes', { method: 'POST', json: { text: 'x' } })).status).toBe(401);
    } finally {
      server.off('request', seen);
    }
    expect(born).toEqual([true, true]);
  });

  it('needs a key with the right permission; revocation takes effect at once', async () => {
    expect((await call('/notes', { method: 'POST', json: { text: 'x' } })).status).toBe(401);
    const { tenantId, key, keyId } = await tenantWithKey(['channels:manage']);
    const weak = await tenantWithKey(['dashboard:read']);
    expect((await call('/notes', { method: 'POST', key: weak.key, json: { text: 'x' } })).status).toBe(403);
    const created = await call('/notes', { method: 'POST', key, json: { text: 'hello' } });
    expect(created.status).toBe(201);
    expect(created.headers.get('etag')).toBeNull(); // no digest of every answer for a conditional GET nobody makes
    // the admin key creates tenants but cannot act inside one
    expect((await call('/notes', { method: 'POST', key: ADMIN, json: { text: 'x' } })).status).toBe(403);
    const list = await (await call(`/tenants/${tenantId}/keys`, { key: ADMIN })).json();
    expect(JSON.stringify(list)).not.toContain(key);
    expect((await call(`/tenants/${tenantId}/keys/${keyId}`, { method: 'DELETE', key: ADMIN })).status).toBe(204);
    const after = await call('/notes', { method: 'POST', key, json: { text: 'x' } });
    expect(after.status).toBe(401);
    expect(after.headers.get('content-type')).toContain('application/problem+json');
  });

  it('answers bad input with a 4xx problem that says what is wrong, and stores nothing', async () => {
    const { key } = await tenantWithKey(['channels:manage']);
    const ds = app.get(DataSource);
    const before = await ds.query('SELECT count(*)::int AS n FROM platform_test.notes');
    const bad = await call('/notes', { method: 'POST', key, json: { text: 42, extra: true } });
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { detail: string };
    expect(body.detail).toMatch(/text/);
    expect(body.detail).toMatch(/extra/);
    const malformed = await call('/notes', { method: 'POST', key, headers: { 'content-type': 'application/json' }, body: '{"text":' });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { detail: string }).detail).toMatch(/not valid JSON/);
    const big = await call('/notes', { method: 'POST', key, json: { text: 'x'.repeat(20_000) } });
    expect(big.status).toBe(413);
    const afterRows = await ds.query('SELECT count(*)::int AS n FROM platform_test.notes');
    expect(afterRows[0].n).toBe(before[0].n);
  });

  it('answers a body nested too deep with a 400 problem, behind no key too, and stores nothing', async () => {
    const ds = app.get(DataSource);
    const before = await ds.query('SELECT count(*)::int AS n FROM platform_test.notes');
    // 5 KB of `[`: walking it recursively ran out of stack, a 500 logged as a bug on every such request.
    const body = `{"text":"x","extra":${'['.repeat(2_500)}${']'.repeat(2_500)}}`;
    const res = await call('/notes/inbound/00000000-0000-4000-8000-000000000009', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(((await res.json()) as { detail: string }).detail).toMatch(/^extra(\[0\])+: nested deeper than 64 levels$/);
    const afterRows = await ds.query('SELECT count(*)::int AS n FROM platform_test.notes');
    expect(afterRows[0].n).toBe(before[0].n);
  });

  it('limits requests per API key with 429 and Retry-After, without touching other keys', async () => {
    const a = await tenantWithKey(['channels:manage']);
    const b = await tenantWithKey(['channels:manage']);
    // Sequential requests until the first 429: the bucket refills while they run (a loaded machine
    // makes each one slow), so a fixed count could stay under the limit; the first 100 always pass.
    const statuses: number[] = [];
    while (statuses.length < 1_000 && statuses.at(-1) !== 429) statuses.push((await call('/tenants/x', { key: a.key })).status);
    expect(statuses.at(-1)).toBe(429);
    expect(statuses.slice(0, 100)).not.toContain(429);
    const limited = await call('/tenants/x', { key: a.key });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited.headers.get('content-type')).toContain('application/problem+json');
    expect((await call('/notes', { method: 'POST', key: b.key, json: { text: 'b still works' } })).status).toBe(201);
  });

  it("shows and replays a tenant's own parked events only, never another tenant's", async () => {
    const a = await tenantWithKey(['ops:manage']);
    const b = await tenantWithKey(['ops:manage']);
    const parkedOf = (tenantId: string, reason: string) =>
      createEvent({
        source: 'elo://platform-test', type: 'chat.conversation.closed', tenantId,
        data: { conversationId: '00000000-0000-4000-8000-000000000001', channelId: '00000000-0000-4000-8000-000000000002', reason },
      });
    const ofA = parkedOf(a.tenantId, 'parked of A');
    const ofB = parkedOf(b.tenantId, 'parked of B');
    const ch = await app.get(BusConnection).createConfirmChannel();
    try {
      for (const e of [ofA, ofB]) {
        ch.sendToQueue(queueNames('platform-test').dead, Buffer.from(JSON.stringify(e)), {
          contentType: 'application/cloudevents+json', messageId: e.id, persistent: true,
        });
      }
      await ch.waitForConfirms();
    } finally {
      await ch.close();
    }
    const ids = async (key: string) =>
      ((await (await call('/ops/parked-events', { key })).json()) as Array<{ eventId: string }>).map((p) => p.eventId);
    // confirmed by the broker: in the lot now
    expect(await ids(b.key)).toEqual([ofB.id]);
    expect(await ids(a.key)).toEqual([ofA.id]);
    // A names B's event, then replays "everything": only its own goes back to the queue.
    const named = await call('/ops/parked-events/replay', { method: 'POST', key: a.key, json: { eventIds: [ofB.id] } });
    expect(await named.json()).toEqual({ replayed: 0 });
    const all = await call('/ops/parked-events/replay', { method: 'POST', key: a.key, json: {} });
    expect(await all.json()).toEqual({ replayed: 1 });
    expect(await ids(a.key)).toEqual([]);
    expect(await ids(b.key)).toEqual([ofB.id]);
    // the bootstrap admin reads no tenant's data
    expect((await call('/ops/parked-events', { key: ADMIN })).status).toBe(403);
  });

  it('answers 503 when PostgreSQL is unreachable, publishes nothing, and recovers', async () => {
    const { key } = await tenantWithKey(['channels:manage']);
    await expectEventually(() => expect(probe.events.length).toBeGreaterThan(0)); // earlier note published
    const seen = probe.events.length;
    pgProxy.pause();
    try {
      // With an API key, the key's lookup meets the outage first; behind none, the note's write does.
      for (const res of [
        await call('/notes', { method: 'POST', key, json: { text: 'during outage' } }),
        await call('/notes/inbound/t-outage', { method: 'POST', json: { text: 'during outage' } }),
      ]) {
        expect(res.status).toBe(503);
        expect(res.headers.get('content-type')).toContain('application/problem+json');
      }
      const ready = await call('/health/ready');
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { detail: string }).detail).toMatch(/postgres/);
    } finally {
      pgProxy.resume();
    }
    await expectEventually(async () => expect((await call('/health/ready')).status).toBe(200), { timeoutMs: 20_000 });
    const ds = app.get(DataSource);
    const rows = await ds.query(`SELECT count(*)::int AS n FROM platform_test.notes WHERE text = 'during outage'`);
    expect(rows[0].n).toBe(0);
    expect(probe.events.slice(seen).some((e) => (e.data as { reason: string }).reason === 'during outage')).toBe(false);
    expect((await call('/notes', { method: 'POST', key, json: { text: 'after' } })).status).toBe(201);
    expect((await call('/notes/inbound/t-outage', { method: 'POST', json: { text: 'after, inbound' } })).status).toBe(201);
    await expectEventually(() =>
      expect(probe.events.some((e) => (e.data as { reason: string }).reason === 'after')).toBe(true),
    );
  });

  it('while RabbitMQ is unreachable: not ready (naming rabbitmq), yet a write is stored and answered, and its event goes out once the broker is back', async () => {
    const { key } = await tenantWithKey(['channels:manage']);
    await expectEventually(async () => expect((await call('/health/ready')).status).toBe(200), { timeoutMs: 20_000 });
    amqpProxy.pause();
    try {
      await expectEventually(async () => {
        const ready = await call('/health/ready');
        expect(ready.status).toBe(503);
        expect(((await ready.json()) as { detail: string }).detail).toMatch(/rabbitmq/);
      }, { timeoutMs: 20_000 });
      // The outbox takes the event in the write's transaction: the broker's outage neither fails the request nor loses the event.
      expect((await call('/notes', { method: 'POST', key, json: { text: 'during broker outage' } })).status).toBe(201);
      const ds = app.get(DataSource);
      expect(await ds.query(`SELECT count(*)::int AS n FROM platform_test.notes WHERE text = 'during broker outage'`)).toEqual([{ n: 1 }]);
      expect(await ds.query(`SELECT count(*)::int AS n FROM platform_test.outbox WHERE body LIKE '%during broker outage%'`)).toEqual([{ n: 1 }]);
    } finally {
      amqpProxy.resume();
    }
    await expectEventually(async () => expect((await call('/health/ready')).status).toBe(200), { timeoutMs: 30_000 });
    await expectEventually(
      () => expect(probe.events.filter((e) => (e.data as { reason: string }).reason === 'during broker outage')).toHaveLength(1),
      { timeoutMs: 30_000 },
    );
  }, 90_000);
});
