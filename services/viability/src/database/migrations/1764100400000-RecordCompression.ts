import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Check rows and their outbox events are written a thousand a second: compress their large values with
 * lz4 instead of pglz. A check row's result is mostly box ids, which pglz tries to compress and gives up
 * on; an event body shrinks about as well with lz4, for a fraction of the CPU (and the relay reads it
 * back). New values only; nothing is rewritten. A server built without lz4 keeps pglz.
 */
export class RecordCompression1764100400000 implements MigrationInterface {
  name = 'RecordCompression1764100400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DO $$ BEGIN
      ALTER TABLE viability.checks ALTER COLUMN result SET COMPRESSION lz4;
      ALTER TABLE viability.outbox ALTER COLUMN body SET COMPRESSION lz4;
    EXCEPTION WHEN feature_not_supported THEN NULL;
    END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE viability.checks ALTER COLUMN result SET COMPRESSION pglz');
    await q.query('ALTER TABLE viability.outbox ALTER COLUMN body SET COMPRESSION pglz');
  }
}
