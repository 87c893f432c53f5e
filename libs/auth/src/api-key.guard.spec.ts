import { ForbiddenException, HttpException, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { ExecutionContext } from '@nestjs/common';
import { Public } from '@elo/observability';
import type { DataSource } from 'typeorm';
import { ApiKeyGuard, presentedKey } from './api-key.guard';
import { newApiKey } from './api-keys';
import { AnyApiKey, RequirePermission, tenantIdOf } from './decorators';
import type { Principal } from './permissions';

const ADMIN = 'A'.repeat(40);
const TENANT = '11111111-1111-4111-8111-111111111111';

class Routes {
  @Public() health() {}
  @RequirePermission('channels:manage') channels() {}
  @RequirePermission('tenants:manage') tenants() {}
  @RequirePermission('keys:manage') keys() {}
  @RequirePermission('dashboard:read') dashboard() {}
  @AnyApiKey() me() {}
  undeclared() {}
}
@RequirePermission('dashboard:read')
class ClassLevel {
  view() {}
}

interface FakeReq {
  headers: Record<string, string>;
  principal?: Principal;
}

function ctx(handler: keyof Routes | 'view', headers: Record<string, string>, type = 'http') {
  const req: FakeReq = { headers };
  const resHeaders: Record<string, string> = {};
  const cls = handler === 'view' ? ClassLevel : Routes;
  const c = {
    getType: () => type,
    getHandler: () => (cls.prototype as unknown as Record<string, unknown>)[handler],
    getClass: () => cls,
    switchToHttp: () => ({ getRequest: () => req, getResponse: () => ({ setHeader: (k: string, v: string) => (resHeaders[k] = v) }) }),
  } as unknown as ExecutionContext;
  return { c, req, resHeaders };
}

/** A DataSource stand-in that answers the guard's one SELECT from an in-memory table. */
function fakeDs(rows: Array<{ prefix: string; hash: string; permissions: string[]; revoked?: boolean }>) {
  const queries: string[] = [];
  const ds = {
    query: async (sql: string, params: unknown[]) => {
      queries.push(sql);
      if (sql.startsWith('UPDATE')) return [];
      return rows
        .filter((r) => r.prefix === params[0] && !r.revoked)
        .map((r) => ({ id: `id-${r.prefix}`, tenant_id: TENANT, hash: r.hash, permissions: r.permissions, stale: false }));
    },
  } as unknown as DataSource;
  return { ds, queries };
}

async function status(p: Promise<boolean>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (e) {
    if (e instanceof HttpException) return e.getStatus();
    throw e;
  }
}

describe('ApiKeyGuard', () => {
  const tenantKey = newApiKey();
  const revokedKey = newApiKey();
  const { ds, queries } = fakeDs([
    { prefix: tenantKey.prefix, hash: tenantKey.hash, permissions: ['channels:manage', 'keys:manage'] },
    { prefix: revokedKey.prefix, hash: revokedKey.hash, permissions: ['channels:manage'], revoked: true },
  ]);
  const guard = new ApiKeyGuard(new Reflector(), ds, ADMIN);
  const bearer = (k: string) => ({ authorization: `Bearer ${k}` });

  it('lets public routes through without a key and without touching the database', async () => {
    queries.length = 0;
    const { c } = ctx('health', {});
    await expect(guard.canActivate(c)).resolves.toBe(true);
    expect(queries).toHaveLength(0);
  });

  it('answers 401 with WWW-Authenticate when no key is presented', async () => {
    const { c, resHeaders } = ctx('channels', {});
    await expect(guard.canActivate(c)).rejects.toBeInstanceOf(UnauthorizedException);
    expect(resHeaders['WWW-Authenticate']).toBe('Bearer');
  });

  it.each([
    ['unknown key', () => bearer(newApiKey().key)],
    ['revoked key', () => bearer(revokedKey.key)],
    ['right prefix, wrong secret', () => bearer(`elo_${tenantKey.prefix}_${'Z'.repeat(32)}`)],
    ['malformed key', () => bearer('not-a-key')],
    ['short admin-looking key', () => bearer('A'.repeat(31))],
  ])('answers 401 for a %s', async (_, headers) => {
    expect(await status(guard.canActivate(ctx('channels', headers()).c))).toBe(401);
  });

  it('accepts Bearer (any case) or x-api-key and sets request.principal', async () => {
    for (const headers of [bearer(tenantKey.key), { authorization: `bearer ${tenantKey.key}` }, { 'x-api-key': tenantKey.key }]) {
      const { c, req } = ctx('channels', headers);
      await expect(guard.canActivate(c)).resolves.toBe(true);
      expect(req.principal).toEqual({ tenantId: TENANT, keyId: `id-${tenantKey.prefix}`, permissions: ['channels:manage', 'keys:manage'], isAdmin: false });
    }
  });

  it('answers 403 when the key lacks the permission, and for routes that declare none (fail closed)', async () => {
    expect(await status(guard.canActivate(ctx('dashboard', bearer(tenantKey.key)).c))).toBe(403);
    expect(await status(guard.canActivate(ctx('view', bearer(tenantKey.key)).c))).toBe(403);
    const undeclared = guard.canActivate(ctx('undeclared', bearer(tenantKey.key)).c);
    await expect(undeclared).rejects.toThrow(ForbiddenException);
    await expect(guard.canActivate(ctx('undeclared', bearer(tenantKey.key)).c)).rejects.toMatchObject({
      response: { detail: 'this route declares no permission' },
    });
  });

  it('an AnyApiKey route takes any valid key (tenant or admin) and still refuses a missing or revoked one', async () => {
    const { c, req } = ctx('me', bearer(tenantKey.key));
    await expect(guard.canActivate(c)).resolves.toBe(true);
    expect(req.principal).toMatchObject({ tenantId: TENANT, isAdmin: false });
    expect(await status(guard.canActivate(ctx('me', bearer(ADMIN)).c))).toBe(200);
    expect(await status(guard.canActivate(ctx('me', {}).c))).toBe(401);
    expect(await status(guard.canActivate(ctx('me', bearer(revokedKey.key)).c))).toBe(401);
  });

  it('honours a controller-level permission', async () => {
    const other = newApiKey();
    const g = new ApiKeyGuard(new Reflector(), fakeDs([{ prefix: other.prefix, hash: other.hash, permissions: ['dashboard:read'] }]).ds, ADMIN);
    expect(await status(g.canActivate(ctx('view', bearer(other.key)).c))).toBe(200);
  });

  it('the bootstrap admin may manage tenants and keys but nothing tenant-scoped', async () => {
    const { c, req } = ctx('tenants', bearer(ADMIN));
    await expect(guard.canActivate(c)).resolves.toBe(true);
    expect(req.principal).toMatchObject({ keyId: 'admin', isAdmin: true });
    expect(req.principal!.tenantId).toBeUndefined();
    expect(await status(guard.canActivate(ctx('keys', bearer(ADMIN)).c))).toBe(200);
    expect(await status(guard.canActivate(ctx('channels', bearer(ADMIN)).c))).toBe(403);
    expect(await status(guard.canActivate(ctx('dashboard', bearer(ADMIN)).c))).toBe(403);
    expect(() => tenantIdOf(req.principal)).toThrow(ForbiddenException);
  });

  it('a tenant key cannot manage tenants', async () => {
    expect(await status(guard.canActivate(ctx('tenants', bearer(tenantKey.key)).c))).toBe(403);
  });

  it('an admin key shorter than 32 characters is ignored', async () => {
    const weak = new ApiKeyGuard(new Reflector(), ds, 'short-admin-key');
    expect(await status(weak.canActivate(ctx('tenants', bearer('short-admin-key')).c))).toBe(401);
  });

  it('ignores non-HTTP contexts (bus consumers authenticate differently)', async () => {
    await expect(guard.canActivate(ctx('channels', {}, 'rpc').c)).resolves.toBe(true);
  });

  it('tenantIdOf returns the tenant of a tenant key', () => {
    expect(tenantIdOf({ tenantId: TENANT, keyId: 'k', permissions: [], isAdmin: false })).toBe(TENANT);
    expect(() => tenantIdOf(undefined)).toThrow(ForbiddenException);
  });

  it('does not cache a key looked up before a revocation it heard of while the lookup ran', async () => {
    const key = newApiKey();
    const table = [{ prefix: key.prefix, hash: key.hash, permissions: ['channels:manage'], revoked: false }];
    let inFlight: (() => void) | undefined;
    const ds = {
      query: async (sql: string, params: unknown[]) => {
        if (sql.startsWith('UPDATE')) return [];
        // The SELECT's snapshot is taken now; the revocation commits (and is announced) before it answers.
        const rows = table
          .filter((r) => r.prefix === params[0] && !r.revoked)
          .map((r) => ({ id: 'k1', tenant_id: TENANT, hash: r.hash, permissions: r.permissions, revoked_at: null, stale: false }));
        await new Promise<void>((resolve) => (inFlight = resolve));
        return rows;
      },
    } as unknown as DataSource;
    const g = new ApiKeyGuard(new Reflector(), ds, ADMIN, 60_000);
    (g as unknown as { listener: { connected: boolean } }).listener = { connected: true };
    const first = g.authenticate(key.key);
    await new Promise((r) => setImmediate(r));
    table[0]!.revoked = true;
    g.forget(); // the NOTIFY of the revoking transaction
    inFlight!();
    await expect(first).resolves.toMatchObject({ keyId: 'k1' });
    const second = g.authenticate(key.key);
    await new Promise((r) => setImmediate(r));
    inFlight?.();
    await expect(second).resolves.toBeUndefined();
  });

  it('presentedKey reads only the supported headers', () => {
    expect(presentedKey({ headers: { authorization: 'Basic abc' } })).toBeUndefined();
    expect(presentedKey({ headers: { authorization: 'Bearer  k1 ' } })).toBe('k1');
    expect(presentedKey({ headers: { 'x-api-key': ' k2 ' } })).toBe('k2');
  });
});
