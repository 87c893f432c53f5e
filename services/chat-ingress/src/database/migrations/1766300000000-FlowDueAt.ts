import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"chat_ingress"';

/**
 * When the bot flow's scheduler next has to look at an open conversation (a wait's limit, a reminder, a close after
 * it), kept by the service whenever those change (flow/flow-due.ts), and a partial index on it: a tick reads what is
 * due, not every open conversation. Open conversations get theirs now, by the rules of this release (a copy: the
 * service's may change later; the scheduler puts any time right when it comes). A wait saved without a limit is due at
 * once: the scheduler gives it one.
 */
export class FlowDueAt1766300000000 implements MigrationInterface {
  name = 'FlowDueAt1766300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${S}.conversations ADD COLUMN flow_due_at timestamptz`);
    const reminderAfter = `COALESCE((ch.settings->>'reminderAfterMinutes')::int, 10)`;
    const closeAfter = `COALESCE((ch.settings->>'closeAfterMinutes')::int, 10)`;
    await q.query(`UPDATE ${S}.conversations u SET flow_due_at = d.due FROM (
      SELECT c.id, CASE
          WHEN ch.status <> 'active' OR c.queue <> COALESCE(ch.settings->>'botQueue', 'bot') THEN NULL
          WHEN c.flow_state->>'waiting' IN ('integration', 'viability') THEN
            CASE WHEN c.flow_id IS NOT NULL THEN COALESCE((c.flow_state->>'waitUntil')::timestamptz, now()) END
          WHEN c.reminder_sent_at >= COALESCE(li.last_in, '-infinity') THEN LEAST(
            CASE WHEN c.reminder_sent_at > COALESCE(li.last_in, '-infinity') AND ${closeAfter} > 0 THEN c.reminder_sent_at + make_interval(mins => ${closeAfter}) END,
            CASE WHEN c.flow_id IS NOT NULL AND ${reminderAfter} > 0 THEN now() + make_interval(mins => ${reminderAfter}) END)
          WHEN c.flow_id IS NOT NULL AND ${reminderAfter} > 0
            THEN GREATEST(li.last_in, (c.flow_state->>'waitEndedAt')::timestamptz) + make_interval(mins => ${reminderAfter})
        END AS due
        FROM ${S}.conversations c JOIN ${S}.channels ch ON ch.id = c.channel_id
        CROSS JOIN LATERAL (SELECT max(mi.created_at) AS last_in FROM ${S}.messages mi WHERE mi.conversation_id = c.id AND mi.direction = 'in') li
       WHERE c.status = 'open' AND (c.flow_id IS NOT NULL OR c.reminder_sent_at IS NOT NULL)) d
      WHERE u.id = d.id AND d.due IS NOT NULL`);
    await q.query(`CREATE INDEX conversations_flow_due_idx ON ${S}.conversations (flow_due_at) WHERE status = 'open' AND flow_due_at IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX ${S}.conversations_flow_due_idx`);
    await q.query(`ALTER TABLE ${S}.conversations DROP COLUMN flow_due_at`);
  }
}
