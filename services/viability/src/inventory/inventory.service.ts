import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { InventoryKind, InventoryRow } from './inventory-parser';

/** 9 bind parameters a box row: 1,000 rows a statement stays far below PostgreSQL's 65,535. */
const CHUNK = 1_000;

/** Upserts inventory rows by external id, in chunks, each chunk one statement. */
@Injectable()
export class InventoryService {
  constructor(private readonly ds: DataSource) {}

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
