import { Body, Controller, HttpCode, Post, Query, Req } from '@nestjs/common';
import { ApiConsumes, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { ProblemException } from '@elo/platform';
import type { Request } from 'express';
import { parseCsv, parseGeoJson, type InventoryKind } from './inventory-parser';
import { InventoryService } from './inventory.service';

@ApiTags('inventory')
@Controller('inventory')
export class InventoryController {
  constructor(private readonly inventory: InventoryService) {}

  @Post('import')
  @HttpCode(200)
  @RequirePermission('viability:manage')
  @ApiConsumes('text/csv', 'application/geo+json', 'application/json')
  @ApiQuery({ name: 'kind', enum: ['boxes', 'poles'] })
  @ApiOperation({
    summary: 'Import boxes or poles from CSV (header: external_id,name,lat,lng[,status,port_capacity,ports_in_use,pole_external_id]) or a GeoJSON FeatureCollection; upsert by external id; rows that fail are reported by line and the rest go in',
  })
  async import(@CurrentPrincipal() p: Principal, @Query('kind') kind: string, @Req() req: Request, @Body() body: unknown) {
    const tenantId = tenantIdOf(p);
    if (kind !== 'boxes' && kind !== 'poles') throw new ProblemException(400, 'kind must be boxes or poles');
    const type = req.headers['content-type'] ?? '';
    const parsed = type.startsWith('text/csv')
      ? parseCsv(kind as InventoryKind, typeof body === 'string' ? body : '')
      : /json/.test(type)
        ? parseGeoJson(kind as InventoryKind, body)
        : undefined;
    if (!parsed) throw new ProblemException(415, 'send text/csv or a GeoJSON FeatureCollection (application/geo+json)');
    if (parsed.rows.length === 0 && parsed.errors.some((e) => e.line === 0)) {
      throw new ProblemException(400, parsed.errors[0]!.reason);
    }
    const counts = await this.inventory.upsert(tenantId, kind as InventoryKind, parsed.rows);
    return { ...counts, errors: parsed.errors };
  }
}
