import {
  Body, Controller, Delete, ForbiddenException, Get, HttpCode, Inject, NotFoundException, Param, ParseUUIDPipe, Post,
  Query,
} from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { API_KEYS_CHANNEL, ApiKeyGuard } from './api-key.guard';
import { newApiKey } from './api-keys';
import { AuditService } from './audit.service';
import { CurrentPrincipal, RequirePermission, tenantIdOf } from './decorators';
import {
  AuditQueryDto, CreatedKeyView, CreateKeyDto, CreateTenantDto, KeyView, RotateKeyDto, TenantView,
} from './dto/auth-admin.dto';
import type { Principal } from './permissions';
import { problem } from './problem';

/** Service name written to audit rows by the admin API (AuthModule.forRoot({ service })). */
export const AUTH_AUDIT_SERVICE = Symbol('AUTH_AUDIT_SERVICE');

interface KeyRow {
  id: string;
  name: string;
  prefix: string;
  permissions: string[];
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
  rotated_from: string | null;
}

const KEY_COLUMNS = 'id, name, prefix, permissions, created_at, last_used_at, revoked_at, rotated_from';

const keyView = (r: KeyRow): KeyView => ({
  id: r.id,
  name: r.name,
  prefix: r.prefix,
  permissions: r.permissions,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
  rotatedFrom: r.rotated_from,
});

/**
 * Tenants, their API keys (shown once, stored hashed) and the audit log.
 * - The bootstrap admin key creates tenants and manages any tenant's keys; it reads no tenant data.
 * - A tenant key with keys:manage manages its own tenant's keys only, and grants only permissions it
 *   holds itself. Another tenant's resources answer 404 (their existence is not revealed).
 * - Rotation issues a new key with the same name and permissions; the old key is revoked at once, or
 *   after `graceSeconds` (at most a day) so deployed clients can switch over.
 */
@ApiTags('tenants and keys')
@ApiBearerAuth()
@Controller()
export class AuthAdminController {
  constructor(
    private readonly ds: DataSource,
    private readonly audit: AuditService,
    @Inject(AUTH_AUDIT_SERVICE) private readonly service: string,
    private readonly guard: ApiKeyGuard,
  ) {}

  @Post('tenants')
  @RequirePermission('tenants:manage')
  @ApiOperation({ summary: 'Create a tenant (bootstrap admin key)' })
  @ApiCreatedResponse({ type: TenantView })
  async createTenant(@CurrentPrincipal() p: Principal, @Body() dto: CreateTenantDto): Promise<TenantView> {
    const id = randomUUID();
    return this.ds.transaction(async (m) => {
      const [row] = (await m.query('INSERT INTO auth.tenants (id, name) VALUES ($1, $2) RETURNING created_at', [
        id,
        dto.name,
      ])) as Array<{ created_at: Date }>;
      await this.record(m, p, id, 'tenant.created', 'tenant', id, undefined, { name: dto.name });
      return { id, name: dto.name, createdAt: row!.created_at };
    });
  }

  @Get('tenants/:tenantId')
  @RequirePermission('keys:manage')
  @ApiOperation({ summary: 'Show a tenant (admin key, or a key of that tenant with keys:manage)' })
  @ApiOkResponse({ type: TenantView })
  async getTenant(@CurrentPrincipal() p: Principal, @Param('tenantId', ParseUUIDPipe) tenantId: string): Promise<TenantView> {
    this.ensureTenantAccess(p, tenantId);
    const rows: Array<{ id: string; name: string; created_at: Date }> = await this.ds.query(
      'SELECT id, name, created_at FROM auth.tenants WHERE id = $1',
      [tenantId],
    );
    if (!rows[0]) throw new NotFoundException(problem(404, 'no such tenant'));
    return { id: rows[0].id, name: rows[0].name, createdAt: rows[0].created_at };
  }

  @Post('tenants/:tenantId/keys')
  @RequirePermission('keys:manage')
  @ApiOperation({ summary: 'Create an API key; the full key is in this answer only' })
  @ApiCreatedResponse({ type: CreatedKeyView })
  async createKey(
    @CurrentPrincipal() p: Principal,
    @Param('tenantId', ParseUUIDPipe) tenantId: string,
    @Body() dto: CreateKeyDto,
  ): Promise<CreatedKeyView> {
    this.ensureTenantAccess(p, tenantId);
    // A tenant key can hand out only permissions it has itself (no escalation through keys:manage).
    if (!p.isAdmin) {
      const extra = dto.permissions.filter((x) => !p.permissions.includes(x));
      if (extra.length) throw new ForbiddenException(problem(403, `cannot grant permissions the key lacks: ${extra.join(', ')}`));
    }
    return this.ds.transaction(async (m) => {
      const t = (await m.query('SELECT 1 FROM auth.tenants WHERE id = $1', [tenantId])) as unknown[];
      if (!t[0]) throw new NotFoundException(problem(404, 'no such tenant'));
      const { key, prefix, hash } = newApiKey();
      const id = randomUUID();
      await m.query(
        'INSERT INTO auth.api_keys (id, tenant_id, name, prefix, hash, permissions) VALUES ($1, $2, $3, $4, $5, $6)',
        [id, tenantId, dto.name, prefix, hash, dto.permissions],
      );
      await this.record(m, p, tenantId, 'key.created', 'api_key', id, undefined, {
        name: dto.name,
        prefix,
        permissions: dto.permissions,
      });
      return { id, key, prefix, name: dto.name, permissions: dto.permissions };
    });
  }

  @Get('tenants/:tenantId/keys')
  @RequirePermission('keys:manage')
  @ApiOperation({ summary: 'List API keys (never their secrets)' })
  @ApiOkResponse({ type: KeyView, isArray: true })
  async listKeys(@CurrentPrincipal() p: Principal, @Param('tenantId', ParseUUIDPipe) tenantId: string): Promise<KeyView[]> {
    this.ensureTenantAccess(p, tenantId);
    const rows: KeyRow[] = await this.ds.query(
      `SELECT ${KEY_COLUMNS} FROM auth.api_keys WHERE tenant_id = $1 ORDER BY created_at, id`,
      [tenantId],
    );
    return rows.map(keyView);
  }

  @Post('tenants/:tenantId/keys/:keyId/rotate')
  @RequirePermission('keys:manage')
  @ApiOperation({
    summary: 'Replace a key: a new key with the same name and permissions; the old one is revoked at once or after graceSeconds',
  })
  @ApiCreatedResponse({ type: CreatedKeyView })
  async rotateKey(
    @CurrentPrincipal() p: Principal,
    @Param('tenantId', ParseUUIDPipe) tenantId: string,
    @Param('keyId', ParseUUIDPipe) keyId: string,
    @Body() dto: RotateKeyDto,
  ): Promise<CreatedKeyView> {
    this.ensureTenantAccess(p, tenantId);
    const grace = dto?.graceSeconds ?? 0;
    return this.changingKeys(async (m) => {
      // TypeORM answers UPDATE … RETURNING with [rows, affected]. A key already in its grace period
      // keeps the earlier end.
      const [rows] = (await m.query(
        `UPDATE auth.api_keys SET revoked_at = LEAST(COALESCE(revoked_at, 'infinity'), now() + make_interval(secs => $3))
          WHERE id = $1 AND tenant_id = $2 AND (revoked_at IS NULL OR revoked_at > now())
          RETURNING ${KEY_COLUMNS}`,
        [keyId, tenantId, grace],
      )) as [KeyRow[], number];
      const old = rows[0];
      if (!old) throw new NotFoundException(problem(404, 'no such active key'));
      if (!p.isAdmin && old.permissions.some((x) => !p.permissions.includes(x))) {
        throw new ForbiddenException(problem(403, 'cannot rotate a key holding permissions this key lacks'));
      }
      const { key, prefix, hash } = newApiKey();
      const id = randomUUID();
      await m.query(
        `INSERT INTO auth.api_keys (id, tenant_id, name, prefix, hash, permissions, rotated_from)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [id, tenantId, old.name, prefix, hash, old.permissions, keyId],
      );
      await this.record(m, p, tenantId, 'key.rotated', 'api_key', keyId, { prefix: old.prefix }, {
        replacementId: id,
        prefix,
        graceSeconds: grace,
      });
      return {
        id, key, prefix, name: old.name, permissions: old.permissions, rotatedFrom: keyId, previousKeyExpiresAt: old.revoked_at,
      };
    });
  }

  @Delete('tenants/:tenantId/keys/:keyId')
  @HttpCode(204)
  @RequirePermission('keys:manage')
  @ApiOperation({ summary: 'Revoke a key (takes effect at once, also for a rotated key in its grace period)' })
  async revokeKey(
    @CurrentPrincipal() p: Principal,
    @Param('tenantId', ParseUUIDPipe) tenantId: string,
    @Param('keyId', ParseUUIDPipe) keyId: string,
  ): Promise<void> {
    this.ensureTenantAccess(p, tenantId);
    await this.changingKeys(async (m) => {
      const [rows] = (await m.query(
        `UPDATE auth.api_keys SET revoked_at = now()
          WHERE id = $1 AND tenant_id = $2 AND (revoked_at IS NULL OR revoked_at > now())
          RETURNING id, prefix`,
        [keyId, tenantId],
      )) as [Array<{ id: string; prefix: string }>, number];
      if (!rows[0]) throw new NotFoundException(problem(404, 'no such active key'));
      await this.record(m, p, tenantId, 'key.revoked', 'api_key', keyId, { prefix: rows[0].prefix }, undefined);
    });
  }

  @Get('audit')
  @RequirePermission('audit:read')
  @ApiOperation({ summary: "The tenant's configuration changes, newest first (cursor: ?before=<nextBefore>)" })
  auditLog(@CurrentPrincipal() p: Principal, @Query() q: AuditQueryDto) {
    return this.audit.list(this.ds.manager, tenantIdOf(p), { before: q.before, limit: q.limit });
  }

  /**
   * A transaction that revokes or rotates keys: it announces the change to every replica's key cache
   * (NOTIFY is delivered only if it commits, and with it), and this replica drops its own at once.
   */
  private async changingKeys<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    const result = await this.ds.transaction(async (m) => {
      const r = await work(m);
      await m.query('SELECT pg_notify($1, \'\')', [API_KEYS_CHANNEL]);
      return r;
    });
    this.guard.forget();
    return result;
  }

  private ensureTenantAccess(p: Principal, tenantId: string): void {
    if (!p.isAdmin && p.tenantId !== tenantId) throw new NotFoundException(problem(404, 'no such tenant'));
  }

  private record(
    m: EntityManager, p: Principal, tenantId: string, action: string, targetType: string, targetId: string,
    before: unknown, after: unknown,
  ): Promise<void> {
    return this.audit.record(m, { tenantId, actorKeyId: p.keyId, service: this.service, action, targetType, targetId, before, after });
  }
}
