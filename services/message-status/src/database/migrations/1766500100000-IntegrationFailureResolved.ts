import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"message_status"';

/** When a later success of the same delivery (a resend) resolved its failure: off the failures board from then on. */
export class IntegrationFailureResolved1766500100000 implements MigrationInterface {
  name = 'IntegrationFailureResolved1766500100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${S}.integration_failures ADD COLUMN resolved_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${S}.integration_failures DROP COLUMN resolved_at`);
  }
}
