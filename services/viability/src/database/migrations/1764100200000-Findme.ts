import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Findme1764100200000 implements MigrationInterface {
  name = 'Findme1764100200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE viability.settings ADD COLUMN sms_template_sealed text');
    await q.query(`CREATE TABLE viability.findme_links (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      token_hash text NOT NULL UNIQUE,
      phone text NOT NULL,
      request_id uuid,
      conversation_id uuid,
      channel_id uuid,
      callback_url text,
      expires_at timestamptz NOT NULL,
      used_at timestamptz,
      check_id uuid,
      sms_status text,
      callback_status text,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query('CREATE INDEX findme_links_tenant_idx ON viability.findme_links (tenant_id, created_at DESC)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE viability.findme_links');
    await q.query('ALTER TABLE viability.settings DROP COLUMN sms_template_sealed');
  }
}
