import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * FindME links answer every asker: `answered_at` marks a link whose viability.checked went out (confirmed,
 * SMS not sent, or expired unused), so the sweep answers each link once; `result` keeps the answer for
 * GET /findme/links/:id and the callback; `callback_due_at` and `callback_attempts` keep the callback's
 * retries in the database, so they survive a restart.
 */
export class FindmeFollowUp1765600000000 implements MigrationInterface {
  name = 'FindmeFollowUp1765600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE viability.findme_links
      ADD COLUMN answered_at timestamptz,
      ADD COLUMN result jsonb,
      ADD COLUMN callback_due_at timestamptz,
      ADD COLUMN callback_attempts int NOT NULL DEFAULT 0`);
    // Links already used were answered when they were confirmed.
    await q.query('UPDATE viability.findme_links SET answered_at = used_at WHERE used_at IS NOT NULL');
    await q.query(`CREATE INDEX findme_links_unanswered_idx ON viability.findme_links (expires_at)
      WHERE answered_at IS NULL AND (request_id IS NOT NULL OR conversation_id IS NOT NULL)`);
    await q.query('CREATE INDEX findme_links_callback_due_idx ON viability.findme_links (callback_due_at) WHERE callback_due_at IS NOT NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX viability.findme_links_callback_due_idx');
    await q.query('DROP INDEX viability.findme_links_unanswered_idx');
    await q.query(`ALTER TABLE viability.findme_links
      DROP COLUMN callback_attempts, DROP COLUMN callback_due_at, DROP COLUMN result, DROP COLUMN answered_at`);
  }
}
