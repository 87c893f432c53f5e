import { Injectable, Optional } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { CsvError, parse } from 'csv-parse';
import { Readable, Transform } from 'node:stream';
import { finished } from 'node:stream/promises';
import { DataSource } from 'typeorm';
import { InventoryIndexes } from '../check/inventory-indexes.service';
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

/** Told the rows handed to the database so far, after each batch of a streamed import (the command line's progress bar). */
export type Progress = (rows: number) => void;

/** A CSV record at most, as GeoJSON has its limit per feature. */
const MAX_RECORD_BYTES = 1_000_000;

/** Rows a statement (and a streamed import's batch). */
const CHUNK = 5_000;

/** The counts of an upsert, and the rows refused because their run had already imported their external id. */
export interface UpsertOutcome {
  inserted: number;
  updated: number;
  repeated: Array<{ row: InventoryRow; reason: string }>;
}

/** What an upsert statement answers: its counts, and the external ids it sent that its run had already written. */
const COUNTED = `SELECT count(*) FILTER (WHERE ins)::int AS inserted, count(*) FILTER (WHERE NOT ins)::int AS updated,
                 (SELECT array_agg(e) FROM (SELECT unnest($2::text[]) EXCEPT SELECT external_id FROM up) AS x(e)) AS repeated
            FROM up`;

/** Upserts inventory rows by external id, in chunks, each chunk one statement. */
@Injectable()
export class InventoryService {
  constructor(
    private readonly ds: DataSource,
    /** This process's indexes, told of each chunk once it committed (others hear of it by NOTIFY; the command line has none). */
    @Optional() private readonly indexes?: InventoryIndexes,
  ) {}

  /**
   * Streams a CSV (header row = line 1) into the inventory, 5,000 rows a statement, so a file of any
   * size is never held whole. Rows failing validation are reported by line; the rest go in. Fields are
   * separated by commas, or by semicolons or tabs when the header row has more of those than commas
   * (spreadsheets set to Portuguese save CSV with semicolons, and decimal commas: see toRow).
   */
  async importCsv(tenantId: string, kind: InventoryKind, input: Readable, charset = 'utf-8', onProgress?: Progress): Promise<ImportOutcome> {
    const run = this.importRun(tenantId, kind, onProgress);
    const decoded = charset === 'utf-8' ? input : input.pipe(decoding(charset));
    const { delimiter, text } = await sniffDelimiter(Readable.from(lineFeeds(decoded), { objectMode: false }));
    const parser = text.pipe(
      parse({
        delimiter,
        columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()),
        skip_empty_lines: true,
        // A spreadsheet saves the rows it once used and that were emptied as separators alone (`;;;;;;`):
        // no record, as a blank line is none (each was refused as "external_id is required").
        skip_records_with_empty_values: true,
        trim: true,
        relax_column_count: true,
        // A quote inside an unquoted field (`Caixa 5" poste`) is text, as a person typing it meant.
        relax_quotes: true,
        // A record the parser cannot read (a quote left open to the end of the file, …) is reported by
        // line and skipped; the records before and after it still go in. Thrown, it would end the
        // stream and lose the records already parsed but not yet read from it.
        skip_records_with_error: true,
        on_skip: (err: CsvError | undefined, raw: string | undefined) => {
          const line = typeof err?.lines === 'number' ? firstLine(err.lines, raw) : 0;
          // The parser would go on dropping the rest of each chunk it is given, each time with this error:
          // end the parse here (see the catch below).
          if (err?.code === 'CSV_MAX_RECORD_SIZE') throw new CsvError(err.code, `a record over ${MAX_RECORD_BYTES.toLocaleString('en')} bytes (a quote left open?)`, undefined, { lines: line });
          run.refuse(line, `not valid CSV: ${err?.message ?? 'unreadable record'}`);
          return undefined;
        },
        // A quote left open would otherwise have the parser hold the rest of the file as one field.
        max_record_size: MAX_RECORD_BYTES,
        info: true,
        // The record's text, for the line it starts on (info.lines is the line it ends on).
        raw: true,
      }),
    );
    let lastLine = 1;
    try {
      for await (const { record, info, raw } of parser as AsyncIterable<{ record: Record<string, unknown>; info: { lines: number }; raw: string }>) {
        lastLine = info.lines;
        const line = firstLine(info.lines, raw);
        await run.take(toRow(kind, record, line, record.lat ?? record.latitude, record.lng ?? record.lon ?? record.longitude), line);
      }
    } catch (err) {
      // Only the parser's own errors are the file's fault; a database failure is not "bad CSV".
      if (!(err instanceof CsvError) && !String((err as { code?: string }).code ?? '').startsWith('CSV_')) throw err;
      // Errors that end the parse (not a record's): say plainly that nothing after the last row read went in.
      run.refuse((err as { lines?: number }).lines ?? 0, `not valid CSV: ${(err as Error).message}; nothing after line ${lastLine} was imported`);
      // The rest of the upload is read and let go: left unread, it would stall the connection the answer goes back on.
      await finished(text.resume()).catch(() => undefined);
    }
    return run.finish();
  }

  /**
   * Streams a GeoJSON FeatureCollection into the inventory: features are split off as the bytes
   * arrive and upserted 5,000 at a time. A feature's "line" is its position in `features`. A document
   * that is not a FeatureCollection (or breaks off) is reported at line 0 after what came before it.
   */
  async importGeoJson(tenantId: string, kind: InventoryKind, input: AsyncIterable<Buffer | string>, onProgress?: Progress): Promise<ImportOutcome> {
    const run = this.importRun(tenantId, kind, onProgress);
    try {
      for await (const f of geojsonFeatures(input)) await run.take(f.error ? f.error : featureToRow(kind, f.feature, f.index), f.index);
    } catch (err) {
      if (!(err instanceof GeoJsonStreamError)) throw err;
      run.refuse(0, err.message);
    }
    return run.finish();
  }

  /**
   * Upserts rows by external id: each chunk is one statement whose columns travel as arrays
   * (`unnest`), so a statement has 9 bind parameters however many rows it carries (PostgreSQL's cap is
   * 65,535) and the server parses one short statement per chunk. This runs about as fast as COPY into
   * a staging table followed by INSERT … SELECT … ON CONFLICT (measured: 200k boxes in 6.0 s against
   * 5.1 s for the INSERT from staging alone); the index updates dominate either way.
   */
  async upsert(tenantId: string, kind: InventoryKind, rows: InventoryRow[], run: string): Promise<UpsertOutcome> {
    let inserted = 0;
    let updated = 0;
    // A file (or an upstream) naming an external id twice: the first row is imported, a later one refused
    // by line. Within these rows by this map; across the run's earlier statements by import_run, below.
    const first = new Map<string, InventoryRow>();
    const repeated: UpsertOutcome['repeated'] = [];
    for (const r of rows) {
      const seen = first.get(r.externalId);
      if (seen) repeated.push({ row: r, reason: `external_id ${r.externalId} already appears earlier (line ${seen.line}); only the first is imported` });
      else first.set(r.externalId, r);
    }
    const unique = [...first.values()];
    for (let i = 0; i < unique.length; i += CHUNK) {
      const chunk = unique.slice(i, i + CHUNK);
      const common = [chunk.map((r) => r.externalId), chunk.map((r) => r.name), chunk.map((r) => r.lng), chunk.map((r) => r.lat)];
      // A row this run already wrote is left as it is (the WHERE of DO UPDATE) and so not returned: the
      // external ids sent and not returned are the run's repeats.
      const [sql, params] =
        kind === 'boxes'
          ? [
              `WITH up AS (
                 INSERT INTO viability.boxes (tenant_id, external_id, name, location, status, port_capacity, ports_in_use, pole_external_id, import_run)
                 SELECT $1, e, n, ST_SetSRID(ST_MakePoint(lng, lat), 4326)::geography, s, cap, used, pole, $10
                   FROM unnest($2::text[], $3::text[], $4::float8[], $5::float8[], $6::text[], $7::int[], $8::int[], $9::text[])
                        AS u(e, n, lng, lat, s, cap, used, pole)
                 ON CONFLICT (tenant_id, external_id) DO UPDATE SET name = EXCLUDED.name, location = EXCLUDED.location,
                   status = EXCLUDED.status, port_capacity = EXCLUDED.port_capacity, ports_in_use = EXCLUDED.ports_in_use,
                   pole_external_id = EXCLUDED.pole_external_id, import_run = EXCLUDED.import_run, updated_at = now()
                 WHERE boxes.import_run IS DISTINCT FROM EXCLUDED.import_run
                 RETURNING external_id, (xmax = 0) AS ins)
               ${COUNTED}`,
              [tenantId, ...common, chunk.map((r) => r.status), chunk.map((r) => r.portCapacity), chunk.map((r) => r.portsInUse), chunk.map((r) => r.pole ?? null), run],
            ]
          : [
              `WITH up AS (
                 INSERT INTO viability.poles (tenant_id, external_id, name, location, import_run)
                 SELECT $1, e, n, ST_SetSRID(ST_MakePoint(lng, lat), 4326)::geography, $6
                   FROM unnest($2::text[], $3::text[], $4::float8[], $5::float8[]) AS u(e, n, lng, lat)
                 ON CONFLICT (tenant_id, external_id) DO UPDATE SET name = EXCLUDED.name, location = EXCLUDED.location,
                   import_run = EXCLUDED.import_run, updated_at = now()
                 WHERE poles.import_run IS DISTINCT FROM EXCLUDED.import_run
                 RETURNING external_id, (xmax = 0) AS ins)
               ${COUNTED}`,
              [tenantId, ...common, run],
            ];
      const [r]: Array<{ inserted: number; updated: number; repeated: string[] | null }> = await this.ds.query(sql, params).finally(() => this.indexes?.changedHere(tenantId));
      inserted += r?.inserted ?? 0;
      updated += r?.updated ?? 0;
      for (const id of r?.repeated ?? []) {
        repeated.push({ row: first.get(id)!, reason: `external_id ${id} already appears earlier; only the first is imported` });
      }
    }
    return { inserted, updated, repeated };
  }

  /**
   * One import: parsed rows are upserted 5,000 at a time while the caller goes on parsing (at most one
   * batch in the database at a time, so batches land in file order, and parsing never waits for more
   * than that one); refused rows are counted, and listed by line up to MAX_LISTED_ERRORS. The whole
   * import is one run (see upsert): a row it already wrote is a repeat.
   */
  private importRun(tenantId: string, kind: InventoryKind, onProgress?: Progress) {
    const out: ImportOutcome = { inserted: 0, updated: 0, errors: [], errorCount: 0 };
    const refuse = (line: number, reason: string) => {
      out.errorCount++;
      if (out.errors.length < MAX_LISTED_ERRORS) out.errors.push({ line, reason });
    };
    const run = randomUUID();
    let batch: InventoryRow[] = [];
    let sent = 0;
    let inFlight: Promise<void> = Promise.resolve();
    const flush = async () => {
      const rows = batch;
      batch = [];
      await inFlight;
      inFlight = this.upsert(tenantId, kind, rows, run).then((r) => {
        out.inserted += r.inserted;
        out.updated += r.updated;
        for (const { row, reason } of r.repeated) refuse(row.line, reason);
      });
      // A failure surfaces at the next flush or at finish; keep it from being reported as unhandled meanwhile.
      inFlight.catch(() => undefined);
      sent += rows.length;
      onProgress?.(sent);
    };
    return {
      refuse,
      /** A parsed row, or the reason its line is refused. */
      async take(row: InventoryRow | string, line: number): Promise<void> {
        if (typeof row === 'string') return refuse(line, row);
        batch.push(row);
        if (batch.length >= CHUNK) await flush();
      },
      async finish(): Promise<ImportOutcome> {
        if (batch.length) await flush();
        await inFlight;
        // The parser reports a record it skips as soon as it meets it, and a repeated external id is known once
        // its batch is written, after later rows were read: by line.
        out.errors.sort((a, b) => a.line - b.line);
        return out;
      },
    };
  }
}

/**
 * The field separator of a CSV, from its header row: a semicolon or a tab where the header has more of
 * them than commas, else a comma. Reads up to the first line break (or 64 kB) and hands back the whole
 * stream, those first chunks included.
 */
async function sniffDelimiter(input: Readable): Promise<{ delimiter: string; text: Readable }> {
  const chunks: Array<Buffer | string> = [];
  let head = '';
  const source = input[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  while (!head.includes('\n') && head.length < 65_536) {
    const next = await source.next();
    if (next.done) break;
    chunks.push(next.value);
    head += next.value.toString();
  }
  const header = head.split('\n', 1)[0]!;
  const count = (c: string) => header.split(c).length - 1;
  const delimiter = [';', '\t'].find((c) => count(c) > count(',')) ?? ',';
  async function* whole() {
    yield* chunks;
    for (let next = await source.next(); !next.done; next = await source.next()) yield next.value;
  }
  return { delimiter, text: Readable.from(whole(), { objectMode: false }) };
}

/**
 * The line a record starts on, from the line the parser was on at its last character and the record's
 * text: csv-parse counts each CR and each LF (lineFeeds leaves no CRLF) but reports the line a record
 * ends on, and a record's text begins with the blank lines skipped before it.
 */
function firstLine(lines: number, raw: string | undefined): number {
  if (!raw) return lines;
  const text = raw.replace(/^[\r\n]+/, '');
  let breaks = 0;
  for (let i = 0; i < text.length - 1; i++) if (text[i] === '\n' || text[i] === '\r') breaks++;
  return lines - breaks;
}

const CR = Buffer.from('\r');
const CRLF = Buffer.from('\r\n');

/**
 * The text with each CRLF as a bare LF. csv-parse counts a CRLF inside a quoted field (a name typed over
 * two lines in a Windows program) as two lines, so every row after it was reported a line further down
 * than it is; between records either is one line break. Byte by byte: in UTF-8 neither byte is ever part
 * of another character.
 */
async function* lineFeeds(input: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
  let heldCr = false; // the previous chunk ended with a CR: whether an LF follows is in this one
  for await (const chunk of input) {
    let b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (heldCr) b = Buffer.concat([CR, b]);
    heldCr = b.length > 0 && b[b.length - 1] === 0x0d;
    if (heldCr) b = b.subarray(0, -1);
    const parts: Buffer[] = [];
    let from = 0;
    for (let at = b.indexOf(CRLF); at >= 0; at = b.indexOf(CRLF, from)) {
      parts.push(b.subarray(from, at));
      from = at + 1;
    }
    yield parts.length ? Buffer.concat([...parts, b.subarray(from)]) : b;
  }
  if (heldCr) yield CR;
}

/** The WHATWG name of the charset `label` names (`latin1` → `windows-1252`), or undefined when no decoder knows it. */
export function charsetNamed(label: string): string | undefined {
  try {
    return new TextDecoder(label).encoding;
  } catch {
    return undefined;
  }
}

/** Text in `charset` (a WHATWG encoding name) as UTF-8, chunk by chunk; a character split across chunks is kept whole. */
function decoding(charset: string): Transform {
  const decoder = new TextDecoder(charset);
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      done(null, decoder.decode(chunk, { stream: true }));
    },
    flush(done) {
      done(null, decoder.decode());
    },
  });
}
