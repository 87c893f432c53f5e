import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A call answered by a second extension (a transfer) is a new callback, not a repeat: `answered` callbacks are kept
 * once per (profile, call id, extension), `ended` ones still once per call (ramal ''). The call remembers the
 * extension it was transferred from, so a screen of that extension that connects learns the call has moved.
 */
export class AnsweredPerExtension1767000000000 implements MigrationInterface {
  name = 'AnsweredPerExtension1767000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "telephony".callbacks ADD COLUMN ramal text NOT NULL DEFAULT ''`);
    await q.query(`UPDATE "telephony".callbacks SET ramal = params->>'ramal' WHERE kind = 'answered' AND params->>'ramal' IS NOT NULL`);
    await q.query(`ALTER TABLE "telephony".callbacks DROP CONSTRAINT callbacks_once_uq,
      ADD CONSTRAINT callbacks_once_uq UNIQUE (profile_id, kind, call_id, ramal)`);
    await q.query(`ALTER TABLE "telephony".calls ADD COLUMN transferred_from text`);
    await q.query(`CREATE INDEX calls_transferred_from_idx ON "telephony".calls (tenant_id, transferred_from, answered_at DESC)
      WHERE transferred_from IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX "telephony".calls_transferred_from_idx');
    await q.query('ALTER TABLE "telephony".calls DROP COLUMN transferred_from');
    await q.query(`DELETE FROM "telephony".callbacks a USING "telephony".callbacks b
      WHERE a.profile_id = b.profile_id AND a.kind = b.kind AND a.call_id = b.call_id AND a.id > b.id`);
    await q.query(`ALTER TABLE "telephony".callbacks DROP CONSTRAINT callbacks_once_uq,
      ADD CONSTRAINT callbacks_once_uq UNIQUE (profile_id, kind, call_id)`);
    await q.query('ALTER TABLE "telephony".callbacks DROP COLUMN ramal');
  }
}
