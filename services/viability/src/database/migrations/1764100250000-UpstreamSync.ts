import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Per-tenant upstream network-documentation system: where to page boxes and poles from, and how it went. */
export class UpstreamSync1764100250000 implements MigrationInterface {
  name = 'UpstreamSync1764100250000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE viability.upstreams (
      tenant_id uuid PRIMARY KEY,
      base_url text NOT NULL,
      token_sealed text NOT NULL,
      enabled boolean NOT NULL DEFAULT true,
      interval_minutes int NOT NULL DEFAULT 60 CHECK (interval_minutes >= 1),
      page_size int NOT NULL DEFAULT 500 CHECK (page_size BETWEEN 1 AND 5000),
      last_started_at timestamptz,
      last_finished_at timestamptz,
      last_status text,
      last_result jsonb,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE viability.upstreams');
  }
}
