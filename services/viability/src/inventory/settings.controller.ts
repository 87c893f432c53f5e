import { Body, Controller, Get, Put } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { AuditService, CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { storable } from '@elo/persistence';
import { givenFields } from '@elo/platform';
import { DataSource } from 'typeorm';
import { ViabilityService } from '../check/viability.service';
import { SettingsDto } from './settings.dto';

@ApiTags('viability settings')
@Controller('settings')
export class SettingsController {
  constructor(
    private readonly ds: DataSource,
    private readonly viability: ViabilityService,
    private readonly audit: AuditService,
  ) {}

  @Get()
  @RequirePermission('viability:manage')
  @ApiOperation({ summary: "The tenant's drop distance, mode, chat checks and reply templates" })
  get(@CurrentPrincipal() p: Principal) {
    return this.viability.settings(this.ds.manager, tenantIdOf(p));
  }

  @Put()
  @RequirePermission('viability:manage')
  @ApiOperation({ summary: 'Change the settings (fields given replace the stored ones)' })
  async put(@CurrentPrincipal() p: Principal, @Body() dto: SettingsDto) {
    const tenantId = tenantIdOf(p);
    const saved = await this.ds.transaction(async (m) => {
      // The stored settings are read, merged with the fields given and written back: two changes at once
      // (each switching another channel) would each write what it read, and one would be lost. One change
      // of a tenant's settings at a time (the row may not exist yet, so it cannot be locked instead).
      await m.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`viability:settings:${tenantId}`]);
      const before = await this.viability.settings(m, tenantId);
      const after = {
        maxDropMeters: dto.maxDropMeters ?? before.maxDropMeters,
        mode: dto.mode ?? before.mode,
        chatLocationChecks: dto.chatLocationChecks ?? before.chatLocationChecks,
        // null removes a channel's override (it follows the tenant-wide switch again)
        chatLocationChannels: Object.fromEntries(
          Object.entries({ ...before.chatLocationChannels, ...(dto.chatLocationChannels ?? {}) }).filter((e): e is [string, boolean] => typeof e[1] === 'boolean'),
        ),
        // A template not given keeps the stored one (the DTO holds every outcome, those not sent as
        // undefined, which a spread would write over it); null takes an outcome back to its default.
        // U+0000 and lone surrogates in a template become U+FFFD (PostgreSQL's jsonb refuses them: a 500).
        replies: Object.fromEntries(
          Object.entries({ ...before.replies, ...givenFields(storable(dto.replies)) }).filter((e): e is [string, string] => typeof e[1] === 'string'),
        ),
      };
      await m.query(
        `INSERT INTO viability.settings (tenant_id, max_drop_m, mode, chat_location_checks, chat_location_channels, replies) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id) DO UPDATE SET max_drop_m = $2, mode = $3, chat_location_checks = $4, chat_location_channels = $5, replies = $6`,
        [tenantId, after.maxDropMeters, after.mode, after.chatLocationChecks, JSON.stringify(after.chatLocationChannels), JSON.stringify(after.replies)],
      );
      await this.audit.record(m, { tenantId, actorKeyId: p.keyId, service: 'viability', action: 'settings.updated', targetType: 'viability_settings', targetId: tenantId, before, after });
      return after;
    });
    this.viability.forget(tenantId);
    return saved;
  }
}
