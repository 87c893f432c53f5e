import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Upstream as the source of truth: after a complete sync, what it no longer lists goes. */
export class UpstreamPrune1764100350000 implements MigrationInterface {
  name = 'UpstreamPrune1764100350000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE viability.upstreams ADD COLUMN prune boolean NOT NULL DEFAULT false');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE viability.upstreams DROP COLUMN prune');
  }
}
