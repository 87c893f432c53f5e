import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { CloudEvent } from '@elo/contracts';
import { randomUUID } from 'node:crypto';
import { EVENTS_EXCHANGE, UNROUTABLE_EXCHANGE } from './topology';
import { decodeMessage, EVENT_CONTENT_TYPE, messagesOf } from './wire';

/**
 * A bus participant for tests, tools and benchmarks: collects every event matching `patterns` in
 * its own exclusive queue and publishes raw events with confirms. Services never use it.
 */
export class BusProbe {
  readonly events: CloudEvent[] = [];
  /** Routing key of this probe's own markers (see settled): bound to its queue alone. */
  private readonly marker = `elo.probe.marker.${randomUUID()}`;
  private readonly markersSeen = new Set<string>();
  private constructor(
    private readonly model: ChannelModel,
    private readonly ch: ConfirmChannel,
  ) {}

  static async connect(amqpUrl: string, patterns: string[] = ['#']): Promise<BusProbe> {
    const model = await connect(amqpUrl);
    const ch = await model.createConfirmChannel();
    await ch.assertExchange(UNROUTABLE_EXCHANGE, 'fanout', { durable: true });
    await ch.assertExchange(EVENTS_EXCHANGE, 'topic', {
      durable: true,
      arguments: { 'alternate-exchange': UNROUTABLE_EXCHANGE },
    });
    const probe = new BusProbe(model, ch);
    const q = await ch.assertQueue('', { exclusive: true, autoDelete: true });
    for (const p of [...patterns, probe.marker]) await ch.bindQueue(q.queue, EVENTS_EXCHANGE, p);
    await ch.consume(
      q.queue,
      (msg) => {
        if (!msg) return;
        if (msg.fields.routingKey === probe.marker) probe.markersSeen.add(String(msg.properties.messageId));
        else probe.events.push(...(decodeMessage(msg.content, msg.properties.contentType).bodies as CloudEvent[]));
      },
      { noAck: true },
    );
    return probe;
  }

  ofType<T = unknown>(type: string): CloudEvent<T>[] {
    return this.events.filter((e) => e.type === type) as CloudEvent<T>[];
  }

  /** Publishes events as a producer would (confirmed), bypassing any outbox. */
  async publish(...events: CloudEvent[]): Promise<void> {
    for (const e of events) {
      this.ch.publish(EVENTS_EXCHANGE, e.type, Buffer.from(JSON.stringify(e)), {
        persistent: true,
        messageId: e.id,
        contentType: EVENT_CONTENT_TYPE,
      });
    }
    await this.ch.waitForConfirms();
  }

  /** Publishes events as the outbox relay does: consecutive events of one type in one batch message. */
  async publishBatched(...events: CloudEvent[]): Promise<void> {
    const bodies = events.map((e) => ({ e, body: JSON.stringify(e) }));
    for (const { type, content, contentType, messageId } of messagesOf(bodies, (x) => x.e.id, (x) => x.e.type, (x) => x.body)) {
      this.ch.publish(EVENTS_EXCHANGE, type, content, { persistent: true, messageId, contentType });
    }
    await this.ch.waitForConfirms();
  }

  /**
   * Resolves once every event the producers had written to their outboxes has reached this probe, so a
   * count is final and an absence means something: first waits until `outboxEmpty()` holds (a relay
   * deletes an outbox row only once the broker has confirmed its message, which is then in this probe's
   * queue), then until a marker this probe publishes after that comes back (the queue delivers in order).
   * Markers never appear in `events`.
   */
  async settled(outboxEmpty: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const until = async (what: string, done: () => boolean | Promise<boolean>) => {
      while (!(await done())) {
        if (Date.now() > deadline) throw new Error(`bus not settled after ${timeoutMs} ms: ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until('the outbox still holds events', outboxEmpty);
    const id = randomUUID();
    this.ch.publish(EVENTS_EXCHANGE, this.marker, Buffer.from('{}'), { messageId: id, contentType: EVENT_CONTENT_TYPE });
    await this.ch.waitForConfirms();
    await until('the marker did not come back', () => this.markersSeen.delete(id));
  }

  async close(): Promise<void> {
    await this.model.close().catch(() => undefined);
  }
}
