import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"chat_ingress"';

/**
 * Contacts by the provider's user id: a WhatsApp customer who writes with their business-scoped user id alone (a
 * username, the phone withheld) is found under the contact first known by phone (IngestService), and POST /messages
 * finds a contact by `providerUserId`.
 */
export class ContactUserIdIndex1765900000000 implements MigrationInterface {
  name = 'ContactUserIdIndex1765900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX contacts_provider_user_idx ON ${S}.contacts (channel_id, provider_user_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX ${S}.contacts_provider_user_idx`);
  }
}
