import { CanActivate, ExecutionContext, ForbiddenException, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { IS_PUBLIC_KEY } from '@elo/observability';
import type { Request } from 'express';
import { DataSource } from 'typeorm';
import { hashKey, parseApiKey, sameHash, sameSecret } from './api-keys';
import { PERMISSION_KEY } from './decorators';
import { ADMIN_PERMISSIONS, type Principal } from './permissions';
import { problem } from './problem';

export const ADMIN_KEY = Symbol('ELO_ADMIN_KEY');

function presentedKey(req: Request): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  const x = req.headers['x-api-key'];
  return typeof x === 'string' ? x.trim() : undefined;
}

/**
 * Every route needs an API key unless marked @Public(). The key is looked up on every request (one
 * indexed row), so a revoked key stops working at once. 401 for no or unknown key, 403 for a key
 * without the route's permission or a route that names none.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly ds: DataSource,
    @Inject(ADMIN_KEY) private readonly adminKey: string,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, targets)) return true;
    const req = ctx.switchToHttp().getRequest<Request & { principal?: Principal }>();
    const key = presentedKey(req);
    if (!key) throw new UnauthorizedException(problem(401, 'an API key is required (Authorization: Bearer <key>)'));
    const principal = await this.authenticate(key);
    if (!principal) throw new UnauthorizedException(problem(401, 'the API key is not valid or was revoked'));
    const needed = this.reflector.getAllAndOverride<string>(PERMISSION_KEY, targets);
    if (!needed) throw new ForbiddenException(problem(403, 'this route declares no permission'));
    if (!principal.permissions.includes(needed)) {
      throw new ForbiddenException(problem(403, `the API key lacks the permission ${needed}`));
    }
    req.principal = principal;
    return true;
  }

  private async authenticate(key: string): Promise<Principal | undefined> {
    if (this.adminKey && sameSecret(key, this.adminKey)) {
      return { keyId: 'admin', permissions: ADMIN_PERMISSIONS, isAdmin: true };
    }
    const parsed = parseApiKey(key);
    if (!parsed) return undefined;
    const rows: Array<{ id: string; tenant_id: string; hash: string; permissions: string[]; stale: boolean }> =
      await this.ds.query(
        `SELECT id, tenant_id, hash, permissions,
                (last_used_at IS NULL OR last_used_at < now() - interval '1 minute') AS stale
           FROM auth.api_keys WHERE prefix = $1 AND revoked_at IS NULL`,
        [parsed.prefix],
      );
    const row = rows[0];
    if (!row || !sameHash(row.hash, hashKey(key))) return undefined;
    // last_used_at to the minute: one write a minute per key, not one per request.
    if (row.stale) void this.ds.query('UPDATE auth.api_keys SET last_used_at = now() WHERE id = $1', [row.id]).catch(() => undefined);
    return { tenantId: row.tenant_id, keyId: row.id, permissions: row.permissions, isAdmin: false };
  }
}
