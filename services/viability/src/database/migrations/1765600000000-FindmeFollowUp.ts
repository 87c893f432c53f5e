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
    // Links that expired unused before this release: whoever asked stopped waiting long ago, and answering
    // them now would send a stale viability.checked for each (and fire tenants' integrations) in the first
    // sweeps. They are marked answered without a result; links still open are answered when they expire.
    await q.query('UPDATE viability.findme_links SET answered_at = expires_at WHERE answered_at IS NULL AND used_at IS NULL AND expires_at <= now()');
    // No callback is left due (callback_due_at stays NULL): links confirmed before this release had their
    // callback tried once at confirmation, and no result is stored for them to send again.
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
