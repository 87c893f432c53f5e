import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"dispatcher"';

/**
 * Pending runs a bot flow requested, by integration, then due time: the claim takes them ahead of the
 * integration's other due deliveries (a flow is waiting for each), and finds them by this index rather than
 * by reading through the integration's backlog.
 */
export class RequestedPending1766200000000 implements MigrationInterface {
  name = 'RequestedPending1766200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX deliveries_requested_pending_idx ON ${S}.deliveries (integration_id, next_attempt_at)
      WHERE status = 'pending' AND event_type = 'integration.requested'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX ${S}.deliveries_requested_pending_idx`);
  }
}
