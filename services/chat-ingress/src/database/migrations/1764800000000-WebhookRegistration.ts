import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"chat_ingress"';

/** The outcome of registering a channel's webhook with its provider (Telegram setWebhook). */
export class WebhookRegistration1764800000000 implements MigrationInterface {
  name = 'WebhookRegistration1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${S}.channels
      ADD COLUMN webhook_registration_status text,
      ADD COLUMN webhook_registered_url text,
      ADD COLUMN webhook_registration_at timestamptz,
      ADD COLUMN webhook_registration_error text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${S}.channels
      DROP COLUMN webhook_registration_status, DROP COLUMN webhook_registered_url,
      DROP COLUMN webhook_registration_at, DROP COLUMN webhook_registration_error`);
  }
}
