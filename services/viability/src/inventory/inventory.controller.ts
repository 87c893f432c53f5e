import { Controller, HttpCode, Post, Query, Req } from '@nestjs/common';
import { ApiConsumes, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { ProblemException } from '@elo/platform';
import type { Request } from 'express';
import { parseGeoJson, type InventoryKind } from './inventory-parser';
import { InventoryService } from './inventory.service';
import { IMPORT_TYPE_HEADER } from './stream-import.hook';

/** A GeoJSON document is parsed whole: at most this size (CSV is streamed, with no limit). */
const MAX_GEOJSON_BYTES = 64 * 1024 * 1024;

async function readCapped(req: Request, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > max) throw new ProblemException(413, `a GeoJSON import is at most ${max} bytes; send larger inventories as CSV (streamed)`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

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
  async import(@CurrentPrincipal() p: Principal, @Query('kind') kind: string, @Req() req: Request) {
    const tenantId = tenantIdOf(p);
    if (kind !== 'boxes' && kind !== 'poles') throw new ProblemException(400, 'kind must be boxes or poles');
    const header = req.headers[IMPORT_TYPE_HEADER] ?? req.headers['content-type'] ?? '';
    const type = (Array.isArray(header) ? header[0]! : header).toLowerCase();
    if (type.startsWith('text/csv')) return this.inventory.importCsv(tenantId, kind, req);
    if (!/^application\/(geo\+)?json/.test(type)) throw new ProblemException(415, 'send text/csv or a GeoJSON FeatureCollection (application/geo+json)');
    let doc: unknown;
    try {
      doc = JSON.parse((await readCapped(req, MAX_GEOJSON_BYTES)).toString('utf8'));
    } catch (err) {
      if (err instanceof ProblemException) throw err;
      throw new ProblemException(400, 'the body is not valid JSON');
    }
    const parsed = parseGeoJson(kind as InventoryKind, doc);
    if (parsed.rows.length === 0 && parsed.errors.some((e) => e.line === 0)) throw new ProblemException(400, parsed.errors[0]!.reason);
    const counts = await this.inventory.upsert(tenantId, kind as InventoryKind, parsed.rows);
    return { ...counts, errors: parsed.errors, errorCount: parsed.errors.length };
  }
}
