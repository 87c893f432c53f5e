import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * When the next call to the geocoder may go out, shared by every replica: the provider's rate limit
 * (Nominatim's one a second) is for the whole service, not for each process.
 */
export class GeocoderPace1768200000000 implements MigrationInterface {
  name = 'GeocoderPace1768200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE viability.geocoder_pace (
      id smallint PRIMARY KEY CHECK (id = 1),
      next_at timestamptz NOT NULL
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE viability.geocoder_pace');
  }
}
