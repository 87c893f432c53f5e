import { SetMetadata } from '@nestjs/common';
import type { EventType } from './types';

export const EVENT_HANDLER_METADATA = 'elo:event-handler';

export interface EventHandlerOptions {
  /**
   * Receive every event of this type from one delivered batch at once (`handle(events[], ctx)`),
   * to write their effects with a few statements instead of one per event. If a batch call throws,
   * the events are handled again one by one so only the bad one is retried.
   */
  batch?: boolean;
  /**
   * The handler's effects are keyed: handling an event again changes nothing and publishes nothing (its
   * rows carry their own unique keys, its state only moves forward). Its events then skip the inbox row
   * (a redelivery is simply handled again), unless another handler of the same type is not idempotent.
   */
  idempotent?: boolean;
  /**
   * The handler needs each subject's events in the order they were published, with several replicas
   * running too. Its types are consumed from the service's ordered queue (`<svc>.ordered`), which one
   * replica at a time consumes (RabbitMQ's single active consumer); the others stand by and take over
   * when it goes. Within that replica a subject's events are handled in order, as on the service queue.
   * The price: these types are handled by one replica at a time. Name the types exactly: an event that
   * also matches another handler's pattern of the service reaches both queues (the inbox handles it once,
   * from whichever queue comes first, so its order is then not kept).
   */
  ordered?: boolean;
}

export interface EventHandlerMetadata extends EventHandlerOptions {
  type: string | readonly string[];
}

/**
 * Marks a method of a consumer class (`*.consumer.ts`) as the handler of one event type. The handler
 * runs inside the transaction that records the event in the inbox: use `ctx.manager` for every write
 * and `ctx.publish` for follow-up events, and all of it commits together, once.
 * With several types, a batch handler gets the events of all of them from one delivered batch in one
 * call (e.g. to take every row lock the batch needs in one ordered statement).
 */
export const EventHandler = (
  type: EventType | string | ReadonlyArray<EventType | string>,
  options: EventHandlerOptions = {},
): MethodDecorator =>
  SetMetadata(EVENT_HANDLER_METADATA, { type, ...options } satisfies EventHandlerMetadata);
