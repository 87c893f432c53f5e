import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"dispatcher"';

/** The previous signing secret (kept signing for 24 h after a rotation) and when an integration started failing. */
export class RotationAndHealth1764000100000 implements MigrationInterface {
  name = 'RotationAndHealth1764000100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${S}.integrations
      ADD COLUMN previous_signing_secret_sealed text,
      ADD COLUMN previous_signing_expires_at timestamptz,
      ADD COLUMN failing_since timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${S}.integrations
      DROP COLUMN previous_signing_secret_sealed, DROP COLUMN previous_signing_expires_at, DROP COLUMN failing_since`);
  }
}
