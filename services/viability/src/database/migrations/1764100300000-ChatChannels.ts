import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Chat location checks switched on or off per channel (overrides of the tenant-wide switch). */
export class ChatChannels1764100300000 implements MigrationInterface {
  name = 'ChatChannels1764100300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE viability.settings ADD COLUMN chat_location_channels jsonb NOT NULL DEFAULT '{}'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE viability.settings DROP COLUMN chat_location_channels');
  }
}
