import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The calls of an extension, latest answered first: what a screen that (re)connects is sent first (see PopHub.latest). */
export class CallsByExtension1765300000000 implements MigrationInterface {
  name = 'CallsByExtension1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX calls_extension_answered_idx ON "telephony".calls (tenant_id, ramal, answered_at DESC) WHERE answered_at IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX "telephony".calls_extension_answered_idx');
  }
}
