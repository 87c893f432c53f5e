import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"dispatcher"';

/**
 * Pending deliveries indexed by integration, then due time: the worker claims per integration (each
 * within its own concurrency and rate limits), so it finds the integrations with pending deliveries by
 * a skip scan and each one's due rows by index. It replaces the index on due time alone.
 */
export class PendingByIntegration1764000200000 implements MigrationInterface {
  name = 'PendingByIntegration1764000200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX deliveries_pending_idx ON ${S}.deliveries (integration_id, next_attempt_at) WHERE status = 'pending'`);
    await q.query(`DROP INDEX ${S}.deliveries_due_idx`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX deliveries_due_idx ON ${S}.deliveries (next_attempt_at) WHERE status = 'pending'`);
    await q.query(`DROP INDEX ${S}.deliveries_pending_idx`);
  }
}
