import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { type ChatMessageReceived, type InboundMessage, type IntegrationDeliveryOutcome, type OutboundMessage, type ViabilityChecked } from '@elo/contracts';
import type { PublishSpecLike } from '@elo/messaging';
import { SERVICE_CONFIG } from '@elo/platform';
import type { EntityManager } from 'typeorm';
import { ChannelsService } from '../channels/channels.service';
import type { ChatIngressConfig } from '../config/chat-ingress.config';
import { ConversationsService, readContact, type ContactRow, type ConversationRow } from '../conversations/conversations.service';
import { fitMessage, OutboundService } from '../outbound/outbound.service';
import { namesContact, withContact } from './contact-tokens';
import { keepFlowDue } from './flow-due';
import type { FlowDefinition, FlowState, Option, Step, WaitLimit } from './flow.types';
import { FlowsService } from './flows.service';
import { validateAnswer } from './validators';

const S = '"chat_ingress"';
/** Steps taken in one go before the engine stops (a loop of message steps in a bad flow). */
const MAX_CHAIN = 25;

type Publish = (...specs: PublishSpecLike[]) => Promise<void>;

interface Run {
  m: EntityManager;
  c: ConversationRow;
  flowId: string;
  def: FlowDefinition;
  publish: Publish;
  chain: number;
  /** The conversation's channel's provider, which its messages are fitted to (fitMessage). */
  provider: string;
  /** The customer's message this run answers (none for outcomes and timeouts). */
  trigger?: InboundMessage;
}

const fold = (s: string) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9ª°º ]/g, ' ').replace(/\s+/g, ' ').trim();

/** A folded answer that is only an option number: " 2 ", "2.", "2)" fold to "2"; "2ª via" does not. */
const NUMBER_ONLY = /^\d{1,2}$/;

/**
 * Picks a menu option from a reply id, a number that is the whole answer, or the option's title (exact,
 * contained in the answer, or the one title that contains the answer). A leading digit is not a number:
 * "2ª via" names the option titled "2ª via do boleto", not option 2.
 */
export function matchOption(options: Option[], msg: InboundMessage): Option | undefined {
  if (msg.kind === 'reply' && msg.reply) {
    const byId = options.find((o) => o.id === msg.reply!.id);
    if (byId) return byId;
  }
  const text = fold(msg.text ?? msg.reply?.title ?? '');
  if (!text) return undefined;
  if (NUMBER_ONLY.test(text)) {
    const byNumber = options[Number(text) - 1];
    if (byNumber) return byNumber;
  }
  // An option id may be missing in a flow saved before ids were required.
  const exact = options.find((o) => fold(o.title) === text) ?? options.find((o) => typeof o.id === 'string' && fold(o.id) === text)
    ?? options.find((o) => fold(o.title).length > 3 && ` ${text} `.includes(` ${fold(o.title)} `));
  if (exact || text.length < 4) return exact;
  const partial = options.filter((o) => ` ${fold(o.title)} `.includes(` ${text} `));
  return partial.length === 1 ? partial[0] : undefined;
}

/**
 * Reply buttons as a message carries them: a title of at most 20 characters (what WhatsApp and Messenger take, and the
 * event contract holds; a longer one failed the step's every send), cut between characters, never inside one.
 */
const buttonsOf = (list: Array<{ id: string; title: string }>) => list.map((b) => ({ id: b.id, title: Array.from(b.title).slice(0, 20).join('') }));

/** Options as numbered lines ("1 - Boleto"), which a typed number or title answers. */
const numbered = (list: Array<{ title: string }>) => list.map((o, i) => `${i + 1} - ${o.title}`).join('\n');

/**
 * How long a wait for an outcome event lasts (ms): the step's `timeoutSeconds`, else for a FindME link
 * FLOW_FINDME_WAIT_TIMEOUT_MS (the customer has the link's whole life to answer it), else
 * FLOW_WAIT_TIMEOUT_MS.
 */
export function waitTimeoutMs(step: WaitLimit, findme: boolean, config: Pick<ChatIngressConfig, 'FLOW_WAIT_TIMEOUT_MS' | 'FLOW_FINDME_WAIT_TIMEOUT_MS'>): number {
  if (step.timeoutSeconds) return step.timeoutSeconds * 1000;
  return findme ? config.FLOW_FINDME_WAIT_TIMEOUT_MS : config.FLOW_WAIT_TIMEOUT_MS;
}

/**
 * Walks conversations through their tenant's bot flow. Runs inside the consumer's transaction with
 * the conversation row locked; its place in the flow is stored on the row, so a restart resumes.
 * Conversations outside the channel's bot queue are not answered.
 */
@Injectable()
export class FlowEngine {
  constructor(
    private readonly flows: FlowsService,
    private readonly channels: ChannelsService,
    private readonly conversations: ConversationsService,
    private readonly outbound: OutboundService,
    @Inject(SERVICE_CONFIG) private readonly config: ChatIngressConfig,
  ) {}

  async onMessage(m: EntityManager, tenantId: string, e: ChatMessageReceived, publish: Publish): Promise<void> {
    const latest = await this.flows.latest(tenantId, m);
    // Tenants without a flow: nothing to do (the common case on the hot path costs no row lock).
    if (!latest) return;
    const rows: ConversationRow[] = await m.query(`SELECT * FROM ${S}.conversations WHERE id = $1 AND tenant_id = $2 FOR UPDATE`, [e.conversationId, tenantId]);
    const c = rows[0];
    if (!c || c.status !== 'open') return;
    const channel = await this.channels.resolve(c.channel_id);
    // A disabled channel refuses every answer: the message is left unanswered (as the scheduler leaves its timers),
    // not retried until parked.
    if (!channel || channel.tenantId !== tenantId || channel.status !== 'active' || c.queue !== channel.settings.botQueue) return;
    // The customer wrote: a reminder sent before is answered, also by a message whose transaction (its created_at) began
    // before the reminder's (silence compares those times, so it would close the conversation though the customer answered).
    if (c.reminder_sent_at) {
      await m.query(`UPDATE ${S}.conversations SET reminder_sent_at = NULL WHERE id = $1`, [c.id]);
      await keepFlowDue(m, [c.id]);
    }
    let state = c.flow_state as FlowState | null;
    // Starting the flow (the first message, or the next one after the flow finished): the tenant's latest version.
    if (!c.flow_id || !state || state.done) {
      if (c.flow_id !== latest.id) {
        await m.query(`UPDATE ${S}.conversations SET flow_id = $2, flow_version = $3 WHERE id = $1`, [c.id, latest.id, latest.version]);
        c.flow_id = latest.id;
        c.flow_version = latest.version;
      }
      state = null;
    }
    const flow = await this.flows.byVersionId(m, c.flow_id);
    if (!flow) return;
    const run: Run = { m, c, flowId: flow.id, def: flow.definition, publish, chain: 0, provider: channel.provider, trigger: e.message };
    if (!state) return this.enter(run, flow.definition.start);
    const step = flow.definition.steps[state.stepId];
    // A FindME link is out, but the customer shared a location in the chat: that one is checked instead
    // (a new request; the FindME answer, if it still comes, names the old one and is ignored).
    if (state.waiting === 'viability' && state.findme && step?.type === 'viability' && e.message.kind === 'location' && e.message.location) {
      await this.step(run, state.stepId, 'viability', 'answered');
      return this.requestViability(run, state.stepId, step, e.message.location);
    }
    // Waiting for an integration or viability outcome: the wait ends with it or with its timeout (scheduler).
    if (state.waiting !== 'input') return;
    if (!step) return this.enter(run, flow.definition.start);
    await this.answer(run, state, step, e);
  }

  async onIntegrationOutcome(m: EntityManager, tenantId: string, o: IntegrationDeliveryOutcome, publish: Publish): Promise<void> {
    const run = await this.waitingRun(m, tenantId, o.conversationId, o.requestId, 'integration', publish);
    if (!run) return;
    const state = run.c.flow_state as unknown as FlowState;
    const step = run.def.steps[state.stepId] as Extract<Step, { type: 'integration' }>;
    const ok = o.outcome === 'succeeded';
    await this.step(run, state.stepId, step.type, ok ? 'succeeded' : 'failed', ok ? step.onSuccess : step.onFailure);
    // The step's text (with the outcome's reply in it), else the reply the integration rendered: on failure as on success.
    const reply = ((ok ? step.successText : step.failureText) ?? o.reply)?.replace(/\{reply\}/g, () => o.reply ?? '');
    if (reply) await this.send(run, { kind: 'text', text: reply });
    await this.enter(run, ok ? step.onSuccess : step.onFailure);
    await this.waitEnded(run);
  }

  async onViability(m: EntityManager, tenantId: string, v: ViabilityChecked, publish: Publish): Promise<void> {
    const run = await this.waitingRun(m, tenantId, v.conversationId, v.requestId, 'viability', publish);
    if (!run) return;
    const state = run.c.flow_state as unknown as FlowState;
    const step = run.def.steps[state.stepId] as Extract<Step, { type: 'viability' }>;
    const next = v.status === 'viable' ? step.onViable : v.status === 'not_viable' ? step.onNotViable : (step.onNotFound ?? step.onNotViable);
    await this.step(run, state.stepId, step.type, v.status, next);
    const text = v.status === 'viable' ? step.viableText : step.notViableText;
    if (text) await this.send(run, { kind: 'text', text });
    await this.enter(run, next);
    await this.waitEnded(run);
  }

  /**
   * The outcome an integration or viability step waited for did not come in time (scheduler, with the
   * conversation row locked): the step's timeout text, then its timeout branch (default: failure).
   */
  async onWaitTimeout(m: EntityManager, c: ConversationRow, publish: Publish): Promise<void> {
    const state = c.flow_state as FlowState | null;
    if (c.status !== 'open' || !c.flow_id || !state || (state.waiting !== 'integration' && state.waiting !== 'viability')) return;
    const flow = await this.flows.byVersionId(m, c.flow_id);
    if (!flow) return;
    const run: Run = { m, c, flowId: flow.id, def: flow.definition, publish, chain: 0, provider: await this.providerOf(c) };
    const step = flow.definition.steps[state.stepId];
    if (step?.type !== 'integration' && step?.type !== 'viability') return this.save(run, { stepId: state.stepId, done: true });
    const next = step.onTimeout ?? (step.type === 'integration' ? step.onFailure : (step.onNotFound ?? step.onNotViable));
    await this.step(run, state.stepId, step.type, 'timed_out', next);
    const text = step.timeoutText ?? (step.type === 'integration' ? step.failureText : step.notViableText);
    // No outcome, so no reply: `{reply}` in an integration step's text is left empty, as on its failure path without one.
    if (text) await this.send(run, { kind: 'text', text: step.type === 'integration' ? text.replace(/\{reply\}/g, '') : text });
    await this.enter(run, next);
    await this.waitEnded(run);
  }

  /** How long the wait a conversation is in lasts (waitTimeoutMs of its step; the generic limit if the step is gone). */
  async waitTimeoutFor(m: EntityManager, c: ConversationRow): Promise<number> {
    const state = c.flow_state as FlowState | null;
    const step = c.flow_id && state ? (await this.flows.byVersionId(m, c.flow_id))?.definition.steps[state.stepId] : undefined;
    const limit: WaitLimit = step?.type === 'integration' || step?.type === 'viability' ? step : {};
    return waitTimeoutMs(limit, state?.waiting === 'viability' && state.findme === true, this.config);
  }

  /** Reminder after silence (scheduler). */
  async remind(m: EntityManager, c: ConversationRow, text: string, publish: Publish): Promise<void> {
    const run: Run = { m, c, flowId: c.flow_id ?? randomUUID(), def: { start: '', steps: {} }, publish, chain: 0, provider: await this.providerOf(c) };
    await this.send(run, { kind: 'text', text });
    await m.query(`UPDATE ${S}.conversations SET reminder_sent_at = now() WHERE id = $1`, [c.id]);
    await keepFlowDue(m, [c.id]);
    if (c.flow_id) await this.step(run, (c.flow_state as FlowState | null)?.stepId ?? 'reminder', 'reminder', 'timed_out');
  }

  private async waitingRun(m: EntityManager, tenantId: string, conversationId: string | undefined, requestId: string | undefined, kind: FlowState['waiting'], publish: Publish): Promise<Run | undefined> {
    if (!conversationId || !requestId) return undefined;
    const rows: ConversationRow[] = await m.query(`SELECT * FROM ${S}.conversations WHERE id = $1 AND tenant_id = $2 FOR UPDATE`, [conversationId, tenantId]);
    const c = rows[0];
    const state = c?.flow_state as FlowState | null;
    if (!c || c.status !== 'open' || !c.flow_id || !state || state.waiting !== kind || state.requestId !== requestId) return undefined;
    // Moved to people (transfer, assign) while waiting: the late outcome is not the bot's to act on. On a disabled
    // channel (which refuses every answer) it is ignored too, not retried until parked: the wait stays, and its
    // timeout runs once the channel is enabled again (the scheduler leaves disabled channels alone).
    const channel = await this.channels.resolve(c.channel_id);
    if (!channel || channel.status !== 'active' || c.queue !== channel.settings.botQueue) return undefined;
    const flow = await this.flows.byVersionId(m, c.flow_id);
    if (!flow) return undefined;
    return { m, c, flowId: flow.id, def: flow.definition, publish, chain: 0, provider: channel.provider };
  }

  private async answer(run: Run, state: FlowState, step: Step, e: ChatMessageReceived): Promise<void> {
    const msg = e.message;
    switch (step.type) {
      case 'menu': {
        const option = matchOption(step.options, msg);
        if (!option) {
          await this.step(run, state.stepId, 'menu', 'invalid');
          await this.save(run, { ...state, invalidCount: (state.invalidCount ?? 0) + 1 });
          await this.send(run, { kind: 'text', text: step.invalidText ?? 'Desculpe, não entendi. Escolha uma das opções:' });
          return this.sendMenu(run, step);
        }
        await this.step(run, state.stepId, 'menu', 'answered', option.next);
        return this.enter(run, option.next);
      }
      case 'question': {
        const value = validateAnswer(step.validate, msg.text ?? msg.reply?.title ?? '');
        if (value === undefined) {
          await this.step(run, state.stepId, 'question', 'invalid');
          await this.save(run, { ...state, invalidCount: (state.invalidCount ?? 0) + 1 });
          return this.send(run, { kind: 'text', text: step.invalidText ?? 'Resposta inválida. ' + step.text });
        }
        await run.m.query(`UPDATE ${S}.contacts SET attributes = attributes || jsonb_build_object($2::text, $3::text), updated_at = now() WHERE id = $1`, [run.c.contact_id, step.attribute, value]);
        await this.step(run, state.stepId, 'question', 'answered', step.next);
        return this.enter(run, step.next);
      }
      case 'viability': {
        if (msg.kind === 'location' && msg.location) {
          await this.step(run, state.stepId, 'viability', 'answered');
          return this.requestViability(run, state.stepId, step, msg.location);
        }
        await this.step(run, state.stepId, 'viability', 'invalid');
        return this.send(run, { kind: 'text', text: step.text });
      }
      case 'message': {
        const b = step.buttons?.length ? matchOption(step.buttons.map((x) => ({ ...x, next: step.next ?? '' })), msg) : undefined;
        const next = b?.next || step.next || run.def.start;
        await this.step(run, state.stepId, 'message', 'answered', next);
        return this.enter(run, next);
      }
      default:
        return this.enter(run, run.def.start);
    }
  }

  private async enter(run: Run, stepId: string): Promise<void> {
    if (++run.chain > MAX_CHAIN) return this.save(run, { stepId, done: true });
    const step = run.def.steps[stepId];
    if (!step) return this.save(run, { stepId, done: true });
    await this.step(run, stepId, step.type, 'entered');
    switch (step.type) {
      case 'message':
        await this.send(run, { kind: 'text', text: step.text, ...(step.buttons?.length ? { buttons: buttonsOf(step.buttons) } : {}) }, numbered(step.buttons ?? []));
        if (step.next && !step.buttons?.length) return this.enter(run, step.next);
        return this.save(run, { stepId, waiting: step.buttons?.length ? 'input' : undefined, done: !step.buttons?.length });
      case 'menu':
        await this.sendMenu(run, step);
        return this.save(run, { stepId, waiting: 'input' });
      case 'question':
        await this.send(run, { kind: 'text', text: step.text });
        return this.save(run, { stepId, waiting: 'input' });
      case 'integration': {
        const requestId = randomUUID();
        const contact: Partial<ContactRow> = (await readContact(run.m, run.c.contact_id)) ?? {};
        // The message being answered when there is one: the messages of one webhook share created_at (one statement),
        // so the latest stored one is ambiguous; else the latest by storage, then provider time.
        const last = run.trigger ? { body: run.trigger } : (await run.m.query(
          `SELECT body FROM ${S}.messages WHERE conversation_id = $1 AND direction = 'in' ORDER BY created_at DESC, provider_timestamp DESC LIMIT 1`, [run.c.id]))[0];
        if (step.waitText) await this.send(run, { kind: 'text', text: step.waitText });
        // The dispatcher does not start the run once the wait is over (the customer has had the timeout branch).
        const waitUntil = this.waitUntil(step, false);
        await run.publish({
          type: 'integration.requested', tenantId: run.c.tenant_id, subject: run.c.id,
          data: {
            requestId, integration: step.integration, conversationId: run.c.id, channelId: run.c.channel_id, deadline: waitUntil,
            context: { ...(contact.attributes ?? {}), contact: { phone: contact.phone ?? undefined, providerUserId: contact.provider_user_id ?? undefined, name: contact.name ?? undefined, attributes: contact.attributes ?? {} }, conversationId: run.c.id, channelId: run.c.channel_id, lastMessage: last?.body ?? null },
          },
        });
        await this.step(run, stepId, 'integration', 'waiting');
        return this.save(run, { stepId, waiting: 'integration', requestId, waitUntil });
      }
      case 'viability': {
        await this.send(run, { kind: 'text', text: step.text });
        const contact = await readContact(run.m, run.c.contact_id);
        // FindME: the viability service sends the customer a link to pick the spot on a map.
        if (step.findme && contact?.phone) return this.requestViability(run, stepId, step, undefined, contact.phone);
        // `location`: a location shared in the chat is now the flow's (ingest flags it for viability).
        return this.save(run, { stepId, waiting: 'input', location: true });
      }
      case 'transfer':
        await this.save(run, { stepId, done: true });
        if (step.text) await this.send(run, { kind: 'text', text: step.text });
        return this.conversations.transfer(run.m, run.c, { queue: step.queue, reason: 'bot' }, run.publish);
      case 'close':
        await this.save(run, { stepId, done: true });
        return this.conversations.close(run.m, run.c, 'bot', run.publish, step.text && (await this.withContact(run, step.text)));
    }
  }

  private async requestViability(run: Run, stepId: string, step: Extract<Step, { type: 'viability' }>, location?: NonNullable<InboundMessage['location']>, findmePhone?: string): Promise<void> {
    const requestId = randomUUID();
    await run.publish({
      type: 'viability.requested', tenantId: run.c.tenant_id, subject: run.c.id,
      data: { requestId, conversationId: run.c.id, channelId: run.c.channel_id, ...(location ? { location } : { findme: true, phone: findmePhone }) },
    });
    await this.step(run, stepId, step.type, 'waiting');
    await this.save(run, { stepId, waiting: 'viability', requestId, waitUntil: this.waitUntil(step, !location), ...(location ? {} : { findme: true }) });
  }

  /** When a wait for an outcome event gives up (waitTimeoutMs from now). */
  private waitUntil(step: WaitLimit, findme: boolean): string {
    return new Date(Date.now() + waitTimeoutMs(step, findme, this.config)).toISOString();
  }

  private sendMenu(run: Run, step: Extract<Step, { type: 'menu' }>): Promise<void> {
    const buttons = step.buttons !== false && step.options.length <= 10 ? buttonsOf(step.options) : undefined;
    // The text lists the options already: buttons the channel cannot show are simply left off.
    return this.send(run, { kind: 'text', text: `${step.text}\n${numbered(step.options)}`, ...(buttons ? { buttons } : {}) }, '');
  }

  /** The provider of a conversation's channel, for a run that has not resolved the channel already. */
  private async providerOf(c: ConversationRow): Promise<string> {
    return (await this.channels.resolve(c.channel_id))?.provider ?? 'generic';
  }

  /** A bot text with the contact's fields in it (contact-tokens.ts), as stored now in this transaction: an answer this run stored too. */
  private async withContact(run: Run, text: string): Promise<string> {
    if (!namesContact(text)) return text;
    return withContact(text, (await readContact(run.m, run.c.contact_id)) ?? { name: null, phone: null, attributes: null });
  }

  /** Sends a message fitted to the channel (fitMessage: `listing` goes under the text if its buttons are left off). */
  private async send(run: Run, message: OutboundMessage, listing = ''): Promise<void> {
    if (message.kind === 'text' && message.text) message = { ...message, text: await this.withContact(run, message.text) };
    const q = await this.outbound.enqueue(run.m, run.c.tenant_id, { conversationId: run.c.id, message: fitMessage(run.provider, message, listing), origin: 'bot' }, true);
    await run.publish(...q.events);
    this.outbound.nudge();
  }

  /**
   * An outcome wait ended and the bot spoke: the customer's silence (reminders) counts from now, not from their message
   * before the wait, which may be older than the silence allowed (a FindME link is waited for 35 minutes).
   */
  private async waitEnded(run: Run): Promise<void> {
    await run.m.query(`UPDATE ${S}.conversations SET flow_state = flow_state || jsonb_build_object('waitEndedAt', now()) WHERE id = $1 AND flow_state IS NOT NULL`, [run.c.id]);
    await keepFlowDue(run.m, [run.c.id]);
  }

  private async save(run: Run, state: FlowState): Promise<void> {
    run.c.flow_state = state as unknown as Record<string, unknown>;
    await run.m.query(`UPDATE ${S}.conversations SET flow_state = $2 WHERE id = $1`, [run.c.id, JSON.stringify(state)]);
    await keepFlowDue(run.m, [run.c.id]);
  }

  private step(run: Run, stepId: string, stepType: string, outcome: string, nextStepId?: string): Promise<void> {
    return run.publish({
      type: 'chat.flow.step', tenantId: run.c.tenant_id, subject: run.c.id,
      data: { conversationId: run.c.id, channelId: run.c.channel_id, flowId: run.flowId, stepId, stepType, outcome, ...(nextStepId ? { nextStepId } : {}) },
    });
  }
}
