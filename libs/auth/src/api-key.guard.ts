import {
  CanActivate, ExecutionContext, ForbiddenException, Inject, Injectable, Optional, UnauthorizedException,
  type OnApplicationBootstrap, type OnApplicationShutdown,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { createLogger, IS_PUBLIC_KEY } from '@elo/observability';
import { PgListener } from '@elo/persistence';
import type { Request, Response } from 'express';
import { DataSource } from 'typeorm';
import { hashKey, parseApiKey, sameHash } from './api-keys';
import { ANY_API_KEY, PERMISSION_KEY } from './decorators';
import { ADMIN_PERMISSIONS, type Principal } from './permissions';
import { problem } from './problem';

/** Injection token of the bootstrap admin key (ELO_ADMIN_KEY). */
export const ADMIN_KEY = Symbol('ELO_ADMIN_KEY');

/** Injection token of how long a replica may reuse a looked-up key (ms; 0: look it up on every request). */
export const KEY_CACHE_MS = Symbol('ELO_KEY_CACHE_MS');

/** Default of KEY_CACHE_MS: the bound for key changes made outside the admin API (straight in the database). */
export const DEFAULT_KEY_CACHE_MS = 30_000;

/** NOTIFY channel on which the admin API announces revoked and rotated keys to every replica. */
export const API_KEYS_CHANNEL = 'elo_auth_api_keys';

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
  revoked_at: Date | null;
  stale: boolean;
}

interface CachedKey {
  principal: Principal;
  /** Reused until then: the cache period, or the end of a rotated key's grace period if sooner. */
  until: number;
  /** When last_used_at was last written (one write a minute per key). */
  touched: number;
}

/** Keys a replica remembers at most (a digest and a principal each). */
const KEY_CACHE_MAX = 10_000;
const MINUTE_MS = 60_000;

/**
 * Every route needs an API key unless marked @Public() (observability's IS_PUBLIC_KEY).
 * 401 for no, unknown or revoked key; 403 for a key without the route's permission, and for a route
 * that declares none (fail closed).
 *
 * A key found valid is reused for up to KEY_CACHE_MS instead of being looked up on every request (a
 * PostgreSQL round trip per API call). Revoking or rotating a key through the admin API announces it on
 * API_KEYS_CHANNEL in the same transaction, and every replica drops its cache when it hears that; the
 * replica that made the change drops it at once. The cache is used only while this replica is listening
 * (and emptied when the connection comes back, as notifications may have been missed), so a revocation
 * through the API reaches every replica within the notification's delivery (milliseconds; up to ~10 s on a
 * replica whose connection died silently, until PgListener's check finds it); a change made straight in the
 * database, within KEY_CACHE_MS.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = createLogger('api-keys');
  /** The bootstrap admin key's digest, when one long enough is configured. */
  private readonly adminHash?: string;
  private readonly cache = new Map<string, CachedKey>();
  private readonly cacheMs: number;
  /** Bumped by every forget(): a lookup that started before one may have read a key since revoked. */
  private generation = 0;
  /** Long-lived streams (SSE) per key id, ended when their key can no longer be used (watchKey). */
  private readonly watched = new Map<string, Set<() => void>>();
  /** When each watched key's rotation grace ends (a timer ends its streams then). */
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();
  private listener?: PgListener;

  constructor(
    private readonly reflector: Reflector,
    private readonly ds: DataSource,
    @Inject(ADMIN_KEY) adminKey: string,
    @Optional() @Inject(KEY_CACHE_MS) cacheMs?: number,
  ) {
    if (adminKey && adminKey.length >= MIN_ADMIN_KEY_LENGTH) this.adminHash = hashKey(adminKey);
    this.cacheMs = cacheMs ?? DEFAULT_KEY_CACHE_MS;
  }

  async onApplicationBootstrap(): Promise<void> {
    const url = (this.ds.options as { url?: string }).url;
    if (this.cacheMs <= 0 || !url) return;
    this.listener = new PgListener({
      databaseUrl: url,
      channels: [API_KEYS_CHANNEL],
      applicationName: 'elo-api-keys',
      onNotification: () => this.forget(),
      onConnected: () => this.forget(),
      onLost: (err) => {
        this.forget();
        this.logger.warn({ err: err.message }, 'API key LISTEN connection lost; looking keys up on every request until it is back');
      },
    });
    await this.listener.start();
  }

  async onApplicationShutdown(): Promise<void> {
    for (const t of this.graceTimers.values()) clearTimeout(t);
    await this.listener?.stop();
  }

  /** Drops every remembered key (a key was revoked or rotated, here or on another replica). */
  forget(): void {
    this.generation++;
    this.cache.clear();
    if (this.watched.size) void this.checkWatched();
  }

  /**
   * Whether the key `keyId` can still be used (not revoked, or inside a rotated key's grace period). For credentials
   * derived from a key and checked later without it (a stream token): the key may have been taken away meanwhile.
   */
  async keyUsable(keyId: string): Promise<boolean> {
    if (keyId === 'admin') return Boolean(this.adminHash);
    const rows: unknown[] = await this.ds.query(
      'SELECT 1 FROM auth.api_keys WHERE id = $1::uuid AND (revoked_at IS NULL OR revoked_at > now())',
      [keyId],
    );
    return rows.length > 0;
  }

  /**
   * Calls `end` once the key `keyId` can no longer be used: revoked or rotated through the admin API (heard at
   * once, as the cache is), or at the end of its rotation's grace period. For streams that stay open long
   * after the request that opened them was authenticated (screen pop, live dashboards): a key taken from
   * someone must stop what it is already receiving. Returns the function that stops watching.
   */
  watchKey(keyId: string, end: () => void): () => void {
    if (keyId === 'admin') return () => undefined;
    let ends = this.watched.get(keyId);
    if (!ends) {
      this.watched.set(keyId, (ends = new Set()));
      void this.checkWatched([keyId]);
    }
    ends.add(end);
    return () => {
      ends.delete(end);
      if (ends.size === 0 && this.watched.get(keyId) === ends) {
        this.watched.delete(keyId);
        clearTimeout(this.graceTimers.get(keyId));
        this.graceTimers.delete(keyId);
      }
    };
  }

  /** Ends the streams of watched keys that are revoked; a key in its grace period ends them when it is over. */
  private async checkWatched(ids = [...this.watched.keys()]): Promise<void> {
    const rows = (await this.ds
      .query('SELECT id, revoked_at FROM auth.api_keys WHERE id = ANY($1::uuid[])', [ids])
      .catch((err: Error) => {
        this.logger.warn({ err: err.message }, 'could not check the keys of open streams; they are checked again at the next key change');
        return undefined;
      })) as Array<{ id: string; revoked_at: Date | null }> | undefined;
    if (!rows) return;
    const revokedAt = new Map(rows.map((r) => [r.id, r.revoked_at ? new Date(r.revoked_at).getTime() : null]));
    const now = Date.now();
    for (const id of ids) {
      const at = revokedAt.has(id) ? revokedAt.get(id)! : now;
      if (at === null) continue;
      clearTimeout(this.graceTimers.get(id));
      this.graceTimers.delete(id);
      if (at <= now) this.endStreams(id);
      else this.graceTimers.set(id, setTimeout(() => this.endStreams(id), at - now).unref());
    }
  }

  private endStreams(keyId: string): void {
    const ends = this.watched.get(keyId);
    this.watched.delete(keyId);
    this.graceTimers.delete(keyId);
    for (const end of ends ?? []) end();
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
    const now = Date.now();
    const hit = this.cache.get(hash);
    if (hit && hit.until > now && this.listener?.connected) {
      if (now - hit.touched >= MINUTE_MS) {
        hit.touched = now;
        this.touch(hit.principal.keyId);
      }
      return hit.principal;
    }
    if (hit) this.cache.delete(hash);
    const parsed = parseApiKey(key);
    if (!parsed) return undefined;
    const generation = this.generation;
    // revoked_at in the future: a rotated key still inside its grace period.
    const rows: KeyRow[] = await this.ds.query(
      `SELECT id, tenant_id, hash, permissions, revoked_at,
              (last_used_at IS NULL OR last_used_at < now() - interval '1 minute') AS stale
         FROM auth.api_keys
        WHERE prefix = $1 AND (revoked_at IS NULL OR revoked_at > now())`,
      [parsed.prefix],
    );
    const row = rows[0];
    if (!row || !sameHash(row.hash, hash)) return undefined;
    // last_used_at to the minute: one write a minute per key, not one per request.
    if (row.stale) this.touch(row.id);
    const principal: Principal = { tenantId: row.tenant_id, keyId: row.id, permissions: row.permissions, isAdmin: false };
    // Not cached when a change was announced while the SELECT ran: its snapshot may predate the revocation.
    if (this.listener?.connected && generation === this.generation) {
      if (this.cache.size >= KEY_CACHE_MAX) this.cache.clear();
      const until = Math.min(now + this.cacheMs, row.revoked_at ? new Date(row.revoked_at).getTime() : Infinity);
      this.cache.set(hash, { principal, until, touched: now });
    }
    return principal;
  }

  private touch(keyId: string): void {
    void this.ds.query('UPDATE auth.api_keys SET last_used_at = now() WHERE id = $1', [keyId]).catch(() => undefined);
  }

  private unauthorized(res: Response | undefined, detail: string): never {
    res?.setHeader?.('WWW-Authenticate', 'Bearer');
    throw new UnauthorizedException(problem(401, detail));
  }
}
