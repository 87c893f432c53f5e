import type { MigrationInterface, QueryRunner } from 'typeorm';

/** PBX profiles, the calls Elo knows of, and the callbacks received (one per profile, kind and call id). */
export class Telephony1763900000000 implements MigrationInterface {
  name = 'Telephony1763900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "telephony".pbx_profiles (
      id uuid PRIMARY KEY,
      tenant_id text NOT NULL,
      name text NOT NULL,
      preset text NOT NULL,
      allowed_cidrs text[] NOT NULL,
      callback_token text,
      chave text,
      pbx_host text,
      click2call jsonb,
      recording jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT pbx_profiles_name_uq UNIQUE (tenant_id, name)
    )`);
    await q.query(`CREATE INDEX pbx_profiles_tenant_idx ON "telephony".pbx_profiles (tenant_id, created_at)`);
    await q.query(`CREATE TABLE "telephony".calls (
      id uuid PRIMARY KEY,
      tenant_id text NOT NULL,
      profile_id uuid NOT NULL REFERENCES "telephony".pbx_profiles (id) ON DELETE CASCADE,
      call_id text NOT NULL,
      origin text NOT NULL,
      ramal text,
      telefone text,
      contact_id text,
      empresa_id text,
      started_at timestamptz,
      answered_at timestamptz,
      ended_at timestamptz,
      duration_seconds int,
      disposition text,
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT calls_call_uq UNIQUE (profile_id, call_id)
    )`);
    await q.query(`CREATE INDEX calls_tenant_call_idx ON "telephony".calls (tenant_id, call_id)`);
    await q.query(`CREATE TABLE "telephony".callbacks (
      id bigserial PRIMARY KEY,
      tenant_id text NOT NULL,
      profile_id uuid NOT NULL REFERENCES "telephony".pbx_profiles (id) ON DELETE CASCADE,
      kind text NOT NULL,
      call_id text NOT NULL,
      params jsonb NOT NULL,
      source_address text NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT callbacks_once_uq UNIQUE (profile_id, kind, call_id)
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE "telephony".callbacks');
    await q.query('DROP TABLE "telephony".calls');
    await q.query('DROP TABLE "telephony".pbx_profiles');
  }
}
