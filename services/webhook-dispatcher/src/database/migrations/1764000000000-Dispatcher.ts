import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"dispatcher"';

/** Integrations, one delivery per (event, integration), and every attempt made. */
export class Dispatcher1764000000000 implements MigrationInterface {
  name = 'Dispatcher1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE ${S}.integrations (
      id uuid PRIMARY KEY,
      tenant_id text NOT NULL,
      name text NOT NULL,
      description text NOT NULL DEFAULT '',
      kind text NOT NULL,
      enabled boolean NOT NULL DEFAULT true,
      disabled_reason text,
      request jsonb NOT NULL,
      trigger jsonb NOT NULL,
      delivery jsonb NOT NULL,
      reply jsonb NOT NULL DEFAULT '{}',
      secrets_sealed text,
      secret_names text[] NOT NULL DEFAULT '{}',
      signing_secret_sealed text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE UNIQUE INDEX integrations_tenant_name_uq ON ${S}.integrations (tenant_id, lower(name))`);
    await q.query(`CREATE INDEX integrations_trigger_idx ON ${S}.integrations USING gin ((trigger->'eventTypes')) WHERE enabled`);

    await q.query(`CREATE TABLE ${S}.deliveries (
      id uuid PRIMARY KEY,
      tenant_id text NOT NULL,
      integration_id uuid NOT NULL REFERENCES ${S}.integrations(id) ON DELETE CASCADE,
      event_id text NOT NULL,
      event_type text NOT NULL,
      event jsonb NOT NULL,
      status text NOT NULL DEFAULT 'pending',
      attempts int NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL DEFAULT now(),
      last_http_status int,
      last_error_class text,
      last_error text,
      created_at timestamptz NOT NULL DEFAULT now(),
      completed_at timestamptz
    )`);
    await q.query(`CREATE UNIQUE INDEX deliveries_event_integration_uq ON ${S}.deliveries (event_id, integration_id)`);
    await q.query(`CREATE INDEX deliveries_due_idx ON ${S}.deliveries (next_attempt_at) WHERE status = 'pending'`);
    await q.query(`CREATE INDEX deliveries_integration_idx ON ${S}.deliveries (integration_id, created_at DESC)`);

    await q.query(`CREATE TABLE ${S}.attempts (
      id bigserial PRIMARY KEY,
      delivery_id uuid NOT NULL REFERENCES ${S}.deliveries(id) ON DELETE CASCADE,
      tenant_id text NOT NULL,
      attempt int NOT NULL,
      request jsonb NOT NULL,
      response jsonb,
      http_status int,
      error_class text,
      error text,
      duration_ms int NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE INDEX attempts_delivery_idx ON ${S}.attempts (delivery_id, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE ${S}.attempts`);
    await q.query(`DROP TABLE ${S}.deliveries`);
    await q.query(`DROP TABLE ${S}.integrations`);
  }
}
