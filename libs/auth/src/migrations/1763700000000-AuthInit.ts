import type { MigrationInterface, QueryRunner } from 'typeorm';

export class AuthInit1763700000000 implements MigrationInterface {
  name = 'AuthInit1763700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE SCHEMA IF NOT EXISTS auth');
    await q.query(`CREATE TABLE auth.tenants (
      id uuid PRIMARY KEY,
      name text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE TABLE auth.api_keys (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES auth.tenants(id) ON DELETE CASCADE,
      name text NOT NULL,
      prefix text NOT NULL UNIQUE,
      hash text NOT NULL,
      permissions text[] NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz,
      revoked_at timestamptz,
      rotated_from uuid
    )`);
    await q.query(`CREATE INDEX api_keys_tenant_idx ON auth.api_keys (tenant_id)`);
    await q.query(`CREATE TABLE auth.audit_log (
      id bigserial PRIMARY KEY,
      tenant_id uuid,
      actor_key_id text NOT NULL,
      service text NOT NULL,
      action text NOT NULL,
      target_type text NOT NULL,
      target_id text,
      changes jsonb,
      at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE INDEX audit_log_tenant_idx ON auth.audit_log (tenant_id, id DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE auth.audit_log');
    await q.query('DROP TABLE auth.api_keys');
    await q.query('DROP TABLE auth.tenants');
  }
}
