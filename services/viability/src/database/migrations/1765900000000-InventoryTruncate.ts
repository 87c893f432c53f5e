import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A TRUNCATE of the boxes or the poles fires no INSERT, UPDATE or DELETE trigger: the versions stayed
 * where they were, every replica's version poll kept confirming its copy, and the copies went on
 * answering with boxes that were gone, for as long as they were used. A TRUNCATE empties the table for
 * every tenant and says of none which it was: every tenant's version moves on and is notified, so
 * every copy is dropped and read again. (A tenant without a version has never had a box or pole written
 * since versions exist, and so no copy to drop.)
 */
export class InventoryTruncate1765900000000 implements MigrationInterface {
  name = 'InventoryTruncate1765900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE FUNCTION viability.inventory_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        t uuid;
        v bigint;
      BEGIN
        FOR t, v IN UPDATE viability.inventory_versions SET version = version + 1 RETURNING tenant_id, version LOOP
          PERFORM pg_notify('viability_inventory', t::text || ':' || v);
        END LOOP;
        RETURN NULL;
      END $$`);
    for (const table of ['boxes', 'poles']) {
      await q.query(`CREATE TRIGGER ${table}_truncated AFTER TRUNCATE ON viability.${table}
        FOR EACH STATEMENT EXECUTE FUNCTION viability.inventory_truncated()`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['boxes', 'poles']) await q.query(`DROP TRIGGER ${table}_truncated ON viability.${table}`);
    await q.query('DROP FUNCTION viability.inventory_truncated()');
  }
}
