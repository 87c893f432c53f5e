#!/usr/bin/env node
/**
 * Imports an inventory file from the command line, streaming it with a progress bar:
 *
 *   DATABASE_URL=postgres://… node -r @swc-node/register services/viability/src/cli/import.ts \
 *     --tenant <uuid> --kind boxes|poles --file network.csv|network.geojson [--charset iso-8859-1] [--quiet]
 *
 * The same import as `POST /inventory/import` (InventoryService): CSV (comma, semicolon or tab separated, in
 * `--charset`, UTF-8 by default) or a GeoJSON FeatureCollection, parsed as a stream and upserted by external
 * id in chunks of 5,000 rows. Rows that fail are printed with their line and reason (the first 1,000), then
 * the totals as JSON.
 */
import 'reflect-metadata';
import { createServiceDataSource } from '@elo/persistence';
import { SingleBar, Presets } from 'cli-progress';
import { createReadStream, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { InventoryKind } from '../inventory/inventory-parser';
import { charsetNamed, InventoryService, type ImportOutcome } from '../inventory/inventory.service';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { tenant: { type: 'string' }, kind: { type: 'string' }, file: { type: 'string' }, charset: { type: 'string' }, quiet: { type: 'boolean' } },
  });
  const url = process.env.DATABASE_URL;
  if (!url || !values.tenant || !values.file || (values.kind !== 'boxes' && values.kind !== 'poles')) {
    process.stderr.write('usage: DATABASE_URL=… import.ts --tenant <uuid> --kind boxes|poles --file <path.csv|path.geojson> [--charset <name>] [--quiet]\n');
    process.exit(2);
  }
  const charset = charsetNamed(values.charset ?? 'utf-8');
  if (!charset) {
    process.stderr.write(`unknown charset ${values.charset}: try utf-8 or iso-8859-1\n`);
    process.exit(2);
  }
  const kind = values.kind as InventoryKind;
  const size = statSync(values.file).size;
  const ds = createServiceDataSource({ url, schema: 'viability', poolSize: 2 });
  await ds.initialize();
  const inventory = new InventoryService(ds);
  const bar = new SingleBar({ format: 'import |{bar}| {percentage}% {value}/{total} bytes, {rows} rows', noTTYOutput: !values.quiet, stream: process.stderr }, Presets.shades_classic);
  if (!values.quiet) bar.start(size, 0, { rows: 0 });
  const input = createReadStream(values.file);
  let read = 0;
  input.on('data', (c) => (read += c.length));
  const progress = (rows: number) => {
    if (!values.quiet) bar.update(read, { rows });
  };
  let out: ImportOutcome;
  try {
    out = /\.(geo)?json$/i.test(values.file)
      ? await inventory.importGeoJson(values.tenant, kind, input, progress)
      : await inventory.importCsv(values.tenant, kind, input, charset, progress);
    if (!values.quiet) bar.update(size, { rows: out.inserted + out.updated });
  } finally {
    if (!values.quiet) bar.stop();
    await ds.destroy();
  }
  for (const e of out.errors.slice(0, 1_000)) process.stdout.write(`line ${e.line}: ${e.reason}\n`);
  process.stdout.write(`${JSON.stringify({ inserted: out.inserted, updated: out.updated, errors: out.errorCount })}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`import failed: ${err.message}\n`);
  process.exit(1);
});
