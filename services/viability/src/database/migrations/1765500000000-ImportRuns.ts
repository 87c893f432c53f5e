import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The import or sync run that last wrote a box or pole. A file (or an upstream) that names the same
 * external id twice had its rows collapse silently, the later one overwriting the earlier; an upsert now
 * leaves a row its own run already wrote alone, and the import reports the repeat by line.
 */
export class ImportRuns1765500000000 implements MigrationInterface {
  name = 'ImportRuns1765500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE viability.boxes ADD COLUMN import_run uuid');
    await q.query('ALTER TABLE viability.poles ADD COLUMN import_run uuid');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE viability.poles DROP COLUMN import_run');
    await q.query('ALTER TABLE viability.boxes DROP COLUMN import_run');
  }
}
