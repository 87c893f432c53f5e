import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Outbox, type PublishSpecLike } from '@elo/messaging';
import { createLogger } from '@elo/observability';
import { periodic, SERVICE_CONFIG, type Periodic } from '@elo/platform';
import { DataSource, type EntityManager } from 'typeorm';
import type { ChatIngressConfig } from '../config/chat-ingress.config';
import { ConversationsService, type ConversationRow } from '../conversations/conversations.service';
import { FlowEngine } from './flow-engine.service';
import { BOT_QUEUE, CLOSE_AFTER, dueOf, keepFlowDue, LAST_IN, NO_OUTCOME_WAIT, QUIET_SINCE, REMINDER_AFTER } from './flow-due';

const S = '"chat_ingress"';
/** Conversations `c` whose due time (flow_due_at, FLOW_DUE in flow-due.ts) has come: read through its partial index. */
const DUE = `c.status = 'open' AND c.flow_due_at <= now()`;

/**
 * Timers of bot conversations: a step waiting for an integration or viability outcome that timed out
 * (its timeout branch), a reminder after the customer's configured silence, then closing the
 * conversation when silence goes on. Silence is measured from the last inbound message (the webhook
 * path never locks conversation rows to record it), or from the end of an outcome wait after it; a conversation
 * waiting for an outcome is not silent. The flow clears a reminder when it takes the customer's next message.
 * Works from the database (any replica may run it; rows are locked). A tick reads only conversations whose due time
 * (flow_due_at, kept whenever their timers change: flow-due.ts) has come, through its partial index, whatever the
 * number of open conversations; it then weighs each by the rules below and stores when it is next due.
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
         WHERE ${DUE} AND c.flow_id IS NOT NULL AND c.flow_state->>'waiting' IN ('integration', 'viability')
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
         CROSS JOIN LATERAL ${LAST_IN}
         WHERE ${DUE} AND c.flow_id IS NOT NULL AND (c.reminder_sent_at IS NULL OR c.reminder_sent_at < li.last_in)
           AND c.queue = ${BOT_QUEUE} AND ch.status = 'active' AND ${NO_OUTCOME_WAIT}
           AND ${REMINDER_AFTER} > 0 AND ${QUIET_SINCE} < now() - make_interval(mins => ${REMINDER_AFTER})
         ORDER BY ${QUIET_SINCE} LIMIT 200 FOR UPDATE OF c SKIP LOCKED`,
      );
      for (const c of remind) {
        await this.engine.remind(m, c, c.reminder_message ?? 'Ainda está aí? Responda para continuarmos o atendimento.', publish);
        reminded++;
      }
      const close: ConversationRow[] = await m.query(
        `SELECT c.* FROM ${S}.conversations c JOIN ${S}.channels ch ON ch.id = c.channel_id
         CROSS JOIN LATERAL ${LAST_IN}
         WHERE ${DUE} AND c.reminder_sent_at IS NOT NULL AND c.reminder_sent_at > COALESCE(li.last_in, '-infinity')
           AND c.queue = ${BOT_QUEUE} AND ch.status = 'active' AND ${NO_OUTCOME_WAIT}
           AND ${CLOSE_AFTER} > 0 AND c.reminder_sent_at < now() - make_interval(mins => ${CLOSE_AFTER})
         ORDER BY c.reminder_sent_at LIMIT 200 FOR UPDATE OF c SKIP LOCKED`,
      );
      for (const c of close) {
        await this.conversations.close(m, c, 'inactivity', publish);
        closed++;
      }
      // What was due and is handled now, or was not due after all (its due time is a lower bound: a customer wrote, the
      // channel changed), or is no longer (moved to people): when it is next due. What waits beyond this tick's limits
      // is still due, and goes on being so.
      await m.query(
        `UPDATE ${S}.conversations u SET flow_due_at = d.due FROM (${dueOf(DUE)} ORDER BY c.flow_due_at LIMIT 200 FOR UPDATE OF c SKIP LOCKED) d WHERE u.id = d.id`,
      );
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
      `SELECT * FROM ${S}.conversations c
        WHERE ${DUE} AND c.flow_id IS NOT NULL AND c.flow_state->>'waiting' IN ('integration', 'viability') AND c.flow_state->>'waitUntil' IS NULL
        ORDER BY c.id LIMIT 200 FOR UPDATE SKIP LOCKED`,
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
    await keepFlowDue(m, open.map((c) => c.id));
  }
}
