import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"dispatcher"';

/**
 * The correlation id a delivery runs in: that of the event that caused it. The worker sends the delivery and
 * publishes its outcome later, outside the consumer's context, so the id is kept on the row. Nullable and not
 * filled in: rows written before this fall back to the correlation id of the event they keep.
 */
export class DeliveryCorrelation1768000000000 implements MigrationInterface {
  name = 'DeliveryCorrelation1768000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${S}.deliveries ADD COLUMN correlation_id text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${S}.deliveries DROP COLUMN correlation_id`);
  }
}
