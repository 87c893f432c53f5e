import { CanActivate, ExecutionContext, ForbiddenException, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { IS_PUBLIC_KEY } from '@elo/observability';
import type { Request, Response } from 'express';
import { DataSource } from 'typeorm';
import { hashKey, parseApiKey, sameHash } from './api-keys';
import { ANY_API_KEY, PERMISSION_KEY } from './decorators';
import { ADMIN_PERMISSIONS, type Principal } from './permissions';
import { problem } from './problem';

/** Injection token of the bootstrap admin key (ELO_ADMIN_KEY). */
export const ADMIN_KEY = Symbol('ELO_ADMIN_KEY');

/** The bootstrap admin key counts only when it is long enough to be a secret. */
export const MIN_ADMIN_KEY_LENGTH = 32;

/** `Authorization: Bearer <key>` (scheme case-insensitive) or `x-api-key: <key>`. */
export function presentedKey(req: Pick<Request, 'headers'>): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const x = req.headers['x-api-key'];
  return typeof x === 'string' && x.trim() ? x.trim() : undefined;
}

interface KeyRow {
  id: string;
  tenant_id: string;
  hash: string;
  permissions: string[];
  stale: boolean;
}

/**
 * Every route needs an API key unless marked @Public() (observability's IS_PUBLIC_KEY). The key is
 * looked up on every request (one indexed row, no cache), so a revoked key stops working at once.
 * 401 for no, unknown or revoked key; 403 for a key without the route's permission, and for a route
 * that declares none (fail closed).
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  /** The bootstrap admin key's digest, when one long enough is configured. */
  private readonly adminHash?: string;

  constructor(
    private readonly reflector: Reflector,
    private readonly ds: DataSource,
    @Inject(ADMIN_KEY) adminKey: string,
  ) {
    if (adminKey && adminKey.length >= MIN_ADMIN_KEY_LENGTH) this.adminHash = hashKey(adminKey);
  }

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, targets)) return true;
    const http = ctx.switchToHttp();
    const req = http.getRequest<Request & { principal?: Principal }>();
    const key = presentedKey(req);
    if (!key) this.unauthorized(http.getResponse<Response>(), 'an API key is required (Authorization: Bearer <key>)');
    const principal = await this.authenticate(key);
    if (!principal) this.unauthorized(http.getResponse<Response>(), 'the API key is not valid or was revoked');
    const needed = this.reflector.getAllAndOverride<string | undefined>(PERMISSION_KEY, targets);
    if (!needed && this.reflector.getAllAndOverride<boolean>(ANY_API_KEY, targets)) {
      req.principal = principal;
      return true;
    }
    if (!needed) throw new ForbiddenException(problem(403, 'this route declares no permission'));
    if (!principal.permissions.includes(needed)) {
      throw new ForbiddenException(problem(403, `the API key lacks the permission ${needed}`));
    }
    req.principal = principal;
    return true;
  }

  /** The principal a key stands for, or undefined when it is unknown or revoked. */
  async authenticate(key: string): Promise<Principal | undefined> {
    // One digest a request, compared in constant time with the admin key's and with the stored one.
    const hash = hashKey(key);
    if (this.adminHash && sameHash(hash, this.adminHash)) {
      return { keyId: 'admin', permissions: ADMIN_PERMISSIONS, isAdmin: true };
    }
    const parsed = parseApiKey(key);
    if (!parsed) return undefined;
    // revoked_at in the future: a rotated key still inside its grace period.
    const rows: KeyRow[] = await this.ds.query(
      `SELECT id, tenant_id, hash, permissions,
              (last_used_at IS NULL OR last_used_at < now() - interval '1 minute') AS stale
         FROM auth.api_keys
        WHERE prefix = $1 AND (revoked_at IS NULL OR revoked_at > now())`,
      [parsed.prefix],
    );
    const row = rows[0];
    if (!row || !sameHash(row.hash, hash)) return undefined;
    // last_used_at to the minute: one write a minute per key, not one per request.
    if (row.stale) {
      void this.ds.query('UPDATE auth.api_keys SET last_used_at = now() WHERE id = $1', [row.id]).catch(() => undefined);
    }
    return { tenantId: row.tenant_id, keyId: row.id, permissions: row.permissions, isAdmin: false };
  }

  private unauthorized(res: Response | undefined, detail: string): never {
    res?.setHeader?.('WWW-Authenticate', 'Bearer');
    throw new UnauthorizedException(problem(401, detail));
  }
}
