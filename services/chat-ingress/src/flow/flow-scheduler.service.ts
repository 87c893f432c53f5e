import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Outbox, type PublishSpecLike } from '@elo/messaging';
import { createLogger } from '@elo/observability';
import { periodic, SERVICE_CONFIG, type Periodic } from '@elo/platform';
import { DataSource, type EntityManager } from 'typeorm';
import { DEFAULT_SETTINGS } from '../channels/channel.types';
import type { ChatIngressConfig } from '../config/chat-ingress.config';
import { ConversationsService, type ConversationRow } from '../conversations/conversations.service';
import { FlowEngine } from './flow-engine.service';

const S = '"chat_ingress"';
/** A channel's bot queue (settings.botQueue, else the default), as SQL over the joined channel `ch`. */
const BOT_QUEUE = `COALESCE(ch.settings->>'botQueue', '${DEFAULT_SETTINGS.botQueue.replace(/'/g, "''")}')`;
/**
 * The conversation `c` is not waiting for an outcome event (integration, viability): such a customer is not silent but
 * waiting for us (or on a FindME link's map), and the wait has a limit of its own, which may be longer than the silence.
 */
const NO_OUTCOME_WAIT = `COALESCE(c.flow_state->>'waiting', '') NOT IN ('integration', 'viability')`;
/**
 * Since when the customer of `c` (last inbound message `li.last_in`) is silent: their last message, or the end of an
 * outcome wait after it, when the bot spoke again (the message before a long wait is no measure of silence).
 */
const QUIET_SINCE = `GREATEST(li.last_in, (c.flow_state->>'waitEndedAt')::timestamptz)`;

/**
 * Timers of bot conversations: a step waiting for an integration or viability outcome that timed out
 * (its timeout branch), a reminder after the customer's configured silence, then closing the
 * conversation when silence goes on. Silence is measured from the last inbound message (the webhook
 * path never locks conversation rows to record it), or from the end of an outcome wait after it; a conversation
 * waiting for an outcome is not silent. The flow clears a reminder when it takes the customer's next message.
 * Works from the database (any replica may run it; rows are locked).
 * Conversations of a disabled channel wait until it is enabled again: each of these sends a message, which
 * such a channel refuses, and one refusal would fail the whole tick (every tenant's timers) every time.
 */
@Injectable()
export class FlowScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = createLogger('chat-ingress').child({ component: 'flow-scheduler' });
  private schedule?: Periodic;

  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
    private readonly engine: FlowEngine,
    private readonly conversations: ConversationsService,
    @Inject(SERVICE_CONFIG) private readonly config: ChatIngressConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.CHAT_WORKERS === 'off') return;
    this.schedule = periodic(this.config.FLOW_TICK_MS, () => this.tick(), (err) => this.logger.error({ err: err.message }, 'flow timers failed'));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.schedule?.stop();
  }

  /** One pass: waits timed out, reminders due, then closes due. Returns how many conversations it touched. */
  async tick(): Promise<{ timedOut: number; reminded: number; closed: number }> {
    let timedOut = 0;
    let reminded = 0;
    let closed = 0;
    await this.ds.transaction(async (m) => {
      const publish = async (...specs: PublishSpecLike[]) => {
        if (specs.length) await this.outbox.publish(m, ...(specs as Parameters<Outbox['publish']>[1][]));
      };
      await this.limitOpenWaits(m);
      const waits: ConversationRow[] = await m.query(
        `SELECT c.* FROM ${S}.conversations c JOIN ${S}.channels ch ON ch.id = c.channel_id
         WHERE c.status = 'open' AND c.flow_id IS NOT NULL AND c.flow_state->>'waiting' IN ('integration', 'viability')
           AND c.queue = ${BOT_QUEUE} AND ch.status = 'active'
           AND (c.flow_state->>'waitUntil')::timestamptz < now()
         ORDER BY c.id LIMIT 200 FOR UPDATE OF c SKIP LOCKED`,
      );
      for (const c of waits) {
        await this.engine.onWaitTimeout(m, c, publish);
        timedOut++;
      }
      const remind: Array<ConversationRow & { reminder_message: string | null }> = await m.query(
        `SELECT c.*, ch.settings->>'reminderMessage' AS reminder_message FROM ${S}.conversations c JOIN ${S}.channels ch ON ch.id = c.channel_id
         CROSS JOIN LATERAL (SELECT max(mi.created_at) AS last_in FROM ${S}.messages mi WHERE mi.conversation_id = c.id AND mi.direction = 'in') li
         WHERE c.status = 'open' AND c.flow_id IS NOT NULL AND (c.reminder_sent_at IS NULL OR c.reminder_sent_at < li.last_in)
           AND c.queue = ${BOT_QUEUE} AND ch.status = 'active' AND ${NO_OUTCOME_WAIT}
           AND COALESCE((ch.settings->>'reminderAfterMinutes')::int, 10) > 0
           AND ${QUIET_SINCE} < now() - make_interval(mins => COALESCE((ch.settings->>'reminderAfterMinutes')::int, 10))
         ORDER BY ${QUIET_SINCE} LIMIT 200 FOR UPDATE OF c SKIP LOCKED`,
      );
      for (const c of remind) {
        await this.engine.remind(m, c, c.reminder_message ?? 'Ainda está aí? Responda para continuarmos o atendimento.', publish);
        reminded++;
      }
      const close: ConversationRow[] = await m.query(
        `SELECT c.* FROM ${S}.conversations c JOIN ${S}.channels ch ON ch.id = c.channel_id
         CROSS JOIN LATERAL (SELECT max(mi.created_at) AS last_in FROM ${S}.messages mi WHERE mi.conversation_id = c.id AND mi.direction = 'in') li
         WHERE c.status = 'open' AND c.reminder_sent_at IS NOT NULL AND c.reminder_sent_at > COALESCE(li.last_in, '-infinity')
           AND c.queue = ${BOT_QUEUE} AND ch.status = 'active' AND ${NO_OUTCOME_WAIT}
           AND COALESCE((ch.settings->>'closeAfterMinutes')::int, 10) > 0
           AND c.reminder_sent_at < now() - make_interval(mins => COALESCE((ch.settings->>'closeAfterMinutes')::int, 10))
         ORDER BY c.reminder_sent_at LIMIT 200 FOR UPDATE OF c SKIP LOCKED`,
      );
      for (const c of close) {
        await this.conversations.close(m, c, 'inactivity', publish);
        closed++;
      }
    });
    return { timedOut, reminded, closed };
  }

  /**
   * A wait saved before waits had a limit (no waitUntil, e.g. open at deploy time) gets its whole limit
   * (FlowEngine.waitTimeoutFor) counted from now, when the scheduler first sees it: it has not been
   * waiting too long by a rule that did not exist when it began. Rows locked elsewhere get it next tick.
   */
  private async limitOpenWaits(m: EntityManager): Promise<void> {
    const open: ConversationRow[] = await m.query(
      `SELECT * FROM ${S}.conversations
        WHERE status = 'open' AND flow_id IS NOT NULL AND flow_state->>'waiting' IN ('integration', 'viability') AND flow_state->>'waitUntil' IS NULL
        ORDER BY id LIMIT 200 FOR UPDATE SKIP LOCKED`,
    );
    if (!open.length) return;
    const now = Date.now();
    const until: string[] = [];
    for (const c of open) until.push(new Date(now + (await this.engine.waitTimeoutFor(m, c))).toISOString());
    await m.query(
      `UPDATE ${S}.conversations c SET flow_state = c.flow_state || jsonb_build_object('waitUntil', u.until)
         FROM unnest($1::uuid[], $2::text[]) AS u(id, until) WHERE c.id = u.id`,
      [open.map((c) => c.id), until],
    );
  }
}
