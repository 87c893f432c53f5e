import type { GetMessage } from 'amqplib';
import type { BusConnection } from './connection';
import { ATTEMPT_HEADER, ERROR_HEADER } from './consumer-host';
import { queueNames } from './topology';

export interface ParkedEvent {
  eventId: string;
  type: string;
  tenantId?: string;
  attempts: number;
  reason: string;
  event: unknown;
}

const MAX_SCAN = 10_000;

/**
 * The parking lot (`<service>.dead`): events that exhausted their retries or were invalid.
 * Listing looks without removing; replaying sends chosen events back to the service queue with a
 * fresh attempt count and removes them from the lot once the broker confirmed.
 */
export class ParkedEvents {
  constructor(
    private readonly bus: BusConnection,
    private readonly service: string,
  ) {}

  async list(limit = 100): Promise<ParkedEvent[]> {
    return this.scan(limit, async () => false);
  }

  /** Replays the parked events with these ids (all of them when `eventIds` is undefined). */
  async replay(eventIds?: string[]): Promise<number> {
    const wanted = eventIds ? new Set(eventIds) : undefined;
    let replayed = 0;
    await this.scan(MAX_SCAN, async (p, msg, ch) => {
      if (wanted && !wanted.has(p.eventId)) return false;
      const headers = { ...(msg.properties.headers ?? {}) };
      delete headers[ATTEMPT_HEADER];
      delete headers[ERROR_HEADER];
      ch.sendToQueue(queueNames(this.service).main, msg.content, { ...msg.properties, headers, persistent: true });
      await ch.waitForConfirms();
      ch.ack(msg);
      replayed++;
      return true;
    });
    return replayed;
  }

  private async scan(
    limit: number,
    visit: (p: ParkedEvent, msg: GetMessage, ch: Awaited<ReturnType<BusConnection['createConfirmChannel']>>) => Promise<boolean>,
  ): Promise<ParkedEvent[]> {
    const ch = await this.bus.createConfirmChannel();
    const out: ParkedEvent[] = [];
    try {
      // Messages taken with get() and not acked go back to the queue when the channel closes.
      for (let i = 0; i < limit; i++) {
        const msg = await ch.get(queueNames(this.service).dead, { noAck: false });
        if (!msg) break;
        let event: Record<string, unknown> = {};
        try {
          event = JSON.parse(msg.content.toString('utf8')) as Record<string, unknown>;
        } catch {
          event = { raw: msg.content.toString('utf8').slice(0, 2_000) };
        }
        const p: ParkedEvent = {
          eventId: String(event.id ?? msg.properties.messageId ?? ''),
          type: String(event.type ?? msg.fields.routingKey),
          tenantId: typeof event.tenantid === 'string' ? event.tenantid : undefined,
          attempts: Number(msg.properties.headers?.[ATTEMPT_HEADER] ?? 0),
          reason: String(msg.properties.headers?.[ERROR_HEADER] ?? 'delivery limit reached'),
          event,
        };
        if (!(await visit(p, msg, ch))) out.push(p);
      }
    } finally {
      await ch.close().catch(() => undefined);
    }
    return out;
  }
}
