import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"dispatcher"';

/**
 * The live replicas (a heartbeat each): each integration's limits are shared between them, every replica
 * taking its share (see deliveries/replicas.ts).
 */
export class Replicas1765300000000 implements MigrationInterface {
  name = 'Replicas1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE ${S}.replicas (id uuid PRIMARY KEY, seen_at timestamptz NOT NULL DEFAULT now())`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE ${S}.replicas`);
  }
}
