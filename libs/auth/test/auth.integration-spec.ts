import { randomBytes } from 'node:crypto';
import {
  Body, Controller, Get, Global, Module, Post, ValidationPipe, type INestApplication,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Public } from '@elo/observability';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import request from 'supertest';
import { DataSource } from 'typeorm';
import {
  AuditService, authMigrations, AuthModule, CurrentPrincipal, RequirePermission, SecretBox, tenantIdOf, type Principal,
} from '../src';

/*
 * The auth library against a real PostgreSQL: its migrations, the guard, the admin API and the audit
 * log, in a small Nest app. Each run uses its own database, dropped at the end.
 */

const ADMIN = `admin-${randomBytes(24).toString('hex')}`;
const box = new SecretBox({ t1: randomBytes(32) }, 't1');

@Controller('things')
class ThingsController {
  constructor(
    private readonly ds: DataSource,
    private readonly audit: AuditService,
  ) {}

  @Get()
  @RequirePermission('channels:manage')
  list(@CurrentPrincipal() p: Principal) {
    return { tenantId: tenantIdOf(p) };
  }

  @Get('public')
  @Public()
  open() {
    return { open: true };
  }

  @Get('undeclared')
  undeclared() {
    return { reached: true };
  }

  /** A configuration change with secrets, audited in its transaction; `fail` rolls both back. */
  @Post('configure')
  @RequirePermission('channels:manage')
  async configure(@CurrentPrincipal() p: Principal, @Body() body: { token: string; fail?: boolean }) {
    const tenantId = tenantIdOf(p);
    try {
      await this.ds.transaction(async (m) => {
        await this.audit.record(m, {
          tenantId, actorKeyId: p.keyId, service: 'it', action: body.fail ? 'thing.failed' : 'thing.configured',
          targetType: 'thing', targetId: 't-1',
          before: { accessToken: 'old-token-value', sealed: box.encrypt('old') },
          after: { accessToken: body.token, name: 'visible', nested: { appSecret: 'app-secret-value' }, url: `https://x/cb?token=${body.token}` },
        });
        if (body.fail) throw new Error('rolled back');
      });
    } catch {
      return { rolledBack: true };
    }
    return { ok: true };
  }
}

/** An app with the auth module over `ds`: one replica of a service. */
async function replica(ds: DataSource, keyCacheMs?: number): Promise<INestApplication> {
  @Global()
  @Module({ providers: [{ provide: DataSource, useValue: ds }], exports: [DataSource] })
  class FakePersistenceModule {}

  @Module({
    imports: [FakePersistenceModule, AuthModule.forRoot({ adminApi: true, adminKey: ADMIN, secretBox: box, service: 'auth-it', keyCacheMs })],
    controllers: [ThingsController],
  })
  class AppModule {}

  const app = await NestFactory.create(AppModule, { logger: false });
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  await app.init();
  return app;
}

describe('@elo/auth against PostgreSQL', () => {
  let infra: TestInfra;
  let ds: DataSource;
  let app: INestApplication;
  let http: ReturnType<typeof request>;

  const as = (key: string | undefined) => {
    const auth = (r: request.Test) => (key ? r.set('authorization', `Bearer ${key}`) : r);
    return {
      get: (url: string) => auth(http.get(url)),
      post: (url: string, body?: object) => auth(http.post(url)).send(body ?? {}),
      del: (url: string) => auth(http.delete(url)),
    };
  };
  const admin = () => as(ADMIN);

  async function createTenant(name: string): Promise<string> {
    const res = await admin().post('/tenants', { name }).expect(201);
    return (res.body as { id: string }).id;
  }
  async function createKey(tenantId: string, permissions: string[], by = ADMIN) {
    const res = await as(by).post(`/tenants/${tenantId}/keys`, { name: `key ${permissions.join(' ')}`, permissions }).expect(201);
    return res.body as { id: string; key: string; prefix: string; permissions: string[] };
  }

  beforeAll(async () => {
    infra = await createTestInfra('auth');

    // As libs/persistence runs them: schema `auth`, migrations table auth.migrations.
    ds = new DataSource({
      type: 'postgres', url: infra.databaseUrl, schema: 'auth', migrationsTableName: 'migrations',
      migrations: authMigrations, migrationsTransactionMode: 'each', poolSize: 4,
    });
    await ds.initialize();
    await ds.query('CREATE SCHEMA IF NOT EXISTS auth');
    await ds.runMigrations();

    app = await replica(ds);
    http = request(app.getHttpServer());
  });

  afterAll(async () => {
    await app?.close();
    await ds?.destroy();
    await infra?.cleanup();
  });

  it('migrates into the auth schema with its own migrations table, and again as a no-op', async () => {
    const tables = (await ds.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'auth' ORDER BY table_name`,
    )) as Array<{ table_name: string }>;
    expect(tables.map((t) => t.table_name)).toEqual(['api_keys', 'audit_log', 'migrations', 'tenants']);
    expect(await ds.runMigrations()).toEqual([]);
    const inPublic = (await ds.query(
      `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'migrations'`,
    )) as Array<{ n: number }>;
    expect(inPublic[0]!.n).toBe(0);
  });

  it('needs a key: 401 without or with a bad one; public routes are open; undeclared routes fail closed', async () => {
    await as(undefined).get('/things').expect(401);
    await as('elo_AAAAAAAA_' + 'B'.repeat(32)).get('/things').expect(401);
    await as(undefined).get('/things/public').expect(200, { open: true });
    await admin().get('/things/undeclared').expect(403);
  });

  it('the admin key creates tenants and keys; a key is shown once and works at once', async () => {
    const tenantId = await createTenant('Acme');
    await admin().get(`/tenants/${tenantId}`).expect(200);
    const created = await createKey(tenantId, ['channels:manage']);
    expect(created.key).toMatch(/^elo_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}$/);
    expect(created.key.startsWith(`elo_${created.prefix}_`)).toBe(true);
    await as(created.key).get('/things').expect(200, { tenantId });
    await http.get('/things').set('x-api-key', created.key).expect(200);

    // Stored hashed: the secret is in no column.
    const rows = (await ds.query('SELECT * FROM auth.api_keys WHERE id = $1', [created.id])) as Array<Record<string, unknown>>;
    expect(JSON.stringify(rows)).not.toContain(created.key.slice(13));
    // Listing never shows secrets or hashes.
    const list = await admin().get(`/tenants/${tenantId}/keys`).expect(200);
    expect(JSON.stringify(list.body)).not.toContain(created.key.slice(13));
    expect(list.body[0]).not.toHaveProperty('hash');
    expect(list.body[0]).not.toHaveProperty('key');

    await expectEventually(async () => {
      const [r] = (await ds.query('SELECT last_used_at FROM auth.api_keys WHERE id = $1', [created.id])) as Array<{ last_used_at: Date | null }>;
      expect(r!.last_used_at).not.toBeNull();
    });
  });

  it('the admin key cannot read tenant data, and tenant keys cannot create tenants', async () => {
    const tenantId = await createTenant('Admin limits');
    const key = await createKey(tenantId, ['channels:manage', 'keys:manage', 'audit:read']);
    await admin().get('/things').expect(403);
    await admin().get('/audit').expect(403);
    await as(key.key).post('/tenants', { name: 'nope' }).expect(403);
    await admin().post(`/tenants/${tenantId}/keys`, { name: 'x', permissions: ['tenants:manage'] }).expect(400);
    await admin().post(`/tenants/${tenantId}/keys`, { name: 'x', permissions: ['no:such'] }).expect(400);
    await admin().post(`/tenants/${tenantId}/keys`, { name: 'x', permissions: [] }).expect(400);
  });

  it('403 when the key lacks the permission', async () => {
    const tenantId = await createTenant('Perms');
    const key = await createKey(tenantId, ['dashboard:read']);
    const res = await as(key.key).get('/things').expect(403);
    expect(JSON.stringify(res.body)).toContain('channels:manage');
  });

  it("a tenant key never reaches another tenant's keys or tenant", async () => {
    const a = await createTenant('A');
    const b = await createTenant('B');
    const aKeys = await createKey(a, ['keys:manage', 'channels:manage']);
    const bKey = await createKey(b, ['channels:manage']);
    await as(aKeys.key).get(`/tenants/${b}`).expect(404);
    await as(aKeys.key).get(`/tenants/${b}/keys`).expect(404);
    await as(aKeys.key).post(`/tenants/${b}/keys`, { name: 'x', permissions: ['channels:manage'] }).expect(404);
    await as(aKeys.key).del(`/tenants/${b}/keys/${bKey.id}`).expect(404);
    await as(aKeys.key).post(`/tenants/${a}/keys/${bKey.id}/rotate`).expect(404);
    await as(bKey.key).get('/things').expect(200, { tenantId: b });
    // Own tenant: fine, but no escalation beyond the key's own permissions.
    await as(aKeys.key).get(`/tenants/${a}`).expect(200);
    const own = await createKey(a, ['channels:manage'], aKeys.key);
    await as(own.key).get('/things').expect(200, { tenantId: a });
    await as(aKeys.key).post(`/tenants/${a}/keys`, { name: 'x', permissions: ['telephony:call'] }).expect(403);
  });

  it('GET /auth/me: any valid key learns its tenant, name, prefix and permissions, never the secret; 401 once revoked', async () => {
    const t = await createTenant('Me');
    const k = await createKey(t, ['integrations:read']);
    const res = await as(k.key).get('/auth/me').expect(200);
    expect(res.body).toEqual({
      keyId: k.id, name: 'key integrations:read', prefix: k.prefix, tenantId: t, permissions: ['integrations:read'], isAdmin: false,
    });
    expect(JSON.stringify(res.body)).not.toContain(k.key);
    const adminMe = await admin().get('/auth/me').expect(200);
    expect(adminMe.body).toMatchObject({ keyId: 'admin', tenantId: null, prefix: null, isAdmin: true, permissions: ['tenants:manage', 'keys:manage'] });
    await as(undefined).get('/auth/me').expect(401);
    await admin().del(`/tenants/${t}/keys/${k.id}`).expect(204);
    await as(k.key).get('/auth/me').expect(401);
  });

  it('revocation takes effect at once', async () => {
    const tenantId = await createTenant('Revoke');
    const key = await createKey(tenantId, ['channels:manage']);
    await as(key.key).get('/things').expect(200);
    await admin().del(`/tenants/${tenantId}/keys/${key.id}`).expect(204);
    await as(key.key).get('/things').expect(401);
    await admin().del(`/tenants/${tenantId}/keys/${key.id}`).expect(404);
  });

  it('rotation: same permissions on a new key; old key revoked at once, or after a grace period', async () => {
    const tenantId = await createTenant('Rotate');
    const k1 = await createKey(tenantId, ['channels:manage']);
    const r1 = await admin().post(`/tenants/${tenantId}/keys/${k1.id}/rotate`).expect(201);
    expect(r1.body).toMatchObject({ permissions: ['channels:manage'], rotatedFrom: k1.id });
    await as(k1.key).get('/things').expect(401);
    await as(r1.body.key).get('/things').expect(200);

    const r2 = await admin().post(`/tenants/${tenantId}/keys/${r1.body.id}/rotate`, { graceSeconds: 300 }).expect(201);
    await as(r1.body.key).get('/things').expect(200); // in grace
    await as(r2.body.key).get('/things').expect(200);
    expect(new Date(r2.body.previousKeyExpiresAt).getTime()).toBeGreaterThan(Date.now() + 250_000);
    // Revoking a key in its grace period ends it at once.
    await admin().del(`/tenants/${tenantId}/keys/${r1.body.id}`).expect(204);
    await as(r1.body.key).get('/things').expect(401);
    await admin().post(`/tenants/${tenantId}/keys/${r2.body.id}/rotate`, { graceSeconds: 86_401 }).expect(400);

    const list = (await admin().get(`/tenants/${tenantId}/keys`).expect(200)).body as Array<{ id: string; rotatedFrom: string | null }>;
    expect(list.find((k) => k.id === r2.body.id)?.rotatedFrom).toBe(r1.body.id);
  });

  it("rotation by a tenant key: only of a key whose permissions it holds itself (no escalation through rotate), its own tenant's", async () => {
    const tenantId = await createTenant('Rotate escalation');
    const manager = await createKey(tenantId, ['keys:manage', 'channels:manage']);
    const stronger = await createKey(tenantId, ['channels:manage', 'telephony:call']);
    const weaker = await createKey(tenantId, ['channels:manage']);
    const keysBefore = ((await admin().get(`/tenants/${tenantId}/keys`).expect(200)).body as unknown[]).length;
    // A new key holding telephony:call, which the caller lacks, would be the caller's to use.
    const refused = await as(manager.key).post(`/tenants/${tenantId}/keys/${stronger.id}/rotate`).expect(403);
    expect(refused.body.key).toBeUndefined();
    expect(((await admin().get(`/tenants/${tenantId}/keys`).expect(200)).body as unknown[]).length).toBe(keysBefore);
    await as(stronger.key).get('/things').expect(200); // not revoked either
    // A key whose permissions it holds: rotated.
    const rotated = await as(manager.key).post(`/tenants/${tenantId}/keys/${weaker.id}/rotate`).expect(201);
    expect(rotated.body).toMatchObject({ permissions: ['channels:manage'], rotatedFrom: weaker.id });
    await as(weaker.key).get('/things').expect(401);
    await as(rotated.body.key).get('/things').expect(200);
    // The admin key rotates any key of any tenant, whatever it holds.
    await admin().post(`/tenants/${tenantId}/keys/${stronger.id}/rotate`).expect(201);
  });

  it('400 for a blank tenant or key name, and for a graceSeconds that is not an integer (no conversion)', async () => {
    await admin().post('/tenants', { name: '   ' }).expect(400);
    const tenantId = await createTenant('Bad input');
    await admin().post(`/tenants/${tenantId}/keys`, { name: ' \t ', permissions: ['channels:manage'] }).expect(400);
    const k = await createKey(tenantId, ['channels:manage']);
    for (const graceSeconds of [true, '300', [300], '']) {
      await admin().post(`/tenants/${tenantId}/keys/${k.id}/rotate`, { graceSeconds }).expect(400);
    }
    await as(k.key).get('/things').expect(200); // not rotated
  });

  it('400 for a NUL or a lone surrogate in a tenant or key name (PostgreSQL text or the audit jsonb refused it: a 500), nothing stored', async () => {
    const tenants = async () => ((await ds.query('SELECT count(*)::int AS n FROM auth.tenants')) as Array<{ n: number }>)[0]!.n;
    const before = await tenants();
    for (const name of ['Nul\u0000Telecom', 'Lone \ud800 Telecom']) {
      const res = await admin().post('/tenants', { name }).expect(400);
      expect(JSON.stringify(res.body)).toContain('name must not contain NUL characters (U+0000) or lone surrogates');
    }
    expect(await tenants()).toBe(before);
    const tenantId = await createTenant('Names');
    for (const name of ['key\u0000', '\udc00key']) {
      await admin().post(`/tenants/${tenantId}/keys`, { name, permissions: ['channels:manage'] }).expect(400);
    }
    expect((await admin().get(`/tenants/${tenantId}/keys`).expect(200)).body).toEqual([]);
  });

  describe('with a second replica', () => {
    let b: INestApplication;
    // Long enough that only a notification (or a lost connection) can end a remembered key here.
    beforeAll(async () => {
      b = await replica(ds, 600_000);
    });
    afterAll(async () => {
      await b?.close();
    });
    const onB = (key: string) => request(b.getHttpServer()).get('/things').set('authorization', `Bearer ${key}`);

    it('a replica reuses a key it looked up; a revocation through the admin API on another replica reaches it at once', async () => {
      const tenantId = await createTenant('Replicas');
      const key = await createKey(tenantId, ['channels:manage']);
      await onB(key.key).expect(200);
      // Changed straight in the database (no announcement): replica B still uses what it remembered.
      await ds.query(`UPDATE auth.api_keys SET permissions = '{}' WHERE id = $1`, [key.id]);
      await onB(key.key).expect(200);
      // Revoked through replica A's admin API: B hears it.
      await admin().del(`/tenants/${tenantId}/keys/${key.id}`).expect(204);
      await expectEventually(async () => expect((await onB(key.key)).status).toBe(401));
    });

    it('a rotation through the admin API ends the old key on every replica', async () => {
      const tenantId = await createTenant('Replicas rotate');
      const key = await createKey(tenantId, ['channels:manage']);
      await onB(key.key).expect(200);
      const rotated = await admin().post(`/tenants/${tenantId}/keys/${key.id}/rotate`).expect(201);
      await expectEventually(async () => expect((await onB(key.key)).status).toBe(401));
      await onB(rotated.body.key).expect(200);
    });

    it('when its LISTEN connection drops, a replica forgets the keys it remembered (a notification may be lost)', async () => {
      const tenantId = await createTenant('Replicas lost');
      const key = await createKey(tenantId, ['channels:manage']);
      await onB(key.key).expect(200);
      await ds.query(`UPDATE auth.api_keys SET revoked_at = now() WHERE id = $1`, [key.id]);
      await onB(key.key).expect(200);
      await ds.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'elo-api-keys' AND datname = current_database()`);
      await expectEventually(async () => expect((await onB(key.key)).status).toBe(401));
    });
  });

  it('audit: rows written in the caller transaction, secrets masked, tenant-scoped, cursor-paginated', async () => {
    const tenantId = await createTenant('Audit');
    const key = await createKey(tenantId, ['channels:manage', 'audit:read', 'keys:manage']);
    const other = await createKey(await createTenant('Other'), ['audit:read']);
    const token = `EAAG${randomBytes(8).toString('hex')}`;
    await as(key.key).post('/things/configure', { token }).expect(201, { ok: true });
    await as(key.key).post('/things/configure', { token, fail: true }).expect(201, { rolledBack: true });

    const page = (await as(key.key).get('/audit').expect(200)).body as {
      items: Array<{ action: string; actorKeyId: string; service: string; changes: { before: Record<string, unknown>; after: Record<string, unknown> } }>;
      nextBefore: number | null;
    };
    const actions = page.items.map((i) => i.action);
    expect(actions).toEqual(['thing.configured', 'key.created', 'tenant.created']);
    const configured = page.items[0]!;
    expect(configured.actorKeyId).toBe(key.id);
    expect(configured.changes.after).toMatchObject({ accessToken: '[redacted]', name: 'visible', nested: { appSecret: '[redacted]' } });
    expect(configured.changes.before).toMatchObject({ accessToken: '[redacted]', sealed: '[redacted]' });
    expect(page.items[1]!.service).toBe('auth-it');
    expect(page.items[1]!.actorKeyId).toBe('admin');
    const raw = JSON.stringify(await ds.query('SELECT changes FROM auth.audit_log'));
    expect(raw).not.toContain(token);
    expect(raw).not.toContain('app-secret-value');
    expect(raw).not.toContain(key.key.slice(13));

    const p1 = (await as(key.key).get('/audit?limit=2').expect(200)).body as { items: Array<{ id: number }>; nextBefore: number };
    expect(p1.items).toHaveLength(2);
    const p2 = (await as(key.key).get(`/audit?limit=2&before=${p1.nextBefore}`).expect(200)).body as {
      items: Array<{ id: number; action: string }>;
      nextBefore: number | null;
    };
    expect(p2.items.map((i) => i.action)).toEqual(['tenant.created']);
    expect(p2.nextBefore).toBeNull();

    const foreign = (await as(other.key).get('/audit').expect(200)).body as { items: Array<{ action: string }> };
    expect(foreign.items.map((i) => i.action)).toEqual(['key.created', 'tenant.created']);
  });

  it('audit: a value holding U+0000 or a lone surrogate is recorded with U+FFFD in its place, not a failed write', async () => {
    // JSON carries both and a text column keeps the lone surrogate (as U+FFFD), but jsonb refuses either: the audit
    // row failed, and with it the change it recorded (a 500; a channel named with a lone surrogate, for one).
    const tenantId = await createTenant('Audit text');
    const after = { name: 'a\u0000b \ud800', list: ['\udc00'], ['k\u0000']: 'v' };
    await ds.transaction((m) => app.get(AuditService).record(m, { tenantId, actorKeyId: 'it', service: 'auth-it', action: 'thing.renamed', targetType: 'thing', after }));
    const [row] = (await ds.query(`SELECT changes FROM auth.audit_log WHERE tenant_id = $1 AND action = 'thing.renamed'`, [tenantId])) as Array<{ changes: { after: unknown } }>;
    expect(row!.changes.after).toEqual({ name: 'a\uFFFDb \uFFFD', list: ['\uFFFD'], ['k\uFFFD']: 'v' });
  });

  it('audit: a cursor that is no audit row id (beyond bigint, or in exponent form) is a 400, never a 500', async () => {
    const key = await createKey(await createTenant('Cursor'), ['audit:read']);
    for (const before of ['99999999999999999999', '1e30', '9223372036854775808']) {
      const res = await as(key.key).get(`/audit?before=${before}`);
      expect(`${before}: ${res.status}`).toBe(`${before}: 400`);
    }
    await as(key.key).get('/audit?before=9007199254740991').expect(200);
  });
});
