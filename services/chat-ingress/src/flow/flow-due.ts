import type { EntityManager } from 'typeorm';
import { DEFAULT_SETTINGS } from '../channels/channel.types';

const S = '"chat_ingress"';
/** A channel's bot queue (settings.botQueue, else the default), as SQL over the joined channel `ch`. */
export const BOT_QUEUE = `COALESCE(ch.settings->>'botQueue', '${DEFAULT_SETTINGS.botQueue.replace(/'/g, "''")}')`;
/** The channel `ch`'s minutes of silence before a reminder, and after it before closing (0: never). */
export const REMINDER_AFTER = `COALESCE((ch.settings->>'reminderAfterMinutes')::int, 10)`;
export const CLOSE_AFTER = `COALESCE((ch.settings->>'closeAfterMinutes')::int, 10)`;
/** The time of the last inbound message of the conversation `c`, as `li.last_in` (CROSS JOIN LATERAL it). */
export const LAST_IN = `(SELECT max(mi.created_at) AS last_in FROM ${S}.messages mi WHERE mi.conversation_id = c.id AND mi.direction = 'in') li`;
/**
 * The conversation `c` is not waiting for an outcome event (integration, viability): such a customer is not silent but
 * waiting for us (or on a FindME link's map), and the wait has a limit of its own, which may be longer than the silence.
 */
export const NO_OUTCOME_WAIT = `COALESCE(c.flow_state->>'waiting', '') NOT IN ('integration', 'viability')`;
/**
 * Since when the customer of `c` (last inbound message `li.last_in`) is silent: their last message, or the end of an
 * outcome wait after it, when the bot spoke again (the message before a long wait is no measure of silence).
 */
export const QUIET_SINCE = `GREATEST(li.last_in, (c.flow_state->>'waitEndedAt')::timestamptz)`;

/**
 * When the flow scheduler next has to look at the conversation `c` (channel `ch`, `li.last_in`), by the rules of its
 * tick (FlowScheduler): the limit of an outcome wait (now for one saved without a limit, which the tick then gives
 * one); after a reminder, its close; else the reminder after the customer's silence. NULL: nothing can fall due
 * until the conversation or its channel changes (closed, with people, disabled channel, no flow, timers off).
 * Never later than the true time: the webhook path records customers' messages without touching the conversation, and
 * a later message only puts the reminder later, except after a reminder, when it makes a new one possible
 * reminderAfterMinutes after it: so a reminded conversation is looked at again within that time at the latest.
 */
export const FLOW_DUE = `CASE
    WHEN c.status <> 'open' OR ch.status <> 'active' OR c.queue <> ${BOT_QUEUE} THEN NULL
    WHEN c.flow_state->>'waiting' IN ('integration', 'viability') THEN
      CASE WHEN c.flow_id IS NOT NULL THEN COALESCE((c.flow_state->>'waitUntil')::timestamptz, now()) END
    WHEN c.reminder_sent_at >= COALESCE(li.last_in, '-infinity') THEN LEAST(
      CASE WHEN c.reminder_sent_at > COALESCE(li.last_in, '-infinity') AND ${CLOSE_AFTER} > 0 THEN c.reminder_sent_at + make_interval(mins => ${CLOSE_AFTER}) END,
      CASE WHEN c.flow_id IS NOT NULL AND ${REMINDER_AFTER} > 0 THEN now() + make_interval(mins => ${REMINDER_AFTER}) END)
    WHEN c.flow_id IS NOT NULL AND ${REMINDER_AFTER} > 0 THEN ${QUIET_SINCE} + make_interval(mins => ${REMINDER_AFTER})
  END`;

/** Each conversation `c` chosen by `where` with its due time (FLOW_DUE) as `due`. */
export const dueOf = (where: string) =>
  `SELECT c.id, ${FLOW_DUE} AS due FROM ${S}.conversations c JOIN ${S}.channels ch ON ch.id = c.channel_id CROSS JOIN LATERAL ${LAST_IN} WHERE ${where}`;

/**
 * Stores when the scheduler next looks at the conversations `ids` (flow_due_at), after a change of their flow state,
 * reminder or queue. The caller holds their rows locked, so the time is computed from what will commit.
 */
export async function keepFlowDue(m: EntityManager, ids: string[]): Promise<void> {
  if (!ids.length) return;
  await m.query(`UPDATE ${S}.conversations u SET flow_due_at = d.due FROM (${dueOf('c.id = ANY($1::uuid[])')}) d WHERE u.id = d.id`, [ids]);
}

/**
 * A channel's status or timer settings changed: its open conversations are due no later than the new settings make
 * them (enabled again, a shorter silence). Their rows are not locked: a conversation whose due time a flow step set
 * meanwhile keeps it when it is earlier, and the tick puts an early one right.
 */
export async function keepChannelFlowDue(m: EntityManager, tenantId: string, channelId: string): Promise<void> {
  await m.query(
    `UPDATE ${S}.conversations u SET flow_due_at = LEAST(u.flow_due_at, d.due)
       FROM (${dueOf(`c.tenant_id = $1 AND c.channel_id = $2 AND c.status = 'open'`)}) d WHERE u.id = d.id AND d.due IS NOT NULL`,
    [tenantId, channelId],
  );
}
