import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"chat_ingress"';

/**
 * Telegram Business connections of a channel's bot, as their last `business_connection` update left them: whether the
 * business account has the bot connected and lets it reply. Sends through a connection that may not reply are not tried.
 */
export class TelegramBusinessConnections1766700000000 implements MigrationInterface {
  name = 'TelegramBusinessConnections1766700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE ${S}.telegram_business_connections (
      channel_id uuid NOT NULL,
      connection_id text NOT NULL,
      tenant_id text NOT NULL,
      enabled boolean NOT NULL,
      can_reply boolean NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (channel_id, connection_id)
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE ${S}.telegram_business_connections`);
  }
}
