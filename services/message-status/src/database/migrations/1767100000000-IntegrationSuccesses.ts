import { retentionIndex } from '@elo/platform';
import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"message_status"';

/** Indexed for the retention sweeper, like integration_failures.failed_at. */
const brin = new (retentionIndex(`${S}.integration_successes`, 'succeeded_at', 'integration_successes_succeeded_brin'))();

/**
 * The latest success of each delivery that succeeded after an earlier attempt failed (attempts > 1), so that its
 * failure, handled after the success, is resolved at once. Deleted with the failures (MESSAGE_RETENTION_DAYS): a
 * success resolves only a failure older than itself, which retention deletes no later.
 */
export class IntegrationSuccesses1767100000000 implements MigrationInterface {
  name = 'IntegrationSuccesses1767100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE ${S}.integration_successes (
      delivery_id uuid PRIMARY KEY,
      tenant_id text NOT NULL,
      succeeded_at timestamptz NOT NULL
    )`);
    await brin.up(q);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE ${S}.integration_successes`);
  }
}
