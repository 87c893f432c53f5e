import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Replicas answer checks from an in-process copy of each tenant's inventory (see InventoryIndexes).
 * Every statement that changes a tenant's boxes or poles, whoever runs it (import, upstream sync,
 * prune, an operator in psql), bumps the tenant's inventory version in its own transaction and
 * notifies `viability_inventory` with `<tenant>:<version>`, delivered when it commits (never for a
 * rollback). A replica drops its copy on the notification and checks the versions it holds every
 * second, so a missed notification is caught too. Changes to the settings a check reads (drop
 * distance, mode) notify `<tenant>:settings`.
 *
 * The NOTIFY is in the writer's transaction on purpose: these are bulk statements (5,000 rows each),
 * not the thousand-a-second commits that afterCommit keeps NOTIFY away from, and a trigger is the one
 * place no writer can forget.
 */
export class InventoryVersions1765200000000 implements MigrationInterface {
  name = 'InventoryVersions1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE viability.inventory_versions (
      tenant_id uuid PRIMARY KEY,
      version bigint NOT NULL
    )`);
    await q.query(`CREATE FUNCTION viability.inventory_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        t uuid;
        v bigint;
      BEGIN
        FOR t IN SELECT DISTINCT tenant_id FROM changed LOOP
          INSERT INTO viability.inventory_versions AS iv (tenant_id, version) VALUES (t, 1)
            ON CONFLICT (tenant_id) DO UPDATE SET version = iv.version + 1
            RETURNING version INTO v;
          PERFORM pg_notify('viability_inventory', t::text || ':' || v);
        END LOOP;
        RETURN NULL;
      END $$`);
    for (const table of ['boxes', 'poles']) {
      // One event a trigger: a trigger with transition tables takes one.
      await q.query(`CREATE TRIGGER ${table}_inserted AFTER INSERT ON viability.${table} REFERENCING NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION viability.inventory_changed()`);
      await q.query(`CREATE TRIGGER ${table}_updated AFTER UPDATE ON viability.${table} REFERENCING NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION viability.inventory_changed()`);
      await q.query(`CREATE TRIGGER ${table}_deleted AFTER DELETE ON viability.${table} REFERENCING OLD TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION viability.inventory_changed()`);
    }
    await q.query(`CREATE FUNCTION viability.check_settings_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('viability_inventory', NEW.tenant_id::text || ':settings');
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER check_settings_changed AFTER INSERT OR UPDATE OF max_drop_m, mode ON viability.settings
      FOR EACH ROW EXECUTE FUNCTION viability.check_settings_changed()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER check_settings_changed ON viability.settings');
    await q.query('DROP FUNCTION viability.check_settings_changed()');
    for (const table of ['boxes', 'poles']) {
      for (const event of ['inserted', 'updated', 'deleted']) await q.query(`DROP TRIGGER ${table}_${event} ON viability.${table}`);
    }
    await q.query('DROP FUNCTION viability.inventory_changed()');
    await q.query('DROP TABLE viability.inventory_versions');
  }
}
