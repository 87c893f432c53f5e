import type { AnswerKind } from './validators';
import { unknownContactTokens } from './contact-tokens';

export interface Option {
  id: string;
  title: string;
  next: string;
}

/**
 * How long a step waits for its outcome event (integration, viability) before giving up: `timeoutSeconds`
 * (default FLOW_WAIT_TIMEOUT_MS; for a FindME link FLOW_FINDME_WAIT_TIMEOUT_MS), then `timeoutText` is sent
 * and the flow goes to `onTimeout` (default: the failure branch, onFailure / onNotFound or onNotViable).
 */
export interface WaitLimit {
  timeoutSeconds?: number;
  timeoutText?: string;
  onTimeout?: string;
}

export type Step =
  | { type: 'message'; text: string; buttons?: Array<{ id: string; title: string }>; next?: string }
  | { type: 'menu'; text: string; options: Option[]; invalidText?: string; buttons?: boolean }
  | { type: 'question'; text: string; validate: AnswerKind; attribute: string; invalidText?: string; next: string }
  | { type: 'integration'; integration: string; waitText?: string; successText?: string; failureText?: string; onSuccess: string; onFailure: string } & WaitLimit
  | { type: 'viability'; text: string; findme?: boolean; viableText?: string; notViableText?: string; onViable: string; onNotViable: string; onNotFound?: string } & WaitLimit
  | { type: 'transfer'; queue: string; text?: string }
  | { type: 'close'; text?: string };

export interface FlowDefinition {
  start: string;
  steps: Record<string, Step>;
}

/** Where a conversation is in its flow (stored on the conversation, so a restart resumes there). */
export interface FlowState {
  stepId: string;
  waiting?: 'input' | 'integration' | 'viability';
  requestId?: string;
  /** While waiting for an outcome event: when the wait times out (ISO 8601). */
  waitUntil?: string;
  /** The viability request is a FindME link: a location shared in the chat meanwhile is checked instead. */
  findme?: boolean;
  /**
   * At a viability step waiting for the customer's location (`waiting: 'input'`): a location shared in the
   * chat now is the flow's to check and answer. Ingest marks such messages `flowAwaitsLocation` (so does
   * `findme`), and viability's chat-location check leaves them.
   */
  location?: boolean;
  invalidCount?: number;
  done?: boolean;
  /** When the last wait for an outcome event ended (ISO 8601): the customer's silence counts from then if that is later than their last message. */
  waitEndedAt?: string;
}

const ANSWERS = ['text', 'email', 'cpf', 'cnpj', 'cpf_cnpj', 'phone', 'date'];

/** One reason a definition cannot run; `field` is the path the console shows it beside (`steps.<id>.options.0.next`). */
export interface FlowProblem {
  field?: string;
  message: string;
}

/** Checks a definition; returns the problems (empty when it can run). */
export function flowProblems(def: unknown): FlowProblem[] {
  const p: FlowProblem[] = [];
  const add = (field: string, message: string) => p.push({ field, message });
  if (typeof def !== 'object' || def === null) return [{ message: 'definition must be an object' }];
  const d = def as FlowDefinition;
  if (typeof d.steps !== 'object' || d.steps === null || Array.isArray(d.steps)) return [{ field: 'steps', message: 'steps must be an object of step id → step' }];
  const ids = new Set(Object.keys(d.steps));
  if (!ids.has(d.start)) add('start', `start names no step (${String(d.start)})`);
  // Messages keep the `options[0]` form people read; fields use the dotted form of the validation pipe.
  const path = (from: string, field: string) => `steps.${from}.${field.replace(/\[(\d+)\]/g, '.$1')}`;
  const ref = (from: string, field: string, to: unknown) => {
    if (typeof to !== 'string' || !ids.has(to)) add(path(from, field), `steps.${from}.${field} names no step (${String(to)})`);
  };
  const text = (from: string, field: string, v: unknown, required = true) => {
    if ((required || v !== undefined) && (typeof v !== 'string' || !v.trim())) add(path(from, field), `steps.${from}.${field} must be non-empty text`);
  };
  // What the customer is sent: it may show the contact's fields (contact-tokens.ts), named as they exist.
  const say = (from: string, field: string, v: unknown, required = true) => {
    text(from, field, v, required);
    for (const t of typeof v === 'string' ? unknownContactTokens(v) : []) {
      add(path(from, field), `steps.${from}.${field} names no contact field (${t}): use {contact.name}, {contact.phone} or {contact.attributes.<attribute>}`);
    }
  };
  // A button's id comes back as the answer; Telegram gives back at most 64 bytes of it. The ids of one step differ:
  // a reply carries only the id (and WhatsApp refuses buttons with the same id).
  const answerId = (from: string, field: string, v: unknown, earlier: unknown[] = []) => {
    text(from, field, v);
    if (typeof v === 'string' && new TextEncoder().encode(v).length > 64) add(path(from, field), `steps.${from}.${field} must be at most 64 bytes (Telegram gives no more of a button's id back)`);
    if (typeof v === 'string' && earlier.includes(v)) add(path(from, field), `steps.${from}.${field} repeats an id of the same step (${v}): a reply carries only the id, so the two could not be told apart`);
  };
  const waitLimit = (from: string, s: WaitLimit) => {
    if (s.onTimeout !== undefined) ref(from, 'onTimeout', s.onTimeout);
    say(from, 'timeoutText', s.timeoutText, false);
    const t = s.timeoutSeconds;
    if (t !== undefined && (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > 86_400)) add(path(from, 'timeoutSeconds'), `steps.${from}.timeoutSeconds must be a whole number of seconds from 1 to 86400`);
  };
  for (const [id, s] of Object.entries(d.steps)) {
    if (typeof s !== 'object' || s === null) { add(`steps.${id}`, `steps.${id} must be an object`); continue; }
    switch (s.type) {
      case 'message':
        say(id, 'text', s.text);
        if (s.next !== undefined) ref(id, 'next', s.next);
        // A reply button's id comes back as the answer: one without it cannot be sent or matched.
        if (s.buttons !== undefined && !Array.isArray(s.buttons)) add(path(id, 'buttons'), `steps.${id}.buttons must be a list`);
        else s.buttons?.forEach((b, i, all) => { answerId(id, `buttons[${i}].id`, b?.id, all.slice(0, i).map((x) => x?.id)); text(id, `buttons[${i}].title`, b?.title); });
        break;
      case 'menu':
        say(id, 'text', s.text);
        say(id, 'invalidText', s.invalidText, false);
        if (!Array.isArray(s.options) || !s.options.length) add(path(id, 'options'), `steps.${id}.options must list at least one option`);
        else s.options.forEach((o, i, all) => { answerId(id, `options[${i}].id`, o?.id, all.slice(0, i).map((x) => x?.id)); text(id, `options[${i}].title`, o?.title); ref(id, `options[${i}].next`, o?.next); });
        break;
      case 'question':
        say(id, 'text', s.text);
        if (!ANSWERS.includes(s.validate)) add(path(id, 'validate'), `steps.${id}.validate must be one of ${ANSWERS.join(', ')}`);
        text(id, 'attribute', s.attribute);
        say(id, 'invalidText', s.invalidText, false);
        ref(id, 'next', s.next);
        break;
      case 'integration':
        text(id, 'integration', s.integration);
        for (const f of ['waitText', 'successText', 'failureText'] as const) say(id, f, s[f], false);
        ref(id, 'onSuccess', s.onSuccess);
        ref(id, 'onFailure', s.onFailure);
        waitLimit(id, s);
        break;
      case 'viability':
        say(id, 'text', s.text);
        for (const f of ['viableText', 'notViableText'] as const) say(id, f, s[f], false);
        ref(id, 'onViable', s.onViable);
        ref(id, 'onNotViable', s.onNotViable);
        if (s.onNotFound !== undefined) ref(id, 'onNotFound', s.onNotFound);
        waitLimit(id, s);
        break;
      case 'transfer':
        text(id, 'queue', s.queue);
        say(id, 'text', s.text, false);
        break;
      case 'close':
        say(id, 'text', s.text, false);
        break;
      default:
        add(path(id, 'type'), `steps.${id}.type must be message, menu, question, integration, viability, transfer or close`);
    }
  }
  // A message step without buttons goes straight on to its next: a loop of such steps never waits for the customer,
  // and the bot would send its messages over and over. Each loop is named once, at the `next` that closes it.
  const goesOn = (id: string): string | undefined => {
    const s = d.steps[id];
    return s?.type === 'message' && !s.buttons?.length && typeof s.next === 'string' && ids.has(s.next) ? s.next : undefined;
  };
  const walked = new Set<string>();
  for (const from of ids) {
    const trail: string[] = [];
    for (let at: string | undefined = from; at !== undefined && !walked.has(at); at = goesOn(at)) {
      walked.add(at);
      trail.push(at);
      const next = goesOn(at);
      if (next !== undefined && trail.includes(next)) add(path(at, 'next'), `steps.${at}.next leads back to steps.${next} through message steps only: the customer would get them over and over (wait for an answer somewhere in the loop: buttons, a menu or a question)`);
    }
  }
  return p;
}
