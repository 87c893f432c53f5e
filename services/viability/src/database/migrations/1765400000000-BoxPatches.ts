import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Boxes a statement may change for the replicas to patch their copies instead of reading them again (8,000-byte NOTIFY payload). */
const MAX_PATCHED_BOXES = 60;
/** A box (`n` new, `o` old) changed in what only a new read of the inventory takes in. */
const REREAD = `o.id IS NULL OR o.tenant_id <> n.tenant_id OR o.external_id <> n.external_id OR o.name <> n.name
  OR o.pole_external_id IS DISTINCT FROM n.pole_external_id OR ST_AsBinary(o.location) <> ST_AsBinary(n.location)`;
/** A box changed in what a patch carries. */
const PATCHED = 'o.status <> n.status OR o.port_capacity <> n.port_capacity OR o.ports_in_use <> n.ports_in_use';

/**
 * The commonest change to an inventory is a port taken or freed, or a box deployed: an UPDATE of a
 * box's status or ports. Reading a tenant's whole inventory again for it (seconds for a million boxes,
 * checks asking PostgreSQL meanwhile) is out of proportion, and so it is for a sync or import that
 * writes every box it sees again while few or none changed. Such a statement now tells the replicas
 * what changed: `<tenant>:<version>:<patches>`, a patch `<id>,<lat>,<lng>,<status>,<capacity>,<in use>`
 * (`;` between them; none when nothing the index holds changed), when the status or ports of at most
 * {@link MAX_PATCHED_BOXES} of the tenant's boxes changed and nothing else the index reads of any (the
 * location, name, external id or pole). Any other statement notifies `<tenant>:<version>` as before,
 * and the replicas read the inventory again.
 */
export class BoxPatches1765400000000 implements MigrationInterface {
  name = 'BoxPatches1765400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE FUNCTION viability.boxes_updated() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        t uuid;
        v bigint;
        patched int;
        other int;
        patches text;
      BEGIN
        FOR t IN SELECT DISTINCT tenant_id FROM new_rows LOOP
          INSERT INTO viability.inventory_versions AS iv (tenant_id, version) VALUES (t, 1)
            ON CONFLICT (tenant_id) DO UPDATE SET version = iv.version + 1
            RETURNING version INTO v;
          SELECT count(*) FILTER (WHERE ${REREAD}), count(*) FILTER (WHERE NOT (${REREAD}) AND (${PATCHED}))
            INTO other, patched
            FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id
           WHERE n.tenant_id = t;
          IF other = 0 AND patched <= ${MAX_PATCHED_BOXES} THEN
            SELECT string_agg(n.id::text || ',' || ST_Y(n.location::geometry) || ',' || ST_X(n.location::geometry) || ',' || n.status
                              || ',' || n.port_capacity || ',' || n.ports_in_use, ';')
              INTO patches
              FROM new_rows n JOIN old_rows o ON o.id = n.id
             WHERE n.tenant_id = t AND (${PATCHED});
            PERFORM pg_notify('viability_inventory', t::text || ':' || v || ':' || coalesce(patches, ''));
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
