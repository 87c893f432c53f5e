import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Inventory1764100000000 implements MigrationInterface {
  name = 'Inventory1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE EXTENSION IF NOT EXISTS postgis WITH SCHEMA public');
    await q.query(`CREATE TABLE viability.poles (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      tenant_id uuid NOT NULL,
      external_id text NOT NULL,
      name text NOT NULL,
      location public.geography(Point, 4326) NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (tenant_id, external_id)
    )`);
    await q.query('CREATE INDEX poles_location_idx ON viability.poles USING gist (location)');
    await q.query(`CREATE TABLE viability.boxes (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      tenant_id uuid NOT NULL,
      external_id text NOT NULL,
      name text NOT NULL,
      status text NOT NULL CHECK (status IN ('in_project', 'not_deployed', 'deployed', 'certified')),
      port_capacity int NOT NULL CHECK (port_capacity >= 0),
      ports_in_use int NOT NULL CHECK (ports_in_use >= 0),
      pole_external_id text,
      location public.geography(Point, 4326) NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (tenant_id, external_id)
    )`);
    await q.query('CREATE INDEX boxes_location_idx ON viability.boxes USING gist (location)');
    await q.query(`CREATE TABLE viability.settings (
      tenant_id uuid PRIMARY KEY,
      max_drop_m int NOT NULL DEFAULT 150,
      mode text NOT NULL DEFAULT 'radius' CHECK (mode IN ('radius', 'pole')),
      chat_location_checks boolean NOT NULL DEFAULT false,
      replies jsonb NOT NULL DEFAULT '{}'
    )`);
    await q.query(`CREATE TABLE viability.checks (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      via text NOT NULL,
      lat double precision,
      lng double precision,
      status text NOT NULL,
      box_id uuid,
      result jsonb NOT NULL,
      checked_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query('CREATE INDEX checks_tenant_idx ON viability.checks (tenant_id, checked_at DESC)');
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['checks', 'settings', 'boxes', 'poles']) await q.query(`DROP TABLE viability.${t}`);
  }
}
