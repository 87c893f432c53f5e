import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"chat_ingress"';

/**
 * Telegram Business: the business connection a customer last wrote through (null: they wrote to the bot itself). Every
 * send into their chat names it (`business_connection_id`), or Telegram refuses the send.
 */
export class ContactBusinessConnection1766100000000 implements MigrationInterface {
  name = 'ContactBusinessConnection1766100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${S}.contacts ADD COLUMN business_connection_id text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${S}.contacts DROP COLUMN business_connection_id`);
  }
}
