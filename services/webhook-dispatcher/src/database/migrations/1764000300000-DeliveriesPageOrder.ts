import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"dispatcher"';

/** An integration's deliveries in their listing order (created_at, then id, newest first): cursor pages by index. */
export class DeliveriesPageOrder1764000300000 implements MigrationInterface {
  name = 'DeliveriesPageOrder1764000300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX deliveries_integration_page_idx ON ${S}.deliveries (integration_id, created_at DESC, id DESC)`);
    await q.query(`DROP INDEX ${S}.deliveries_integration_idx`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX deliveries_integration_idx ON ${S}.deliveries (integration_id, created_at DESC)`);
    await q.query(`DROP INDEX ${S}.deliveries_integration_page_idx`);
  }
}
