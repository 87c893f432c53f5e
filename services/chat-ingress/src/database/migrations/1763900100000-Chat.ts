import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"chat_ingress"';

/** Channels, raw webhook receipts, contacts, conversations, messages (both directions), statuses, bot flows. */
export class Chat1763900100000 implements MigrationInterface {
  name = 'Chat1763900100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE ${S}.channels (
      id uuid PRIMARY KEY,
      tenant_id text NOT NULL,
      provider text NOT NULL,
      name text NOT NULL,
      status text NOT NULL DEFAULT 'active',
      phone_number_id text,
      display_phone text,
      account_id text,
      bot_name text,
      credentials text,
      verify_token text NOT NULL,
      settings jsonb NOT NULL DEFAULT '{}'::jsonb,
      token_status text,
      token_checked_at timestamptz,
      token_expires_at timestamptz,
      token_error text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE INDEX channels_tenant_idx ON ${S}.channels (tenant_id, created_at)`);

    await q.query(`CREATE TABLE ${S}.webhook_receipts (
      id bigserial PRIMARY KEY,
      tenant_id text NOT NULL,
      channel_id uuid NOT NULL,
      provider text NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now(),
      body text NOT NULL,
      items int NOT NULL DEFAULT 0
    )`);
    await q.query(`CREATE INDEX webhook_receipts_channel_idx ON ${S}.webhook_receipts (channel_id, received_at)`);

    await q.query(`CREATE TABLE ${S}.contacts (
      id uuid PRIMARY KEY,
      tenant_id text NOT NULL,
      channel_id uuid NOT NULL,
      contact_key text NOT NULL,
      phone text,
      phone_alt text,
      provider_user_id text,
      name text,
      attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (channel_id, contact_key)
    )`);
    await q.query(`CREATE INDEX contacts_phone_idx ON ${S}.contacts (channel_id, phone)`);
    await q.query(`CREATE INDEX contacts_phone_alt_idx ON ${S}.contacts (channel_id, phone_alt)`);

    await q.query(`CREATE TABLE ${S}.conversations (
      id uuid PRIMARY KEY,
      tenant_id text NOT NULL,
      channel_id uuid NOT NULL,
      contact_id uuid NOT NULL,
      status text NOT NULL DEFAULT 'open',
      queue text NOT NULL,
      agent_id text,
      agent_name text,
      flow_id uuid,
      flow_version int,
      flow_state jsonb,
      last_inbound_at timestamptz,
      reminder_sent_at timestamptz,
      close_reason text,
      opened_at timestamptz NOT NULL DEFAULT now(),
      closed_at timestamptz
    )`);
    await q.query(`CREATE UNIQUE INDEX conversations_open_uq ON ${S}.conversations (contact_id) WHERE status = 'open'`);
    await q.query(`CREATE INDEX conversations_tenant_idx ON ${S}.conversations (tenant_id, opened_at DESC)`);
    await q.query(`CREATE INDEX conversations_silence_idx ON ${S}.conversations (last_inbound_at) WHERE status = 'open'`);

    await q.query(`CREATE TABLE ${S}.messages (
      id uuid PRIMARY KEY,
      tenant_id text NOT NULL,
      channel_id uuid NOT NULL,
      conversation_id uuid,
      contact_id uuid,
      direction text NOT NULL,
      provider_message_id text,
      kind text NOT NULL,
      status text NOT NULL,
      status_rank smallint NOT NULL DEFAULT 0,
      body jsonb NOT NULL,
      provider_timestamp timestamptz,
      sent_at timestamptz,
      attempts int NOT NULL DEFAULT 0,
      next_attempt_at timestamptz,
      error jsonb,
      reason text,
      origin text,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE UNIQUE INDEX messages_provider_uq ON ${S}.messages (channel_id, direction, provider_message_id)
      WHERE provider_message_id IS NOT NULL`);
    await q.query(`CREATE INDEX messages_conversation_idx ON ${S}.messages (conversation_id, created_at)`);
    await q.query(`CREATE INDEX messages_outbound_due_idx ON ${S}.messages (next_attempt_at) WHERE status IN ('queued', 'sending')`);
    await q.query(`CREATE INDEX messages_out_sent_idx ON ${S}.messages (contact_id, sent_at) WHERE direction = 'out'`);

    await q.query(`CREATE TABLE ${S}.status_receipts (
      channel_id uuid NOT NULL,
      provider_message_id text NOT NULL,
      status text NOT NULL,
      provider_timestamp timestamptz NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (channel_id, provider_message_id, status)
    )`);

    await q.query(`CREATE TABLE ${S}.flows (
      id uuid PRIMARY KEY,
      tenant_id text NOT NULL,
      version int NOT NULL,
      definition jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (tenant_id, version)
    )`);

    await q.query(`CREATE TABLE ${S}.queue_agents (
      tenant_id text NOT NULL,
      queue text NOT NULL,
      agent_id text NOT NULL,
      agent_name text,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, queue, agent_id)
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['queue_agents', 'flows', 'status_receipts', 'messages', 'conversations', 'contacts', 'webhook_receipts', 'channels']) {
      await q.query(`DROP TABLE ${S}.${t}`);
    }
  }
}
