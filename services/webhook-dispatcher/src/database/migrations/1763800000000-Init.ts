import { messagingTablesSql } from '@elo/messaging';
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Init1763800000000 implements MigrationInterface {
  name = 'Init1763800000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of messagingTablesSql('dispatcher')) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE "dispatcher".inbox');
    await q.query('DROP TABLE "dispatcher".outbox');
  }
}
