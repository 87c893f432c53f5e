import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { CloudEvent } from '@elo/contracts';
import { EVENTS_EXCHANGE, UNROUTABLE_EXCHANGE } from './topology';
import { decodeMessage, EVENT_CONTENT_TYPE, messagesOf } from './wire';

/**
 * A bus participant for tests, tools and benchmarks: collects every event matching `patterns` in
 * its own exclusive queue and publishes raw events with confirms. Services never use it.
 */
export class BusProbe {
  readonly events: CloudEvent[] = [];
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
    for (const p of patterns) await ch.bindQueue(q.queue, EVENTS_EXCHANGE, p);
    await ch.consume(
      q.queue,
      (msg) => {
        if (!msg) return;
        probe.events.push(...(decodeMessage(msg.content, msg.properties.contentType).bodies as CloudEvent[]));
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

  async close(): Promise<void> {
    await this.model.close().catch(() => undefined);
  }
}
