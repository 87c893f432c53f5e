import type { MigrationInterface, QueryRunner } from 'typeorm';

export class GeocodeCache1764100100000 implements MigrationInterface {
  name = 'GeocodeCache1764100100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE viability.geocode_cache (
      query text PRIMARY KEY,
      result jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE viability.geocode_cache');
  }
}
