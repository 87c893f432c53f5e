import type { Channel } from 'amqplib';

/** The one topic exchange every event goes through; the routing key is the event type. */
export const EVENTS_EXCHANGE = 'elo.events';
/** Alternate exchange and queue that catch events no queue is bound for, so none is dropped. */
export const UNROUTABLE_EXCHANGE = 'elo.unroutable';
export const UNROUTABLE_QUEUE = 'elo.unroutable';

/** Default retry delays: a redelivery path of TTL queues that dead-letter back to the service queue. */
export const DEFAULT_RETRY_DELAYS_MS = [1_000, 10_000, 60_000, 300_000, 1_800_000];

export interface ServiceTopology {
  service: string;
  /** Event types (routing keys, `#`/`*` allowed) the service queue is bound to. */
  bindings: string[];
  /** Event types the service's ordered queue is bound to (handlers that need a subject's order, see EventHandlerOptions.ordered). */
  orderedBindings?: string[];
  /**
   * Routing keys an earlier version bound the queue to and this one no longer wants (a binding outlives
   * the code that declared it): unbound once the current ones are in place, so the queue is never bound
   * to less than it needs. A key that is not bound is fine.
   */
  retiredBindings?: string[];
  retryDelaysMs: number[];
}

export const queueNames = (service: string) => ({
  main: service,
  dead: `${service}.dead`,
  /** Named by delay, so changing the configured schedule declares new queues instead of clashing. */
  retry: (delayMs: number) => `${service}.retry.${delayMs}ms`,
  /** One replica at a time consumes it (single active consumer): a subject's order holds across replicas. */
  ordered: `${service}.ordered`,
  orderedRetry: (delayMs: number) => `${service}.ordered.retry.${delayMs}ms`,
});

/**
 * Declares the exchange, the service's quorum queue and its ordered queue with their bindings, their
 * retry TTL queues and the parking-lot queue. Idempotent; runs at start and after every reconnect. The
 * ordered queue and its retry queues are declared (and consumed) even when no handler needs them, so a
 * type that stops being ordered is unbound from it and what they still hold is handled.
 */
export async function declareTopology(ch: Channel, t: ServiceTopology): Promise<void> {
  const q = queueNames(t.service);
  await ch.assertExchange(UNROUTABLE_EXCHANGE, 'fanout', { durable: true });
  await ch.assertQueue(UNROUTABLE_QUEUE, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await ch.bindQueue(UNROUTABLE_QUEUE, UNROUTABLE_EXCHANGE, '');
  await ch.assertExchange(EVENTS_EXCHANGE, 'topic', {
    durable: true,
    arguments: { 'alternate-exchange': UNROUTABLE_EXCHANGE },
  });
  await ch.assertQueue(q.dead, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  const ordered = t.orderedBindings ?? [];
  const queues: Array<{ name: string; bindings: string[]; retry: (delayMs: number) => string; single: boolean }> = [
    { name: q.main, bindings: t.bindings, retry: q.retry, single: false },
    { name: q.ordered, bindings: ordered, retry: q.orderedRetry, single: true },
  ];
  for (const queue of queues) {
    await ch.assertQueue(queue.name, {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        ...(queue.single ? { 'x-single-active-consumer': true } : {}),
        // A message that keeps crashing the process (never acked nor retried) ends in the parking lot.
        'x-delivery-limit': 20,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': q.dead,
      },
    });
    for (const key of queue.bindings) await ch.bindQueue(queue.name, EVENTS_EXCHANGE, key);
    // What the other queue takes now, or nobody, is unbound here once the current bindings are in place.
    const elsewhere = queue.single ? [...t.bindings, ...(t.retiredBindings ?? [])] : [...ordered, ...(t.retiredBindings ?? [])];
    for (const key of new Set(elsewhere)) if (!queue.bindings.includes(key)) await ch.unbindQueue(queue.name, EVENTS_EXCHANGE, key);
    for (const delay of new Set(t.retryDelaysMs)) {
      await ch.assertQueue(queue.retry(delay), {
        durable: true,
        arguments: {
          'x-message-ttl': delay,
          'x-dead-letter-exchange': '',
          'x-dead-letter-routing-key': queue.name,
        },
      });
    }
  }
}
