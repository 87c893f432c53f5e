import { Injectable } from '@nestjs/common';
import type { PublishSpecLike } from '@elo/messaging';
import { cursorKey, cursorTime, decodeCursor, encodeCursor, pageFilters, ProblemException } from '@elo/platform';
import type { EntityManager } from 'typeorm';
import { ChannelsService, isUuid } from '../channels/channels.service';
import { keepFlowDue } from '../flow/flow-due';
import { fitMessage, OutboundService } from '../outbound/outbound.service';
import { contactIdentity } from '../webhooks/ingest.service';
import { returnedRows } from '@elo/persistence';
import { CONVERSATION_STATUSES, type ListConversationsQuery } from './dto/conversation.dto';

const S = '"chat_ingress"';

/** A contact's identity and attributes, as events carry them (contactIdentity) and bot texts show them. */
export interface ContactRow {
  phone: string | null;
  provider_user_id: string | null;
  name: string | null;
  attributes: Record<string, string> | null;
}

/** The contact as stored now, in `m`'s transaction (an answer stored earlier in it included). */
export async function readContact(m: EntityManager, contactId: string): Promise<ContactRow | undefined> {
  const [row] = (await m.query(`SELECT phone, provider_user_id, name, attributes FROM ${S}.contacts WHERE id = $1`, [contactId])) as ContactRow[];
  return row;
}

/** What each filter a cursor carries may be (ListConversationsQuery's rules). */
const CONVERSATION_FILTERS: Record<string, (v: string) => boolean> = {
  status: (v) => (CONVERSATION_STATUSES as readonly string[]).includes(v), queue: (v) => v.length > 0 && v.length <= 100 && !v.includes('\u0000'),
};

export interface ConversationRow {
  id: string;
  tenant_id: string;
  channel_id: string;
  contact_id: string;
  status: 'open' | 'closed';
  queue: string;
  agent_id: string | null;
  agent_name: string | null;
  flow_id: string | null;
  flow_version: number | null;
  flow_state: Record<string, unknown> | null;
  last_inbound_at: Date | null;
  reminder_sent_at: Date | null;
  /** When the bot flow's scheduler next looks at it (flow/flow-due.ts). */
  flow_due_at: Date | null;
  close_reason: string | null;
  opened_at: Date;
  closed_at: Date | null;
}

type Publish = (...specs: PublishSpecLike[]) => Promise<void>;

/**
 * SET of a move to queue $2: a move to another queue ends the bot flow's wait for an outcome (integration, viability).
 * The outcome is no longer the bot's to act on; kept, the wait would run out with people and time out into its failure
 * branch the moment the conversation came back to the bot, the customer's messages ignored until then. Back in the bot
 * queue, the customer's next message starts the flow again. Its flow timers' due time follows the move (keepFlowDue):
 * none with people, silence counted again back with the bot.
 */
const MOVE = `queue = $2, agent_id = $3, agent_name = $4,
  flow_state = CASE WHEN queue <> $2 AND flow_state->>'waiting' IN ('integration', 'viability') THEN jsonb_build_object('stepId', flow_state->'stepId', 'done', true) ELSE flow_state END`;

/** Conversation moves (queues, agents, closing) with their notices and events; callers own the transaction. */
@Injectable()
export class ConversationsService {
  constructor(
    private readonly channels: ChannelsService,
    private readonly outbound: OutboundService,
  ) {}

  async lock(m: EntityManager, tenantId: string, id: string): Promise<ConversationRow> {
    const rows: ConversationRow[] = isUuid(id)
      ? await m.query(`SELECT * FROM ${S}.conversations WHERE id = $1 AND tenant_id = $2 FOR UPDATE`, [id, tenantId])
      : [];
    if (!rows[0]) throw new ProblemException(404, `conversation ${id} not found`);
    return rows[0];
  }

  async view(m: EntityManager, tenantId: string, id: string) {
    if (!isUuid(id)) throw new ProblemException(404, `conversation ${id} not found`);
    const rows = await m.query(
      `SELECT c.*, ct.phone, ct.provider_user_id, ct.name, ct.attributes FROM ${S}.conversations c JOIN ${S}.contacts ct ON ct.id = c.contact_id
       WHERE c.id = $1 AND c.tenant_id = $2`, [id, tenantId]);
    if (!rows[0]) throw new ProblemException(404, `conversation ${id} not found`);
    return toView(rows[0]);
  }

  /** The tenant's conversations, newest first, by status and queue; cursor pages keep the filters they began with. */
  async list(m: EntityManager, tenantId: string, q: ListConversationsQuery) {
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor, 'time');
    const f = pageFilters({ status: q.status, queue: q.queue }, after, CONVERSATION_FILTERS);
    const limit = q.limit ?? 100;
    const rows = await m.query(
      `SELECT c.*, ct.phone, ct.provider_user_id, ct.name, ct.attributes, ${cursorKey('c.opened_at')} AS k
         FROM ${S}.conversations c JOIN ${S}.contacts ct ON ct.id = c.contact_id
        WHERE c.tenant_id = $1 AND ($2::text IS NULL OR c.status = $2) AND ($3::text IS NULL OR c.queue = $3)
          AND ($4::bigint IS NULL OR (c.opened_at, c.id) < (${cursorTime('$4')}, $5::uuid))
        ORDER BY c.opened_at DESC, c.id DESC LIMIT $6`,
      [tenantId, f['status'] ?? null, f['queue'] ?? null, after?.k ?? null, after?.id ?? null, limit + 1]);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map(toView),
      nextCursor: rows.length > limit ? encodeCursor({ k: last.k, id: last.id, f }) : null,
    };
  }

  /** Sends a notice into the conversation (queued like any outbound message); `provider` is its channel's. */
  async notify(m: EntityManager, c: ConversationRow, provider: string, text: string | undefined, publish: Publish, origin = 'system'): Promise<void> {
    if (!text) return;
    // Fitted to the channel (a flow's closing text has no limit of its own): a refusal here would fail the caller's transaction.
    const q = await this.outbound.enqueue(m, c.tenant_id, { conversationId: c.id, message: fitMessage(provider, { kind: 'text', text }, ''), origin }, true);
    await publish(...q.events);
    this.outbound.nudge();
  }

  /** Moves the conversation to `to.queue`, or to the channel's human queue when none is given. */
  async transfer(m: EntityManager, c: ConversationRow, to: { queue?: string; agentId?: string; agentName?: string; reason?: string }, publish: Publish): Promise<void> {
    if (c.status !== 'open') throw new ProblemException(409, 'the conversation is closed');
    const channel = await this.channels.require(c.tenant_id, c.channel_id, m);
    const queue = to.queue || channel.settings.humanQueue;
    if (!queue) throw new ProblemException(422, 'no queue given and the conversation\'s channel has no human queue (settings.humanQueue): give queue');
    const agentId = to.agentId ?? null;
    // Already there with the same agent: nothing moves, so no event and no notice (a repeated request).
    if (queue === c.queue && agentId === c.agent_id) return;
    if (agentId) await this.requireQueueAgent(m, c.tenant_id, queue, agentId);
    await m.query(`UPDATE ${S}.conversations SET ${MOVE} WHERE id = $1`, [c.id, queue, agentId, to.agentName ?? null]);
    await keepFlowDue(m, [c.id]);
    await publish({
      type: 'chat.conversation.transferred', tenantId: c.tenant_id, subject: c.id,
      data: { conversationId: c.id, channelId: c.channel_id, fromQueue: c.queue, toQueue: queue, ...(agentId ? { agentId } : {}), ...(to.reason ? { reason: to.reason } : {}), contact: await this.contactOf(m, c) },
    });
    const s = channel.settings;
    if (s.notifyOnTransfer && queue !== c.queue) await this.notify(m, c, channel.provider, s.transferMessage ?? 'Estamos transferindo seu atendimento.', publish);
    if (agentId) await this.pickupNotice(m, c, to.agentName, publish);
    else if (s.notifyOnWaiting && queue !== s.botQueue) await this.notify(m, c, channel.provider, s.waitingMessage ?? 'Aguarde um momento: em breve um atendente vai falar com você.', publish);
  }

  /**
   * An agent picks the conversation up. One still in the bot queue moves to the channel's human queue, so
   * the bot stops answering it. A queue with agents listed (PUT /queues/:queue/agents) takes only those; a
   * queue without a list takes anyone.
   */
  async assign(m: EntityManager, c: ConversationRow, agentId: string, agentName: string | undefined, publish: Publish): Promise<void> {
    if (c.status !== 'open') throw new ProblemException(409, 'the conversation is closed');
    const s = (await this.channels.require(c.tenant_id, c.channel_id, m)).settings;
    const queue = c.queue === s.botQueue ? s.humanQueue : c.queue;
    if (!queue) throw new ProblemException(422, 'the conversation is in the bot queue and its channel has no human queue (settings.humanQueue) to move it to: transfer it to a queue first');
    // The agent already has it (a repeated click): a second pickup notice and event would be for nothing.
    if (queue === c.queue && agentId === c.agent_id) return;
    await this.requireQueueAgent(m, c.tenant_id, queue, agentId);
    await m.query(`UPDATE ${S}.conversations SET ${MOVE} WHERE id = $1`, [c.id, queue, agentId, agentName ?? null]);
    await keepFlowDue(m, [c.id]);
    await publish({
      type: 'chat.conversation.transferred', tenantId: c.tenant_id, subject: c.id,
      data: { conversationId: c.id, channelId: c.channel_id, fromQueue: c.queue, toQueue: queue, agentId, reason: 'assigned', contact: await this.contactOf(m, c) },
    });
    await this.pickupNotice(m, c, agentName, publish);
  }

  /** A queue with agents listed takes only those (assign and a transfer naming an agent alike); one without a list takes anyone. */
  private async requireQueueAgent(m: EntityManager, tenantId: string, queue: string, agentId: string): Promise<void> {
    const agents: Array<{ agent_id: string }> = await m.query(`SELECT agent_id FROM ${S}.queue_agents WHERE tenant_id = $1 AND queue = $2`, [tenantId, queue]);
    if (agents.length && !agents.some((a) => a.agent_id === agentId)) {
      throw new ProblemException(422, `agent ${agentId} is not an agent of queue ${queue} (PUT /queues/${queue}/agents)`);
    }
  }

  private async pickupNotice(m: EntityManager, c: ConversationRow, agentName: string | undefined, publish: Publish): Promise<void> {
    const channel = await this.channels.require(c.tenant_id, c.channel_id, m);
    const s = channel.settings;
    if (s.pickupNotice === 'none') return;
    const named = s.pickupNotice === 'with_agent_name' && agentName;
    const text = named
      ? (s.pickupMessage ?? 'Olá! Você está falando com {agent}.').replace(/\{agent\}/g, () => agentName) // a function: `$&` or `$'` in a name is not a replacement pattern
      : (s.pickupMessage?.includes('{agent}') ? undefined : s.pickupMessage) ?? 'Um atendente vai falar com você agora.';
    await this.notify(m, c, channel.provider, text, publish);
  }

  async close(m: EntityManager, c: ConversationRow, reason: string, publish: Publish, closingMessage?: string): Promise<void> {
    if (c.status !== 'open') return;
    const channel = await this.channels.require(c.tenant_id, c.channel_id, m);
    await this.notify(m, c, channel.provider, closingMessage ?? channel.settings.closingMessage, publish);
    await m.query(`UPDATE ${S}.conversations SET status = 'closed', closed_at = now(), close_reason = $2 WHERE id = $1`, [c.id, reason]);
    await publish({ type: 'chat.conversation.closed', tenantId: c.tenant_id, subject: c.id, data: { conversationId: c.id, channelId: c.channel_id, reason, contact: await this.contactOf(m, c) } });
  }

  /**
   * The conversation's contact as its move and close events carry it (as chat.message.received does): an integration
   * triggered by them, e.g. a ticket opened when people take over, uses its attributes (a CPF the bot asked) as template values.
   */
  private async contactOf(m: EntityManager, c: ConversationRow) {
    const row = await readContact(m, c.contact_id);
    return row ? contactIdentity(row) : {};
  }

  /** `name` and `attrs` as the controller's StorableInput left them (U+0000 and lone surrogates as U+FFFD). */
  async setAttributes(m: EntityManager, tenantId: string, contactId: string, name: string | undefined, attrs: Record<string, string | null>) {
    if (!isUuid(contactId)) throw new ProblemException(404, `contact ${contactId} not found`);
    const set: Record<string, string> = {};
    const remove: string[] = [];
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null) remove.push(k);
      else set[k] = v;
    }
    const rows = returnedRows<{ id: string; phone: string | null; provider_user_id: string | null; name: string | null; attributes: Record<string, string> }>(await m.query(
      `UPDATE ${S}.contacts SET attributes = (attributes || $3::jsonb) - $4::text[], name = COALESCE($5, name), updated_at = now()
       WHERE id = $1 AND tenant_id = $2 RETURNING id, phone, provider_user_id, name, attributes`,
      [contactId, tenantId, JSON.stringify(set), remove, name ?? null],
    ));
    if (!rows[0]) throw new ProblemException(404, `contact ${contactId} not found`);
    return { id: rows[0].id, ...contactIdentity(rows[0]), attributes: rows[0].attributes };
  }
}

function toView(r: ConversationRow & { phone: string | null; provider_user_id: string | null; name: string | null; attributes: Record<string, string> }) {
  return {
    id: r.id, channelId: r.channel_id, status: r.status, queue: r.queue, agentId: r.agent_id ?? undefined, agentName: r.agent_name ?? undefined,
    contact: { id: r.contact_id, ...contactIdentity(r), attributes: r.attributes ?? {} },
    flow: r.flow_id ? { id: r.flow_id, version: r.flow_version, state: r.flow_state } : undefined,
    openedAt: new Date(r.opened_at).toISOString(), closedAt: r.closed_at ? new Date(r.closed_at).toISOString() : undefined,
    closeReason: r.close_reason ?? undefined,
  };
}
