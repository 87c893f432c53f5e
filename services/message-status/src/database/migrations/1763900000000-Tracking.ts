import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"message_status"';

/** Messages, their status timelines, statuses waiting for their message, and integration failures. */
export class Tracking1763900000000 implements MigrationInterface {
  name = 'Tracking1763900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE ${S}.messages (
      id uuid PRIMARY KEY,
      tenant_id text NOT NULL,
      channel_id uuid,
      provider text,
      conversation_id uuid,
      provider_message_id text,
      status text NOT NULL,
      status_rank smallint NOT NULL,
      status_at timestamptz NOT NULL,
      failure_reason text,
      failure_code text,
      failure_title text,
      failure_details text,
      retryable boolean,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    ) WITH (fillfactor = 70)`);
    // No index names a column a status move writes (status, status_at, failure_*, updated_at), and pages
    // keep free room: status moves are HOT updates that touch no index, which is most of the write cost.
    await q.query(`CREATE UNIQUE INDEX messages_channel_pmid_uq ON ${S}.messages (channel_id, provider_message_id)
      WHERE provider_message_id IS NOT NULL`);
    await q.query(`CREATE INDEX messages_tenant_created_idx ON ${S}.messages (tenant_id, created_at DESC, id DESC)`);
    await q.query(`CREATE INDEX messages_tenant_channel_idx ON ${S}.messages (tenant_id, channel_id, created_at DESC)`);
    await q.query(`CREATE INDEX messages_tenant_conversation_idx ON ${S}.messages (tenant_id, conversation_id, created_at DESC)
      WHERE conversation_id IS NOT NULL`);

    await q.query(`CREATE TABLE ${S}.message_events (
      id bigserial PRIMARY KEY,
      message_id uuid NOT NULL,
      tenant_id text NOT NULL,
      raw_status text NOT NULL,
      source text NOT NULL,
      provider_timestamp timestamptz NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now(),
      reportable boolean NOT NULL,
      applied boolean NOT NULL DEFAULT false,
      error_code text,
      error_title text,
      error_details text,
      reason text,
      event_id text
    )`);
    // A provider repeating the same status for the same moment is one timeline entry.
    await q.query(`CREATE UNIQUE INDEX message_events_dedupe_uq ON ${S}.message_events
      (message_id, raw_status, provider_timestamp)`);
    await q.query(`CREATE INDEX message_events_tenant_ts_idx ON ${S}.message_events (tenant_id, provider_timestamp)
      WHERE applied`);

    await q.query(`CREATE TABLE ${S}.pending_statuses (
      id bigserial PRIMARY KEY,
      tenant_id text NOT NULL,
      channel_id uuid NOT NULL,
      provider text NOT NULL,
      provider_message_id text NOT NULL,
      raw_status text NOT NULL,
      provider_timestamp timestamptz NOT NULL,
      error_code text,
      error_title text,
      error_details text,
      reason text,
      event_id text,
      received_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE INDEX pending_statuses_key_idx ON ${S}.pending_statuses (channel_id, provider_message_id)`);

    await q.query(`CREATE TABLE ${S}.integration_failures (
      delivery_id uuid PRIMARY KEY,
      tenant_id text NOT NULL,
      integration_id uuid NOT NULL,
      integration_name text NOT NULL,
      event_type text NOT NULL,
      conversation_id uuid,
      http_status int,
      error_class text,
      error text,
      attempts int NOT NULL,
      failed_at timestamptz NOT NULL
    )`);
    await q.query(`CREATE INDEX integration_failures_tenant_idx ON ${S}.integration_failures (tenant_id, failed_at DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE ${S}.integration_failures`);
    await q.query(`DROP TABLE ${S}.pending_statuses`);
    await q.query(`DROP TABLE ${S}.message_events`);
    await q.query(`DROP TABLE ${S}.messages`);
  }
}
