import {
  Body, Controller, Delete, ForbiddenException, Get, HttpCode, NotFoundException, Param, ParseUUIDPipe, Post, Query,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { randomUUID } from 'node:crypto';
import { Type } from 'class-transformer';
import { ArrayNotEmpty, ArrayUnique, IsArray, IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { DataSource } from 'typeorm';
import { newApiKey } from './api-keys';
import { AuditService } from './audit.service';
import { CurrentPrincipal, RequirePermission, tenantIdOf } from './decorators';
import { PERMISSIONS, type Principal } from './permissions';
import { problem } from './problem';

class CreateTenantDto {
  @ApiProperty() @IsString() @IsNotEmpty() @MaxLength(200) name!: string;
}

class CreateKeyDto {
  @ApiProperty() @IsString() @IsNotEmpty() @MaxLength(200) name!: string;
  @ApiProperty({ enum: PERMISSIONS, isArray: true })
  @IsArray() @ArrayNotEmpty() @ArrayUnique() @IsIn(PERMISSIONS.filter((p) => p !== 'tenants:manage'), { each: true })
  permissions!: string[];
}

class AuditQuery {
  @ApiPropertyOptional() @IsOptional() @Type(() => Number) @IsInt() @Min(1) before?: number;
  @ApiPropertyOptional() @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500) limit?: number;
}

interface KeyRow {
  id: string;
  name: string;
  prefix: string;
  permissions: string[];
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const keyView = (r: KeyRow) => ({
  id: r.id,
  name: r.name,
  prefix: r.prefix,
  permissions: r.permissions,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
});

/** Tenants and their API keys (shown once, stored hashed), and the audit log. */
@ApiTags('tenants and keys')
@ApiBearerAuth()
@Controller()
export class AuthAdminController {
  constructor(
    private readonly ds: DataSource,
    private readonly audit: AuditService,
  ) {}

  @Post('tenants')
  @RequirePermission('tenants:manage')
  @ApiOperation({ summary: 'Create a tenant (bootstrap admin key)' })
  async createTenant(@CurrentPrincipal() p: Principal, @Body() dto: CreateTenantDto) {
    const id = randomUUID();
    await this.ds.transaction(async (m) => {
      await m.query('INSERT INTO auth.tenants (id, name) VALUES ($1, $2)', [id, dto.name]);
      await this.audit.record(m, { tenantId: id, actorKeyId: p.keyId, service: 'auth', action: 'tenant.created', targetType: 'tenant', targetId: id, after: dto });
    });
    return { id, name: dto.name };
  }

  @Get('tenants/:tenantId')
  @RequirePermission('keys:manage')
  @ApiOperation({ summary: 'Show a tenant' })
  async getTenant(@CurrentPrincipal() p: Principal, @Param('tenantId', ParseUUIDPipe) tenantId: string) {
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
  async createKey(
    @CurrentPrincipal() p: Principal,
    @Param('tenantId', ParseUUIDPipe) tenantId: string,
    @Body() dto: CreateKeyDto,
  ) {
    this.ensureTenantAccess(p, tenantId);
    // A tenant key can hand out only permissions it has itself.
    if (!p.isAdmin) {
      const extra = dto.permissions.filter((x) => !p.permissions.includes(x));
      if (extra.length) throw new ForbiddenException(problem(403, `cannot grant permissions the key lacks: ${extra.join(', ')}`));
    }
    return this.ds.transaction(async (m) => {
      const t = await m.query('SELECT 1 FROM auth.tenants WHERE id = $1', [tenantId]);
      if (!t[0]) throw new NotFoundException(problem(404, 'no such tenant'));
      const { key, prefix, hash } = newApiKey();
      const id = randomUUID();
      await m.query(
        'INSERT INTO auth.api_keys (id, tenant_id, name, prefix, hash, permissions) VALUES ($1, $2, $3, $4, $5, $6)',
        [id, tenantId, dto.name, prefix, hash, dto.permissions],
      );
      await this.audit.record(m, { tenantId, actorKeyId: p.keyId, service: 'auth', action: 'key.created', targetType: 'api_key', targetId: id, after: dto });
      return { id, key, prefix, name: dto.name, permissions: dto.permissions };
    });
  }

  @Get('tenants/:tenantId/keys')
  @RequirePermission('keys:manage')
  @ApiOperation({ summary: 'List API keys (never their secrets)' })
  async listKeys(@CurrentPrincipal() p: Principal, @Param('tenantId', ParseUUIDPipe) tenantId: string) {
    this.ensureTenantAccess(p, tenantId);
    const rows: KeyRow[] = await this.ds.query(
      `SELECT id, name, prefix, permissions, created_at, last_used_at, revoked_at
         FROM auth.api_keys WHERE tenant_id = $1 ORDER BY created_at`,
      [tenantId],
    );
    return rows.map(keyView);
  }

  @Post('tenants/:tenantId/keys/:keyId/rotate')
  @RequirePermission('keys:manage')
  @ApiOperation({ summary: 'Replace a key: a new key with the same permissions; the old one is revoked at once' })
  async rotateKey(
    @CurrentPrincipal() p: Principal,
    @Param('tenantId', ParseUUIDPipe) tenantId: string,
    @Param('keyId', ParseUUIDPipe) keyId: string,
  ) {
    this.ensureTenantAccess(p, tenantId);
    return this.ds.transaction(async (m) => {
      // TypeORM answers UPDATE … RETURNING with [rows, affected].
      const [rows] = (await m.query(
        `UPDATE auth.api_keys SET revoked_at = now() WHERE id = $1 AND tenant_id = $2 AND revoked_at IS NULL
         RETURNING id, name, prefix, permissions, created_at, last_used_at, revoked_at`,
        [keyId, tenantId],
      )) as [KeyRow[], number];
      if (!rows[0]) throw new NotFoundException(problem(404, 'no such active key'));
      const { key, prefix, hash } = newApiKey();
      const id = randomUUID();
      await m.query(
        `INSERT INTO auth.api_keys (id, tenant_id, name, prefix, hash, permissions, rotated_from)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [id, tenantId, rows[0].name, prefix, hash, rows[0].permissions, keyId],
      );
      await this.audit.record(m, { tenantId, actorKeyId: p.keyId, service: 'auth', action: 'key.rotated', targetType: 'api_key', targetId: keyId, after: { newKeyId: id } });
      return { id, key, prefix, name: rows[0].name, permissions: rows[0].permissions, rotatedFrom: keyId };
    });
  }

  @Delete('tenants/:tenantId/keys/:keyId')
  @HttpCode(204)
  @RequirePermission('keys:manage')
  @ApiOperation({ summary: 'Revoke a key (takes effect at once)' })
  async revokeKey(
    @CurrentPrincipal() p: Principal,
    @Param('tenantId', ParseUUIDPipe) tenantId: string,
    @Param('keyId', ParseUUIDPipe) keyId: string,
  ): Promise<void> {
    this.ensureTenantAccess(p, tenantId);
    await this.ds.transaction(async (m) => {
      const [rows] = (await m.query(
        'UPDATE auth.api_keys SET revoked_at = now() WHERE id = $1 AND tenant_id = $2 AND revoked_at IS NULL RETURNING id',
        [keyId, tenantId],
      )) as [Array<{ id: string }>, number];
      if (!rows[0]) throw new NotFoundException(problem(404, 'no such active key'));
      await this.audit.record(m, { tenantId, actorKeyId: p.keyId, service: 'auth', action: 'key.revoked', targetType: 'api_key', targetId: keyId });
    });
  }

  @Get('audit')
  @RequirePermission('audit:read')
  @ApiOperation({ summary: "The tenant's configuration changes, newest first (cursor: ?before=<id>)" })
  async auditLog(@CurrentPrincipal() p: Principal, @Query() q: AuditQuery) {
    const tenantId = tenantIdOf(p);
    const limit = q.limit ?? 100;
    const rows: Array<Record<string, unknown>> = await this.ds.query(
      `SELECT id, actor_key_id, service, action, target_type, target_id, changes, at FROM auth.audit_log
        WHERE tenant_id = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`,
      [tenantId, q.before ?? null, limit],
    );
    return {
      items: rows.map((r) => ({
        id: Number(r.id), actorKeyId: r.actor_key_id, service: r.service, action: r.action,
        targetType: r.target_type, targetId: r.target_id, changes: r.changes, at: r.at,
      })),
      nextBefore: rows.length === limit ? Number(rows[rows.length - 1]!.id) : null,
    };
  }

  private ensureTenantAccess(p: Principal, tenantId: string): void {
    if (!p.isAdmin && p.tenantId !== tenantId) throw new NotFoundException(problem(404, 'no such tenant'));
  }
}
