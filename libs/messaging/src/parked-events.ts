import type { GetMessage } from 'amqplib';
import type { BusConnection } from './connection';
import { ATTEMPT_HEADER, ERROR_HEADER, QUEUE_HEADER } from './consumer-host';
import { queueNames } from './topology';
import { decodeMessage, EVENT_CONTENT_TYPE } from './wire';

export interface ParkedEvent {
  eventId: string;
  type: string;
  tenantId?: string;
  attempts: number;
  reason: string;
  event: unknown;
}

const MAX_SCAN = 10_000;

type Channel = Awaited<ReturnType<BusConnection['createConfirmChannel']>>;

/**
 * The parking lot (`<service>.dead`): events that exhausted their retries or were invalid.
 * Listing looks without removing; replaying sends chosen events back to the service queue with a
 * fresh attempt count and removes them from the lot once the broker confirmed. A batch message that
 * reached the lot whole (its delivery limit ran out) is listed event by event; replaying some of its
 * events sends those alone and puts the rest back in the lot.
 */
export class ParkedEvents {
  constructor(
    private readonly bus: BusConnection,
    private readonly service: string,
  ) {}

  /**
   * Up to `limit` parked messages' events; with `tenantId`, that tenant's events only (up to `limit` of
   * them): the lot is shared by every tenant, and an event carries its tenant's customers' data.
   */
  async list(limit = 100, tenantId?: string): Promise<ParkedEvent[]> {
    if (tenantId === undefined) return this.scan(limit, async () => false);
    const out: ParkedEvent[] = [];
    await this.scan(MAX_SCAN, async (parked) => {
      out.push(...parked.filter((p) => p.tenantId === tenantId));
      return false;
    }, () => out.length >= limit);
    return out.slice(0, limit);
  }

  /**
   * Replays the parked events with these ids (all of them when `eventIds` is undefined); with `tenantId`,
   * only that tenant's (another tenant's events stay in the lot, even when named).
   */
  async replay(eventIds?: string[], tenantId?: string): Promise<number> {
    const wanted = eventIds ? new Set(eventIds) : undefined;
    const q = queueNames(this.service);
    let replayed = 0;
    await this.scan(MAX_SCAN, async (parked, msg, ch) => {
      const chosen = parked.filter((p) => (!wanted || wanted.has(p.eventId)) && (tenantId === undefined || p.tenantId === tenantId));
      if (chosen.length === 0) return false;
      const headers = { ...(msg.properties.headers ?? {}) };
      delete headers[ATTEMPT_HEADER];
      delete headers[ERROR_HEADER];
      // Back into the queue it was parked from: the service queue, or its ordered queue.
      const back = headers[QUEUE_HEADER] === q.ordered ? q.ordered : q.main;
      if (chosen.length === parked.length) {
        ch.sendToQueue(back, msg.content, { ...msg.properties, headers, persistent: true });
      } else {
        // Part of a batch: the chosen events go alone, the others back to the lot as they were parked.
        const alone = (p: ParkedEvent) => ({ ...msg.properties, contentType: EVENT_CONTENT_TYPE, messageId: p.eventId, persistent: true });
        for (const p of chosen) ch.sendToQueue(back, Buffer.from(JSON.stringify(p.event)), { ...alone(p), headers });
        for (const p of parked) if (!chosen.includes(p)) ch.sendToQueue(q.dead, Buffer.from(JSON.stringify(p.event)), { ...alone(p), headers: msg.properties.headers });
      }
      await ch.waitForConfirms();
      ch.ack(msg);
      replayed += chosen.length;
      return true;
    });
    return replayed;
  }

  /**
   * Walks the lot: `visit` gets each message's events and returns whether it took the message (acked it);
   * the walk ends after `limit` messages, at the end of the lot, or once `done()`.
   */
  private async scan(
    limit: number,
    visit: (parked: ParkedEvent[], msg: GetMessage, ch: Channel) => Promise<boolean>,
    done: () => boolean = () => false,
  ): Promise<ParkedEvent[]> {
    const ch = await this.bus.createConfirmChannel();
    const out: ParkedEvent[] = [];
    try {
      // Messages taken with get() and not acked go back to the queue when the channel closes.
      for (let i = 0; i < limit && !done(); i++) {
        const msg = await ch.get(queueNames(this.service).dead, { noAck: false });
        if (!msg) break;
        const parked = parkedIn(msg);
        if (!(await visit(parked, msg, ch))) out.push(...parked);
      }
    } finally {
      await ch.close().catch(() => undefined);
    }
    return out;
  }
}

/** The events a parked message holds: one, or each of a batch. */
function parkedIn(msg: GetMessage): ParkedEvent[] {
  let events: unknown[];
  try {
    events = decodeMessage(msg.content, msg.properties.contentType).bodies;
  } catch {
    events = [{ raw: msg.content.toString('utf8').slice(0, 2_000) }];
  }
  return events.map((e) => {
    const event = (e && typeof e === 'object' ? e : { raw: e }) as Record<string, unknown>;
    return {
      eventId: String(event.id ?? msg.properties.messageId ?? ''),
      type: String(event.type ?? msg.fields.routingKey),
      tenantId: typeof event.tenantid === 'string' ? event.tenantid : undefined,
      attempts: Number(msg.properties.headers?.[ATTEMPT_HEADER] ?? 0),
      reason: String(msg.properties.headers?.[ERROR_HEADER] ?? 'delivery limit reached'),
      event,
    };
  });
}
