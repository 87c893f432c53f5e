import { Injectable } from '@nestjs/common';
import { parse } from 'csv-parse';
import type { Readable } from 'node:stream';
import { DataSource } from 'typeorm';
import { GeoJsonStreamError, geojsonFeatures } from './geojson-stream';
import { featureToRow, toRow, type InventoryKind, type InventoryRow } from './inventory-parser';

/** At most this many refused rows are listed in an answer (all are counted). */
const MAX_LISTED_ERRORS = 10_000;

export interface ImportOutcome {
  inserted: number;
  updated: number;
  errors: Array<{ line: number; reason: string }>;
  errorCount: number;
}

/** 9 bind parameters a box row: 1,000 rows a statement stays far below PostgreSQL's 65,535. */
const CHUNK = 1_000;

/** Upserts inventory rows by external id, in chunks, each chunk one statement. */
@Injectable()
export class InventoryService {
  constructor(private readonly ds: DataSource) {}

  /**
   * Streams a CSV (header row = line 1) into the inventory, 1,000 rows a statement, so a file of any
   * size is never held whole. Rows failing validation are reported by line; the rest go in.
   */
  async importCsv(tenantId: string, kind: InventoryKind, input: Readable): Promise<ImportOutcome> {
    const out: ImportOutcome = { inserted: 0, updated: 0, errors: [], errorCount: 0 };
    const parser = input.pipe(
      parse({ columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()), skip_empty_lines: true, trim: true, relax_column_count: true, info: true }),
    );
    let batch: InventoryRow[] = [];
    const flush = async () => {
      const r = await this.upsert(tenantId, kind, batch);
      out.inserted += r.inserted;
      out.updated += r.updated;
      batch = [];
    };
    try {
      for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, unknown>; info: { lines: number } }>) {
        const row = toRow(kind, record, info.lines, record.lat ?? record.latitude, record.lng ?? record.lon ?? record.longitude);
        if (typeof row === 'string') {
          out.errorCount++;
          if (out.errors.length < MAX_LISTED_ERRORS) out.errors.push({ line: info.lines, reason: row });
        } else batch.push(row);
        if (batch.length >= CHUNK) await flush();
      }
    } catch (err) {
      out.errorCount++;
      out.errors.push({ line: (err as { lines?: number }).lines ?? 0, reason: `not valid CSV: ${(err as Error).message}` });
    }
    if (batch.length) await flush();
    return out;
  }

  /**
   * Streams a GeoJSON FeatureCollection into the inventory: features are split off as the bytes
   * arrive and upserted 1,000 at a time. A feature's "line" is its position in `features`. A document
   * that is not a FeatureCollection (or breaks off) is reported at line 0 after what came before it.
   */
  async importGeoJson(tenantId: string, kind: InventoryKind, input: AsyncIterable<Buffer | string>): Promise<ImportOutcome> {
    const out: ImportOutcome = { inserted: 0, updated: 0, errors: [], errorCount: 0 };
    const refuse = (line: number, reason: string) => {
      out.errorCount++;
      if (out.errors.length < MAX_LISTED_ERRORS) out.errors.push({ line, reason });
    };
    let batch: InventoryRow[] = [];
    const flush = async () => {
      const r = await this.upsert(tenantId, kind, batch);
      out.inserted += r.inserted;
      out.updated += r.updated;
      batch = [];
    };
    try {
      for await (const f of geojsonFeatures(input)) {
        const row = f.error ? f.error : featureToRow(kind, f.feature, f.index);
        if (typeof row === 'string') refuse(f.index, row);
        else batch.push(row);
        if (batch.length >= CHUNK) await flush();
      }
    } catch (err) {
      if (!(err instanceof GeoJsonStreamError)) throw err;
      refuse(0, err.message);
    }
    if (batch.length) await flush();
    return out;
  }

  async upsert(tenantId: string, kind: InventoryKind, rows: InventoryRow[]): Promise<{ inserted: number; updated: number }> {
    let inserted = 0;
    let updated = 0;
    // Last one wins when a file names the same external id twice (ON CONFLICT cannot touch a row twice).
    const unique = [...new Map(rows.map((r) => [r.externalId, r])).values()];
    for (let i = 0; i < unique.length; i += CHUNK) {
      const chunk = unique.slice(i, i + CHUNK);
      const params: unknown[] = [tenantId];
      const values = chunk.map((r) => {
        const cols = kind === 'boxes' ? [r.externalId, r.name, r.lng, r.lat, r.status, r.portCapacity, r.portsInUse, r.pole] : [r.externalId, r.name, r.lng, r.lat];
        const at = params.length;
        params.push(...cols);
        const p = (n: number) => `$${at + n}`;
        return kind === 'boxes'
          ? `($1, ${p(1)}, ${p(2)}, ST_SetSRID(ST_MakePoint(${p(3)}, ${p(4)}), 4326)::geography, ${p(5)}, ${p(6)}, ${p(7)}, ${p(8)})`
          : `($1, ${p(1)}, ${p(2)}, ST_SetSRID(ST_MakePoint(${p(3)}, ${p(4)}), 4326)::geography)`;
      });
      const sql =
        kind === 'boxes'
          ? `WITH up AS (INSERT INTO viability.boxes (tenant_id, external_id, name, location, status, port_capacity, ports_in_use, pole_external_id)
               VALUES ${values.join(', ')}
               ON CONFLICT (tenant_id, external_id) DO UPDATE SET name = EXCLUDED.name, location = EXCLUDED.location,
                 status = EXCLUDED.status, port_capacity = EXCLUDED.port_capacity, ports_in_use = EXCLUDED.ports_in_use,
                 pole_external_id = EXCLUDED.pole_external_id, updated_at = now()
               RETURNING (xmax = 0) AS inserted) SELECT inserted FROM up`
          : `WITH up AS (INSERT INTO viability.poles (tenant_id, external_id, name, location) VALUES ${values.join(', ')}
               ON CONFLICT (tenant_id, external_id) DO UPDATE SET name = EXCLUDED.name, location = EXCLUDED.location, updated_at = now()
               RETURNING (xmax = 0) AS inserted) SELECT inserted FROM up`;
      const result: Array<{ inserted: boolean }> = await this.ds.query(sql, params);
      for (const r of result) if (r.inserted) inserted++;
      else updated++;
    }
    return { inserted, updated };
  }
}
