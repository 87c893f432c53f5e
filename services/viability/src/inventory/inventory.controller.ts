import { Controller, HttpCode, Post, Query, Req } from '@nestjs/common';
import { ApiConsumes, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { ProblemException } from '@elo/platform';
import type { Request } from 'express';
import { charsetNamed, InventoryService } from './inventory.service';
import { IMPORT_TYPE_HEADER } from './stream-import.hook';

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
    summary: 'Import boxes or poles from CSV (comma, semicolon or tab separated; header: external_id,name,lat,lng; boxes add status,port_capacity[,ports_in_use,pole_external_id]) or a GeoJSON FeatureCollection (both streamed); upsert by external id; rows that fail are reported by line and the rest go in',
  })
  async import(@CurrentPrincipal() p: Principal, @Query('kind') kind: string, @Req() req: Request) {
    const tenantId = tenantIdOf(p);
    if (kind !== 'boxes' && kind !== 'poles') throw new ProblemException(400, 'kind must be boxes or poles');
    const header = req.headers[IMPORT_TYPE_HEADER] ?? req.headers['content-type'] ?? '';
    const type = (Array.isArray(header) ? header[0]! : header).toLowerCase();
    if (type.startsWith('text/csv')) return this.inventory.importCsv(tenantId, kind, req, csvCharset(type));
    if (!/^application\/(geo\+)?json/.test(type)) throw new ProblemException(415, 'send text/csv or a GeoJSON FeatureCollection (application/geo+json)');
    const out = await this.inventory.importGeoJson(tenantId, kind, req as AsyncIterable<Buffer>);
    // Nothing went in because the document itself is wrong (not a FeatureCollection, not JSON): a 400.
    if (out.inserted + out.updated === 0 && out.errors.some((e) => e.line === 0)) throw new ProblemException(400, out.errors.find((e) => e.line === 0)!.reason);
    return out;
  }
}

/**
 * The charset a CSV upload declares (`text/csv; charset=iso-8859-1`, as spreadsheets in Brazil often
 * export), UTF-8 when it declares none; 415 for one no decoder knows. GeoJSON is UTF-8 by definition.
 */
function csvCharset(type: string): string {
  const label = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(type)?.[1] ?? 'utf-8';
  const charset = charsetNamed(label);
  if (!charset) throw new ProblemException(415, `charset ${label} is not one this service can read: send UTF-8 or ISO-8859-1 (Latin-1)`);
  return charset;
}
