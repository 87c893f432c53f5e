import { Body, Controller, Delete, Get, HttpCode, Post, Put } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { AuditService, CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { DataSource } from 'typeorm';
import { UpstreamDto } from './upstream.dto';
import { UpstreamSyncService } from './upstream-sync.service';

@ApiTags('inventory')
@Controller('inventory')
export class UpstreamController {
  constructor(
    private readonly sync: UpstreamSyncService,
    private readonly ds: DataSource,
    private readonly audit: AuditService,
  ) {}

  @Get('upstream')
  @RequirePermission('viability:manage')
  @ApiOperation({ summary: 'The upstream network-documentation system (token masked) and how its last sync went' })
  get(@CurrentPrincipal() p: Principal) {
    return this.sync.get(tenantIdOf(p));
  }

  @Put('upstream')
  @RequirePermission('viability:manage')
  @ApiOperation({ summary: 'Set the upstream base URL and token (encrypted at rest), schedule and page size' })
  async put(@CurrentPrincipal() p: Principal, @Body() dto: UpstreamDto) {
    const tenantId = tenantIdOf(p);
    const view = await this.sync.set(tenantId, dto);
    await this.audit.record(this.ds.manager, {
      tenantId, actorKeyId: p.keyId, service: 'viability', action: 'upstream.updated', targetType: 'viability_upstream', targetId: tenantId,
      after: { baseUrl: view.baseUrl, token: view.token, enabled: view.enabled, intervalMinutes: view.intervalMinutes, pageSize: view.pageSize },
    });
    return view;
  }

  @Delete('upstream')
  @HttpCode(204)
  @RequirePermission('viability:manage')
  @ApiOperation({ summary: 'Forget the upstream (the inventory stays)' })
  async remove(@CurrentPrincipal() p: Principal): Promise<void> {
    await this.sync.remove(tenantIdOf(p));
  }

  @Post('sync')
  @HttpCode(200)
  @RequirePermission('viability:manage')
  @ApiOperation({ summary: 'Sync now: page through the upstream boxes and poles and upsert them; 409 if a sync is running' })
  now(@CurrentPrincipal() p: Principal) {
    return this.sync.syncNow(tenantIdOf(p));
  }
}
