import {
  BeforeApplicationShutdown, DynamicModule, Inject, Injectable, Logger, Module, OnApplicationBootstrap, Optional,
} from '@nestjs/common';
import { DataSource } from 'typeorm';
import { SecretBox } from './secret-box';

/** The AAD a service seals one column with, computed from the row (every column, as the driver returns it). */
export type SealedAad = (row: Record<string, unknown>) => string | undefined;

/** One table's SecretBox columns, as its service registers them with `SealedColumns.forFeature`. */
export interface SealedTable {
  /** Schema-qualified table, e.g. `chat_ingress.channels`. */
  table: string;
  /** Single-column primary key (default `id`): batches walk it, and the compare-and-set names the row by it. */
  key?: string;
  /** Column → the AAD the service passes to SecretBox for it (the same expression as the service's own code). */
  columns: Record<string, SealedAad>;
}

export interface ReencryptionColumnReport {
  table: string;
  column: string;
  /** Values re-sealed under the active key. */
  rewritten: number;
  /** Values changed by someone else between read and write: their write won, nothing was overwritten. */
  changedConcurrently: number;
  /** Values that could not be opened (key no longer configured, tampered, wrong AAD): left as they are. */
  failed: number;
  /** Values still sealed under another key when the column was done (the failed ones, or newer old-key writes). */
  remaining: number;
}

export interface ReencryptionReport {
  activeKeyId: string;
  columns: ReencryptionColumnReport[];
  /** True when `stop()` (shutdown) cut the run short; run it again to finish. */
  interrupted: boolean;
}

export interface ReencryptionOptions {
  /** Rows read per batch (default 100). */
  batchSize?: number;
  /** Re-encrypt in the background after boot when stored values carry another key id (default true). */
  onBoot?: boolean;
}

export const REENCRYPTION_OPTIONS = Symbol('REENCRYPTION_OPTIONS');
const IDENT = /^[a-z_][a-z0-9_]*$/;
/** pg_try_advisory_lock key: one replica re-encrypts at a time (others skip; the compare-and-set keeps even a race safe). */
const LOCK_KEY = 0x454c4f52; // "ELOR"

/** Every table with SecretBox columns in this process (services register with `SealedColumns.forFeature`). */
@Injectable()
export class SealedColumnRegistry {
  private readonly tables: SealedTable[] = [];

  add(tables: SealedTable[]): void {
    for (const t of tables) {
      const parts = t.table.split('.');
      const names = [...parts, t.key ?? 'id', ...Object.keys(t.columns)];
      if (parts.length !== 2 || !names.every((n) => IDENT.test(n))) {
        throw new Error(`sealed columns of ${t.table}: table must be schema.table and every name a lower-case identifier`);
      }
      this.tables.push(t);
    }
  }

  list(): ReadonlyArray<Required<SealedTable>> {
    return this.tables.map((t) => ({ ...t, key: t.key ?? 'id' }));
  }
}

const quote = (qualified: string): string => qualified.split('.').map((p) => `"${p}"`).join('.');

/**
 * Key rotation without downtime: re-seals every registered column under the active key.
 *
 * Small batches walk each table by its key; each value is opened with the key id it carries and
 * re-sealed with the active key and the same AAD, then written back with a compare-and-set on the old
 * value, so a concurrent write by the service (already under the active key) wins and is never
 * overwritten. Plaintexts never change, so it is safe while the service runs, and running it twice
 * rewrites nothing the second time. Runs in the background after boot when values carry another
 * key id, and on demand with `npx nx run <service>:reencrypt` (see docs/security.md).
 */
@Injectable()
export class ReencryptionService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Reencryption');
  private readonly batchSize: number;
  private background?: Promise<unknown>;
  private stopping = false;

  constructor(
    private readonly ds: DataSource,
    private readonly box: SecretBox,
    private readonly registry: SealedColumnRegistry,
    @Optional() @Inject(REENCRYPTION_OPTIONS) private readonly options: ReencryptionOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 100;
  }

  onApplicationBootstrap(): void {
    if (this.options.onBoot === false || this.registry.list().length === 0) return;
    this.background = this.runIfNeeded().catch((err: Error) =>
      this.logger.error(`background re-encryption failed: ${err.message}`),
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.background;
  }

  /** Resolves when the background run started at boot (if any) has finished. */
  async idle(): Promise<void> {
    await this.background;
  }

  /** Values per column still sealed under a key other than the active one. */
  async pending(): Promise<Array<{ table: string; column: string; count: number }>> {
    const out: Array<{ table: string; column: string; count: number }> = [];
    for (const t of this.registry.list()) {
      for (const column of Object.keys(t.columns)) {
        out.push({ table: t.table, column, count: await this.countStale(t.table, column) });
      }
    }
    return out;
  }

  /**
   * The background run: only when some value carries another key id, and only on the replica that
   * takes the advisory lock first (the others skip; the first one covers every row).
   */
  async runIfNeeded(): Promise<ReencryptionReport | undefined> {
    const stale = (await this.pending()).filter((p) => p.count > 0);
    if (!stale.length) return undefined;
    const qr = this.ds.createQueryRunner();
    try {
      const [{ locked }] = (await qr.query('SELECT pg_try_advisory_lock($1) AS locked', [LOCK_KEY])) as Array<{ locked: boolean }>;
      if (!locked) {
        this.logger.log('another replica is re-encrypting secrets; skipping');
        return undefined;
      }
      try {
        this.logger.log(`re-encrypting secrets under key ${this.box.activeKeyId}: ${stale.map((s) => `${s.table}.${s.column} (${s.count})`).join(', ')}`);
        return await this.run();
      } finally {
        await qr.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]);
      }
    } finally {
      await qr.release();
    }
  }

  /** Re-seals every registered column under the active key; see the class comment. */
  async run(): Promise<ReencryptionReport> {
    const report: ReencryptionReport = { activeKeyId: this.box.activeKeyId, columns: [], interrupted: false };
    for (const t of this.registry.list()) {
      for (const [column, aad] of Object.entries(t.columns)) {
        if (this.stopping) {
          report.interrupted = true;
          return report;
        }
        report.columns.push(await this.reencryptColumn(t, column, aad));
      }
    }
    report.interrupted = this.stopping;
    const summary = report.columns.map((c) => `${c.table}.${c.column}: ${c.rewritten} rewritten, ${c.changedConcurrently} changed concurrently, ${c.failed} failed, ${c.remaining} remaining`);
    this.logger.log(`re-encryption under key ${report.activeKeyId} done${report.interrupted ? ' (interrupted)' : ''}: ${summary.join('; ')}`);
    return report;
  }

  private async reencryptColumn(t: Required<SealedTable>, column: string, aad: SealedAad): Promise<ReencryptionColumnReport> {
    const r: ReencryptionColumnReport = { table: t.table, column, rewritten: 0, changedConcurrently: 0, failed: 0, remaining: 0 };
    const table = quote(t.table);
    const [col, key] = [`"${column}"`, `"${t.key}"`];
    let after: unknown;
    for (;;) {
      if (this.stopping) break;
      const params: unknown[] = [this.box.activeKeyId, this.batchSize];
      if (after !== undefined) params.push(after);
      // Keyset paging over the key, so values that cannot be opened are passed over, not read again.
      const rows = (await this.ds.query(
        `SELECT * FROM ${table}
          WHERE split_part(${col}, '.', 1) = 'v1' AND split_part(${col}, '.', 2) <> $1 ${after !== undefined ? `AND ${key} > $3` : ''}
          ORDER BY ${key} LIMIT $2`,
        params,
      )) as Array<Record<string, unknown>>;
      for (const row of rows) {
        after = row[t.key];
        const old = row[column] as string;
        let next: string;
        try {
          next = this.box.rotate(old, aad(row));
        } catch (err) {
          r.failed++;
          this.logger.warn(`${t.table}.${column} row ${String(row[t.key])} not re-encrypted: ${(err as Error).message}`);
          continue;
        }
        const [{ n }] = (await this.ds.query(
          `WITH u AS (UPDATE ${table} SET ${col} = $1 WHERE ${key} = $2 AND ${col} = $3 RETURNING 1) SELECT count(*)::int AS n FROM u`,
          [next, row[t.key], old],
        )) as Array<{ n: number }>;
        if (n === 1) r.rewritten++;
        else r.changedConcurrently++;
      }
      if (rows.length < this.batchSize) break;
    }
    r.remaining = await this.countStale(t.table, column);
    return r;
  }

  private async countStale(table: string, column: string): Promise<number> {
    const [{ n }] = (await this.ds.query(
      `SELECT count(*)::int AS n FROM ${quote(table)} WHERE split_part("${column}", '.', 1) = 'v1' AND split_part("${column}", '.', 2) <> $1`,
      [this.box.activeKeyId],
    )) as Array<{ n: number }>;
    return n;
  }
}

/**
 * Key rotation for SecretBox columns. `SealedColumns.forRoot()` once per app (EloServiceModule does it)
 * provides ReencryptionService; each feature registers its tables, one line a table, e.g.
 * `SealedColumns.forFeature({ table: 'chat_ingress.channels', columns: { verify_token: (r) => String(r.id) } })`.
 */
@Module({})
export class SealedColumns {
  static forRoot(options: ReencryptionOptions = {}): DynamicModule {
    return {
      module: SealedColumns,
      global: true,
      providers: [SealedColumnRegistry, { provide: REENCRYPTION_OPTIONS, useValue: options }, ReencryptionService],
      exports: [SealedColumnRegistry, ReencryptionService],
    };
  }

  static forFeature(...tables: SealedTable[]): DynamicModule {
    return {
      module: SealedColumns,
      providers: [{
        provide: Symbol(`sealed-columns:${tables.map((t) => t.table).join(',')}`),
        inject: [SealedColumnRegistry],
        useFactory: (registry: SealedColumnRegistry) => {
          registry.add(tables);
          return tables;
        },
      }],
    };
  }
}
