import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { NewerEventVersionError, validateEvent, type CloudEvent } from '@elo/contracts';
import { busMetrics, runWithCorrelationId } from '@elo/observability';
import type { Logger } from 'pino';
import type { DataSource, EntityManager } from 'typeorm';
import { AckTracker } from './ack-tracker';
import type { BusConnection } from './connection';
import type { Outbox } from './outbox';
import { topicMatches } from './topic-match';
import { queueNames } from './topology';
import { decodeMessage, EVENT_CONTENT_TYPE } from './wire';
import type { BatchHandler, HandlerContext, PublishSpecLike, RegisteredHandler, SingleHandler } from './types';

export interface ConsumerOptions {
  service: string;
  schema: string;
  /** Unacknowledged broker messages (one event or a batch of them) the broker may push to this process (per consumer). */
  prefetch: number;
  /** Events handled in one database transaction. */
  batchSize: number;
  /** Batches handled at once. */
  concurrency: number;
  retryDelaysMs: number[];
}

export const ATTEMPT_HEADER = 'x-elo-attempt';
export const ERROR_HEADER = 'x-elo-error';
export const QUEUE_HEADER = 'x-elo-queue';

/** A broker message: one event, or a batch of them (wire.ts), acknowledged once all of its events are settled. */
interface Message {
  msg: ConsumeMessage;
  ch: ConfirmChannel;
  /** The queue it came from (the service queue or its ordered queue): a retry goes back to it. */
  queue: string;
  /** Its events not settled yet. */
  open: number;
  /** Whether it went back to the queue whole (nacked); it is then never acknowledged. */
  requeued: boolean;
}

/** One event of a message. */
interface Delivery {
  message: Message;
  event?: CloudEvent;
  /** The event as it came, when it came in a batch (a retry or the parking lot gets it on its own). */
  raw?: unknown;
  attempt: number;
  invalid?: string;
  /** Of a version this release does not read yet: tried again later, like a failing handler. */
  newer?: NewerEventVersionError;
  /** Tenant and subject of the event, when it has a subject. */
  subject?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const patternsOf = (h: RegisteredHandler): readonly string[] => (typeof h.type === 'string' ? [h.type] : h.type);

/**
 * Whether the database refused a value rather than being away: SQLSTATE classes 22 (data exception, such
 * as a NUL in a text) and 54 (program limit exceeded, such as a key too long for its index).
 */
const refusesData = (err: unknown): boolean => /^(22|54)/.test(String((err as { code?: unknown }).code ?? ''));

/** An event id as a message id, which AMQP bounds to 255 bytes (the event's own id stays in its body). */
const messageIdOf = (id: string | undefined): string | undefined => (id !== undefined && Buffer.byteLength(id) <= 255 ? id : undefined);

const returnKey = (queue: string, messageId: unknown) => `${queue}\u0000${String(messageId)}`;

const idOf = (d: Delivery): string | undefined => d.event?.id ?? d.newer?.eventId;
const typeOf = (d: Delivery): string => d.event?.type ?? d.newer?.eventType ?? String(d.message.msg.fields.routingKey);

/** Events of one subject (a conversation, a message, a call) of one tenant. */
const subjectOf = (e: CloudEvent): string | undefined => (e.subject ? `${e.tenantid}\u0000${e.subject}` : undefined);

/**
 * Consumes the service queue: messages of one event or of a batch of them (wire.ts), each event handled
 * on its own terms. Each batch of events is handled in one transaction together with
 * its inbox rows, so a redelivered event is acknowledged and skipped (events whose every handler is
 * `idempotent` get no inbox row: handling them again changes nothing). A handler that throws has its
 * own effects rolled back (savepoint) and its event goes to the next retry queue, or to the parking
 * lot once the attempts are used up. When the database itself is away, the batch waits and tries
 * again without acknowledging anything.
 *
 * Batches run concurrently, but never two with events of the same subject: an event waits while an
 * earlier one of its subject is in another batch, so a subject's events are handled in the order they
 * arrived (an event sent to retry comes back later, after its successors).
 */
export class ConsumerHost {
  private readonly handlers: RegisteredHandler[] = [];
  private channel?: ConfirmChannel;
  private consumerTags: string[] = [];
  private buffer: Delivery[] = [];
  private pumpScheduled = false;
  /** Subjects with an event in a batch being handled, and how many batches hold them. */
  private readonly busy = new Map<string, number>();
  private active = 0;
  private stopping = false;
  private idleWaiters: Array<() => void> = [];
  private readonly acks = new WeakMap<ConfirmChannel, AckTracker>();
  private readonly byType = new Map<string, RegisteredHandler[]>();
  private readonly inboxByType = new Map<string, boolean>();
  /** Forwarded copies the broker returned (no such queue), by `returnKey`. */
  private readonly returned = new Set<string>();

  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
    private readonly opts: ConsumerOptions,
    private readonly logger: Logger,
  ) {}

  register(handler: RegisteredHandler): void {
    this.handlers.push(handler);
    this.byType.clear();
    this.inboxByType.clear();
  }

  /** The handlers whose patterns match `type`, worked out once per type (patterns are fixed at start). */
  private handlersOf(type: string): RegisteredHandler[] {
    let hs = this.byType.get(type);
    if (!hs) this.byType.set(type, (hs = this.handlers.filter((h) => patternsOf(h).some((p) => topicMatches(p, type)))));
    return hs;
  }

  /** Whether events of `type` get an inbox row: unless every handler of the type is idempotent. */
  private inboxed(type: string): boolean {
    let yes = this.inboxByType.get(type);
    if (yes === undefined) {
      const hs = this.handlersOf(type);
      this.inboxByType.set(type, (yes = hs.length === 0 || hs.some((h) => !h.idempotent)));
    }
    return yes;
  }

  /** Routing keys the service queue must be bound to (those of handlers that need no order). */
  bindings(): string[] {
    const ordered = new Set(this.orderedBindings());
    return [...new Set(this.handlers.filter((h) => !h.ordered).flatMap(patternsOf))].filter((k) => !ordered.has(k));
  }

  /** Routing keys the service's ordered queue must be bound to (see EventHandlerOptions.ordered). */
  orderedBindings(): string[] {
    return [...new Set(this.handlers.filter((h) => h.ordered).flatMap(patternsOf))];
  }

  attach(bus: BusConnection): void {
    bus.onConnect(async (model) => {
      if (this.handlers.length === 0 || this.stopping) return;
      const ch = await model.createConfirmChannel();
      // The broker closed the channel or cancelled the consumer (its queue deleted) while the connection is
      // up: nothing would be consumed again until a reconnect, which also declares the queue again.
      ch.on('error', (err: Error) => {
        if (!this.stopping) bus.restart(model, `consumer channel: ${err.message}`);
      });
      ch.on('return', (msg: ConsumeMessage) => this.returned.add(returnKey(msg.fields.routingKey, msg.properties.messageId)));
      ch.on('close', () => {
        if (this.channel === ch) this.channel = undefined;
        // Deliveries of a closed channel will be redelivered; drop them from the buffer.
        this.buffer = this.buffer.filter((d) => d.message.ch !== ch);
      });
      await ch.prefetch(this.opts.prefetch);
      this.acks.set(
        ch,
        new AckTracker((tag) => {
          try {
            ch.ack({ fields: { deliveryTag: tag } } as ConsumeMessage, true);
          } catch {
            // channel closed: the broker redelivers and the inbox skips what was handled
          }
        }),
      );
      this.channel = ch;
      // The ordered queue has a single active consumer: on every replica but one this consumer stands by.
      const q = queueNames(this.opts.service);
      this.consumerTags = [];
      for (const queue of [q.main, q.ordered]) {
        const ok = await ch.consume(queue, (msg) => {
          if (msg) this.receive(ch, queue, msg);
          else if (!this.stopping) bus.restart(model, 'consumer cancelled by the broker');
        });
        this.consumerTags.push(ok.consumerTag);
      }
    });
  }

  /** Stops taking deliveries, finishes what is in hand, then closes the channel. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopping = true;
    const ch = this.channel;
    if (ch) for (const tag of this.consumerTags) await ch.cancel(tag).catch(() => undefined);
    const deadline = Date.now() + timeoutMs;
    while ((this.active > 0 || this.buffer.length > 0) && Date.now() < deadline) {
      this.pump();
      await new Promise<void>((r) => {
        this.idleWaiters.push(r);
        setTimeout(r, 100).unref();
      });
    }
    await ch?.close().catch(() => undefined);
  }

  private receive(ch: ConfirmChannel, queue: string, msg: ConsumeMessage): void {
    const attempt = Number(msg.properties.headers?.[ATTEMPT_HEADER] ?? 0) + 1;
    const message: Message = { msg, ch, queue, open: 1, requeued: false };
    this.acks.get(ch)?.track(msg.fields.deliveryTag);
    try {
      const { bodies, batch } = decodeMessage(msg.content, msg.properties.contentType);
      message.open = bodies.length;
      for (const body of bodies) this.buffer.push(this.delivery(message, attempt, body, batch));
    } catch (err) {
      // Not JSON: parked whole, as invalid.
      this.buffer.push({ message, attempt, invalid: (err as Error).message });
    }
    // Let the socket deliver the rest of a burst before cutting a batch.
    if (this.buffer.length >= this.opts.batchSize) this.pump();
    else if (!this.pumpScheduled) {
      this.pumpScheduled = true;
      setImmediate(() => {
        this.pumpScheduled = false;
        this.pump();
      });
    }
  }

  /** An event of `message`; `inBatch` when it came in a batch message (a retry or the parking lot then gets it alone). */
  private delivery(message: Message, attempt: number, body: unknown, inBatch: boolean): Delivery {
    const d: Delivery = { message, attempt, raw: inBatch ? body : undefined };
    try {
      d.event = validateEvent(body);
      d.subject = subjectOf(d.event);
    } catch (err) {
      if (err instanceof NewerEventVersionError) {
        d.newer = err;
        d.subject = subjectOf(body as CloudEvent);
      } else d.invalid = (err as Error).message;
    }
    return d;
  }

  private pump(): void {
    while (this.active < this.opts.concurrency && this.buffer.length > 0) {
      const batch = this.cut();
      if (batch.length === 0) return; // everything waits for a subject in a running batch
      const subjects = new Set<string>();
      for (const d of batch) {
        const s = d.subject;
        if (s && !subjects.has(s)) {
          subjects.add(s);
          this.busy.set(s, (this.busy.get(s) ?? 0) + 1);
        }
      }
      this.active++;
      void this.handleBatch(batch)
        .catch((err) => this.logger.error({ err: (err as Error).message }, 'batch handling failed'))
        .finally(() => {
          for (const s of subjects) {
            const n = (this.busy.get(s) ?? 1) - 1;
            if (n > 0) this.busy.set(s, n);
            else this.busy.delete(s);
          }
          this.active--;
          if (this.active === 0) for (const w of this.idleWaiters.splice(0)) w();
          this.pump();
        });
    }
  }

  /**
   * Takes the next batch off the buffer, in arrival order, skipping events whose subject is in a running
   * batch, and every later event of a subject once one of its events was skipped.
   */
  private cut(): Delivery[] {
    if (this.busy.size === 0 && this.buffer.length <= this.opts.batchSize) return this.buffer.splice(0);
    const batch: Delivery[] = [];
    const rest: Delivery[] = [];
    const held = new Set<string>();
    for (const d of this.buffer) {
      const s = d.subject;
      const blocked = s !== undefined && (this.busy.has(s) || held.has(s));
      if (!blocked && batch.length < this.opts.batchSize) batch.push(d);
      else {
        rest.push(d);
        if (s !== undefined) held.add(s);
      }
    }
    this.buffer = rest;
    return batch;
  }

  private async handleBatch(batch: Delivery[]): Promise<void> {
    const invalid = batch.filter((d) => d.invalid);
    for (const d of invalid) await this.park(d, `invalid event: ${d.invalid}`);
    for (const d of batch.filter((x) => x.newer)) await this.retryOrPark(d, d.newer!);
    const valid = batch.filter((d) => d.event);
    if (valid.length === 0) return;
    let outcome: { failures: Map<Delivery, Error>; duplicates: Set<Delivery> };
    for (let wait = 100; ; wait = Math.min(wait * 2, 5_000)) {
      if (valid.every((d) => d.message.ch !== this.channel)) return; // channel gone: the broker redelivers
      try {
        outcome = await this.ds.transaction((m) => this.applyBatch(m, valid));
        break;
      } catch (err) {
        if (refusesData(err)) {
          // The database is there and refuses a value of an event (an id it cannot store in the inbox): the
          // same batch would fail for ever. Each event then goes alone, and the one refused alone is parked.
          if (valid.length === 1) await this.park(valid[0]!, `refused by the database: ${(err as Error).message}`);
          else for (const d of valid) await this.handleBatch([d]);
          return;
        }
        this.logger.warn({ err: (err as Error).message, waitMs: wait }, 'consumer transaction failed; retrying');
        await sleep(wait);
      }
    }
    const { failures, duplicates } = outcome;
    const done: Delivery[] = [];
    for (const d of valid) {
      const err = failures.get(d);
      if (err) continue;
      done.push(d);
      busMetrics.consumed.inc({ type: d.event!.type, outcome: duplicates.has(d) ? 'duplicate' : 'handled' });
    }
    this.settle(done);
    for (const [d, err] of failures) await this.retryOrPark(d, err);
  }

  private async applyBatch(
    m: EntityManager,
    batch: Delivery[],
  ): Promise<{ failures: Map<Delivery, Error>; duplicates: Set<Delivery> }> {
    const schema = this.opts.schema;
    // Events only idempotent handlers take get no inbox row (a redelivery is handled again, harmlessly).
    const ids: string[] = [];
    for (const d of batch) if (this.inboxed(d.event!.type)) ids.push(d.event!.id);
    const inserted: Array<{ event_id: string }> = ids.length === 0 ? [] : await m.query(
      `INSERT INTO "${schema}".inbox (consumer, event_id) SELECT $1, unnest($2::text[])
       ON CONFLICT DO NOTHING RETURNING event_id`,
      [this.opts.service, ids],
    );
    const fresh = new Set(inserted.map((r) => r.event_id));
    const seen = new Set<string>();
    const duplicates = new Set<Delivery>();
    const todo: Delivery[] = [];
    for (const d of batch) {
      // The same event twice in one batch: handle it once.
      if ((!fresh.has(d.event!.id) && this.inboxed(d.event!.type)) || seen.has(d.event!.id)) duplicates.add(d);
      else todo.push(d);
      seen.add(d.event!.id);
    }
    const failures = new Map<Delivery, Error>();
    let sp = 0;
    const attempt = async (fn: () => Promise<void>): Promise<Error | undefined> => {
      const name = `h${sp++}`;
      await m.query(`SAVEPOINT ${name}`);
      try {
        await fn();
        await m.query(`RELEASE SAVEPOINT ${name}`);
        return undefined;
      } catch (err) {
        await m.query(`ROLLBACK TO SAVEPOINT ${name}`);
        return err instanceof Error ? err : new Error(String(err));
      }
    };
    const ctxFor = (d: Delivery | undefined): HandlerContext => ({
      manager: m,
      attempt: d?.attempt ?? 1,
      publish: async (...specs: PublishSpecLike[]) => {
        const correlationId = d?.event?.correlationid;
        await this.outbox.add(
          m,
          specs.map((s) => this.outbox.event({ ...s, correlationId: s.correlationId ?? correlationId, data: s.data as Record<string, unknown> })),
        );
      },
    });
    // An event's handlers succeed or fail together: its retry runs all of them again, so effects another
    // handler left for a failed event would be doubled. When a handler fails an event that has others,
    // the pass is rolled back and redone without the failed events (failures only grow, so this ends).
    const shared = todo.some((d) => this.handlersOf(d.event!.type).length > 1);
    for (;;) {
      const known = failures.size;
      if (shared) await m.query('SAVEPOINT handlers');
      // Batch handlers: one call per handler with every event it matches; on failure, one by one.
      for (const h of this.handlers.filter((x) => x.batch)) {
        const mine = todo.filter((d) => !failures.has(d) && this.handlersOf(d.event!.type).includes(h));
        if (mine.length === 0) continue;
        // A call for events of one request runs in its correlation id, so the handler's logs and follow-up
        // events carry it on; a call for several requests' events runs in none (its handler can pass each
        // event's id to ctx.publish itself).
        const oneId = mine.every((d) => d.event!.correlationid === mine[0]!.event!.correlationid) ? mine[0]!.event!.correlationid : undefined;
        const call = () => (h.fn as BatchHandler)(mine.map((d) => d.event!), ctxFor(undefined));
        const err = await attempt(async () => {
          await (oneId === undefined ? call() : runWithCorrelationId(oneId, call));
        });
        if (!err) continue;
        for (const d of mine) {
          const e = await attempt(() =>
            runWithCorrelationId(d.event!.correlationid, async () => {
              await (h.fn as BatchHandler)([d.event!], ctxFor(d));
            }),
          );
          if (e) failures.set(d, e);
        }
      }
      // Single handlers: each event in its own savepoint with every handler matching its type.
      for (const d of todo) {
        if (failures.has(d)) continue;
        const singles = this.handlersOf(d.event!.type).filter((h) => !h.batch);
        if (singles.length === 0) continue;
        const err = await attempt(() =>
          runWithCorrelationId(d.event!.correlationid, async () => {
            for (const h of singles) await (h.fn as SingleHandler)(d.event!, ctxFor(d));
          }),
        );
        if (err) failures.set(d, err);
      }
      const redo = shared && [...failures.keys()].slice(known).some((d) => this.handlersOf(d.event!.type).length > 1);
      if (!redo) break;
      await m.query('ROLLBACK TO SAVEPOINT handlers');
    }
    const failed = [...failures.keys()].filter((d) => this.inboxed(d.event!.type)).map((d) => d.event!.id);
    if (failed.length > 0) {
      await m.query(`DELETE FROM "${schema}".inbox WHERE consumer = $1 AND event_id = ANY($2::text[])`, [this.opts.service, failed]);
    }
    return { failures, duplicates };
  }

  /**
   * Settles handled events. A message is acknowledged once all of its events are settled, in order per
   * channel, one `multiple` ack per run; one that went back to the queue whole is only released.
   */
  private settle(done: Delivery[]): void {
    const byChannel = new Map<ConfirmChannel, Message[]>();
    for (const d of done) {
      if (--d.message.open > 0) continue;
      const msgs = byChannel.get(d.message.ch) ?? [];
      msgs.push(d.message);
      byChannel.set(d.message.ch, msgs);
    }
    for (const [ch, msgs] of byChannel) {
      const tracker = this.acks.get(ch);
      const acked = msgs.filter((x) => !x.requeued).map((x) => x.msg.fields.deliveryTag);
      const requeued = msgs.filter((x) => x.requeued).map((x) => x.msg.fields.deliveryTag);
      if (acked.length) tracker?.settle(acked);
      if (requeued.length) tracker?.settle(requeued, true);
    }
  }

  private async retryOrPark(d: Delivery, err: Error): Promise<void> {
    const type = typeOf(d);
    const delays = this.opts.retryDelaysMs;
    if (d.attempt > delays.length) {
      await this.park(d, err.message);
      return;
    }
    this.logger.warn({ type, eventId: idOf(d), attempt: d.attempt, err: err.message }, d.newer ? 'event of a newer version; retrying later' : 'handler failed; retrying later');
    const q = queueNames(this.opts.service);
    const retry = d.message.queue === q.ordered ? q.orderedRetry : q.retry;
    const ok = await this.forward(d, retry(delays[d.attempt - 1]), err.message);
    if (ok) {
      busMetrics.retried.inc({ type });
      busMetrics.consumed.inc({ type, outcome: 'retried' });
    }
  }

  private async park(d: Delivery, reason: string): Promise<void> {
    const type = typeOf(d);
    this.logger.error({ type, eventId: idOf(d) ?? d.message.msg.properties.messageId, reason }, 'event parked');
    const ok = await this.forward(d, queueNames(this.opts.service).dead, reason);
    if (ok) {
      busMetrics.parked.inc({ type });
      busMetrics.consumed.inc({ type, outcome: 'parked' });
    }
  }

  /**
   * Sends a copy of the event to `queue`, waits for the broker's confirm, then settles it (its message is
   * acknowledged once all of its events are settled). If the copy is not confirmed, the whole message goes
   * back to the queue to be tried again; its events not forwarded yet then just wait for that redelivery.
   */
  private async forward(d: Delivery, queue: string, reason: string): Promise<boolean> {
    if (d.message.requeued) {
      this.settle([d]);
      return false;
    }
    // An event of a batch goes on alone; a single event's message goes as it came.
    const { msg, ch } = d.message;
    const alone = d.raw !== undefined;
    const messageId = (alone ? messageIdOf(idOf(d)) : undefined) ?? (msg.properties.messageId as string | undefined);
    try {
      // Mandatory: a copy sent to a queue that is gone would otherwise be confirmed and dropped.
      ch.sendToQueue(queue, alone ? Buffer.from(JSON.stringify(d.raw)) : msg.content, {
        ...msg.properties,
        ...(alone ? { contentType: EVENT_CONTENT_TYPE } : {}),
        messageId,
        mandatory: true,
        persistent: true,
        headers: {
          ...(msg.properties.headers ?? {}),
          [ATTEMPT_HEADER]: d.attempt,
          [ERROR_HEADER]: reason.slice(0, 1_000),
          'x-elo-routing-key': msg.fields.routingKey,
          // A parked event is replayed into the queue it came from (ParkedEvents.replay).
          [QUEUE_HEADER]: d.message.queue,
        },
      });
      await ch.waitForConfirms();
      if (this.returned.delete(returnKey(queue, messageId))) throw new Error(`no queue ${queue} took it`);
      this.settle([d]);
      return true;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, queue }, 'could not forward failed event');
      // The whole message goes back to the queue (once); its events handled meanwhile are skipped when it returns.
      if (!d.message.requeued) {
        try {
          ch.nack(msg, false, true);
          d.message.requeued = true;
        } catch {
          // channel closed: the broker redelivers it
        }
      }
      this.settle([d]);
      return false;
    }
  }
}
