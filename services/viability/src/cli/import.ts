#!/usr/bin/env node
/**
 * Imports an inventory file from the command line, streaming it with a progress bar:
 *
 *   DATABASE_URL=postgres://… node -r @swc-node/register services/viability/src/cli/import.ts \
 *     --tenant <uuid> --kind boxes|poles --file network.csv|network.geojson
 *
 * CSV and GeoJSON FeatureCollections are parsed as streams, upserted in chunks of 5,000 rows (one chunk written while the next is parsed).
 * Rows that fail validation are printed with their line and reason; the rest are upserted by external id.
 */
import 'reflect-metadata';
import { createServiceDataSource } from '@elo/persistence';
import { SingleBar, Presets } from 'cli-progress';
import { parse } from 'csv-parse';
import { createReadStream, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { GeoJsonStreamError, geojsonFeatures } from '../inventory/geojson-stream';
import { featureToRow, toRow, type InventoryKind, type InventoryRow } from '../inventory/inventory-parser';
import { InventoryService } from '../inventory/inventory.service';

const CHUNK = 5_000;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { tenant: { type: 'string' }, kind: { type: 'string' }, file: { type: 'string' }, quiet: { type: 'boolean' } },
  });
  const url = process.env.DATABASE_URL;
  if (!url || !values.tenant || !values.file || (values.kind !== 'boxes' && values.kind !== 'poles')) {
    process.stderr.write('usage: DATABASE_URL=… import.ts --tenant <uuid> --kind boxes|poles --file <path.csv|path.geojson>\n');
    process.exit(2);
  }
  const kind = values.kind as InventoryKind;
  const ds = createServiceDataSource({ url, schema: 'viability', poolSize: 2 });
  await ds.initialize();
  const inventory = new InventoryService(ds);
  const totals = { inserted: 0, updated: 0 };
  const errors: Array<{ line: number; reason: string }> = [];
  const size = statSync(values.file).size;
  const bar = new SingleBar({ format: 'import |{bar}| {percentage}% {value}/{total} bytes, {rows} rows', noTTYOutput: !values.quiet, stream: process.stderr }, Presets.shades_classic);
  if (!values.quiet) bar.start(size, 0, { rows: 0 });
  let rows = 0;
  // Parsing goes on while the previous batch is written.
  const writer = inventory.batcher(values.tenant, kind, totals);
  const flush = async (batch: InventoryRow[]) => {
    await writer.send(batch);
    rows += batch.length;
  };
  try {
    if (/\.(geo)?json$/i.test(values.file)) {
      const input = createReadStream(values.file);
      let read = 0;
      input.on('data', (c) => (read += c.length));
      let batch: InventoryRow[] = [];
      try {
        for await (const f of geojsonFeatures(input)) {
          const row = f.error ? f.error : featureToRow(kind, f.feature, f.index);
          if (typeof row === 'string') errors.push({ line: f.index, reason: row });
          else batch.push(row);
          if (batch.length >= CHUNK) {
            await flush(batch);
            batch = [];
            if (!values.quiet) bar.update(read, { rows });
          }
        }
      } catch (err) {
        if (!(err instanceof GeoJsonStreamError)) throw err;
        errors.push({ line: 0, reason: err.message });
      }
      if (batch.length) await flush(batch);
      await writer.drain();
      if (!values.quiet) bar.update(size, { rows });
    } else {
      const input = createReadStream(values.file);
      let read = 0;
      input.on('data', (c) => (read += c.length));
      const parser = input.pipe(parse({ columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()), skip_empty_lines: true, trim: true, relax_column_count: true }));
      let batch: InventoryRow[] = [];
      let line = 1;
      for await (const record of parser as AsyncIterable<Record<string, unknown>>) {
        line++;
        const row = toRow(kind, record, line, record.lat ?? record.latitude, record.lng ?? record.lon ?? record.longitude);
        if (typeof row === 'string') errors.push({ line, reason: row });
        else batch.push(row);
        if (batch.length >= CHUNK) {
          await flush(batch);
          batch = [];
          if (!values.quiet) bar.update(read, { rows });
        }
      }
      if (batch.length) await flush(batch);
      await writer.drain();
      if (!values.quiet) bar.update(size, { rows });
    }
  } finally {
    if (!values.quiet) bar.stop();
    await ds.destroy();
  }
  for (const e of errors.slice(0, 1_000)) process.stdout.write(`line ${e.line}: ${e.reason}\n`);
  process.stdout.write(`${JSON.stringify({ ...totals, errors: errors.length })}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`import failed: ${err.message}\n`);
  process.exit(1);
});
