import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Boxes a statement may change for the replicas to patch their copies instead of reading them again (8,000-byte NOTIFY payload). */
const MAX_PATCHED_BOXES = 60;

/**
 * The commonest change to an inventory is a port taken or freed, or a box deployed: an UPDATE of a
 * box's status or ports. Reading a tenant's whole inventory again for it (seconds for a million boxes,
 * checks asking PostgreSQL meanwhile) is out of proportion. Such a statement now tells the replicas
 * what changed: `<tenant>:<version>:<patches>`, a patch `<id>,<lat>,<lng>,<status>,<capacity>,<in use>`
 * (`;` between them), when it changed at most {@link MAX_PATCHED_BOXES} of the tenant's boxes and nothing
 * else of them (not the location, name, external id or pole). Any other statement notifies
 * `<tenant>:<version>` as before, and the replicas read the inventory again.
 */
export class BoxPatches1765400000000 implements MigrationInterface {
  name = 'BoxPatches1765400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE FUNCTION viability.boxes_updated() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        t uuid;
        v bigint;
        boxes int;
        other int;
        patches text;
      BEGIN
        FOR t IN SELECT DISTINCT tenant_id FROM new_rows LOOP
          INSERT INTO viability.inventory_versions AS iv (tenant_id, version) VALUES (t, 1)
            ON CONFLICT (tenant_id) DO UPDATE SET version = iv.version + 1
            RETURNING version INTO v;
          SELECT count(*) INTO boxes FROM new_rows WHERE tenant_id = t;
          IF boxes <= ${MAX_PATCHED_BOXES} THEN
            SELECT count(*) FILTER (WHERE o.id IS NULL OR o.tenant_id <> n.tenant_id OR o.external_id <> n.external_id OR o.name <> n.name
                                       OR o.pole_external_id IS DISTINCT FROM n.pole_external_id
                                       OR ST_AsBinary(o.location) <> ST_AsBinary(n.location)),
                   string_agg(n.id::text || ',' || ST_Y(n.location::geometry) || ',' || ST_X(n.location::geometry) || ',' || n.status
                              || ',' || n.port_capacity || ',' || n.ports_in_use, ';')
              INTO other, patches
              FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id
             WHERE n.tenant_id = t;
          END IF;
          IF boxes <= ${MAX_PATCHED_BOXES} AND other = 0 THEN
            PERFORM pg_notify('viability_inventory', t::text || ':' || v || ':' || patches);
          ELSE
            PERFORM pg_notify('viability_inventory', t::text || ':' || v);
          END IF;
        END LOOP;
        RETURN NULL;
      END $$`);
    await q.query('DROP TRIGGER boxes_updated ON viability.boxes');
    await q.query(`CREATE TRIGGER boxes_updated AFTER UPDATE ON viability.boxes REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION viability.boxes_updated()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER boxes_updated ON viability.boxes');
    await q.query(`CREATE TRIGGER boxes_updated AFTER UPDATE ON viability.boxes REFERENCING NEW TABLE AS changed
      FOR EACH STATEMENT EXECUTE FUNCTION viability.inventory_changed()`);
    await q.query('DROP FUNCTION viability.boxes_updated()');
  }
}
