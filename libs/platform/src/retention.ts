import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { createLogger } from '@elo/observability';
import { DataSource, type MigrationInterface, type QueryRunner } from 'typeorm';
import { periodic, type Periodic } from './periodic';

/**
 * Rows a service keeps only for a while: logs of what came and went (raw webhook payloads, PBX callbacks,
 * delivery attempts, viability checks), which hold customers' personal data (phones, messages, locations)
 * that Brazil's LGPD says to keep no longer than needed, and which otherwise grow without end.
 */
export interface RetentionRule {
  /** Schema-qualified, quoted table: `"telephony".callbacks`. */
  table: string;
  /** Its timestamp column, indexed by `retentionIndex` (a BRIN index: rows are written in time order). */
  column: string;
  /** Rows older than this many days are deleted; 0 keeps them for ever. */
  days: number;
}

export interface RetentionOptions {
  rules: RetentionRule[];
  /** How often a replica looks for rows past their retention (ms; 0: never). */
  intervalMs: number;
}

export const RETENTION = Symbol('RETENTION');

/** Rows deleted by one statement: short transactions, each a few thousand index entries. */
const BATCH = 5_000;

/**
 * Deletes what has outlived its retention, a batch at a time, oldest ranges first. Every replica runs it;
 * a transaction-scoped advisory lock a table lets one replica work on a table at a time (the others skip
 * it that round), so replicas neither duplicate the scans nor wait on each other's deletes.
 */
@Injectable()
export class RetentionSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = createLogger('retention');
  private schedule?: Periodic;

  constructor(
    private readonly ds: DataSource,
    @Inject(RETENTION) private readonly options: RetentionOptions,
  ) {}

  onApplicationBootstrap(): void {
    if (this.options.intervalMs <= 0 || !this.options.rules.some((r) => r.days > 0)) return;
    this.schedule = periodic(this.options.intervalMs, () => this.sweep(), (err) => this.logger.warn({ err: err.message }, 'retention sweep failed'));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.schedule?.stop();
  }

  /** One pass over every rule; the rows deleted, by table swept (a table another replica held meanwhile is not listed). */
  async sweep(): Promise<Record<string, number>> {
    const deleted: Record<string, number> = {};
    for (const rule of this.options.rules) {
      if (rule.days <= 0) continue;
      let total = 0;
      for (;;) {
        const n = await this.batch(rule);
        if (n === undefined) break;
        deleted[rule.table] = total += n;
        if (n < BATCH) break;
      }
      if (total) this.logger.info({ table: rule.table, deleted: total, days: rule.days }, 'rows past their retention deleted');
    }
    return deleted;
  }

  /** Deletes up to BATCH rows past the rule's retention; undefined when another replica holds the table. */
  private batch(rule: RetentionRule): Promise<number | undefined> {
    return this.ds.transaction(async (m) => {
      const [{ locked }] = (await m.query('SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS locked', [`elo:retention:${rule.table}`])) as Array<{ locked: boolean }>;
      if (!locked) return undefined;
      const [{ n }] = (await m.query(
        `WITH gone AS (
           DELETE FROM ${rule.table} WHERE ctid = ANY(ARRAY(
             SELECT ctid FROM ${rule.table} WHERE ${rule.column} < now() - make_interval(days => $1) LIMIT ${BATCH}))
           RETURNING 1)
         SELECT count(*)::int AS n FROM gone`,
        [rule.days],
      )) as Array<{ n: number }>;
      return n;
    });
  }
}

/**
 * The migration that indexes a retained table's timestamp for the sweeper: BRIN, a few pages for a
 * table written in time order, so finding the old ranges costs next to nothing and writes pay almost
 * nothing (a B-tree would add an entry to every insert of the hot paths these tables are on).
 */
export function retentionIndex(table: string, column: string, indexName: string): new () => MigrationInterface {
  const schema = table.slice(0, table.indexOf('.'));
  return class RetentionIndex1765800000000 implements MigrationInterface {
    name = 'RetentionIndex1765800000000';

    async up(q: QueryRunner): Promise<void> {
      await q.query(`CREATE INDEX ${indexName} ON ${table} USING brin (${column})`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP INDEX ${schema}.${indexName}`);
    }
  };
}
