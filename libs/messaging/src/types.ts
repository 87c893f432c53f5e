import type { CloudEvent, EventPayload, EventType } from '@elo/contracts';
import type { EntityManager } from 'typeorm';

export type { CloudEvent, EventPayload, EventType };

export interface PublishSpecLike {
  type: EventType;
  data: object;
  tenantId: string;
  subject?: string;
  correlationId?: string;
  id?: string;
}

/** What a handler gets besides the event: the transaction and a way to publish follow-ups in it. */
export interface HandlerContext {
  /** The transaction that also records the event in the inbox. */
  manager: EntityManager;
  /** 1 on first delivery, then 2, 3, ... after retries. */
  attempt: number;
  /** Writes follow-up events to the outbox in the same transaction; correlation id carried over. */
  publish(...specs: PublishSpecLike[]): Promise<void>;
}

export type SingleHandler = (event: CloudEvent, ctx: HandlerContext) => Promise<void> | void;
export type BatchHandler = (events: CloudEvent[], ctx: HandlerContext) => Promise<void> | void;

export interface RegisteredHandler {
  /** An event type or pattern, or several: a batch handler then gets the events of all of them in one call. */
  type: string | readonly string[];
  batch: boolean;
  /** Its effects are keyed, so its events need no inbox row (see EventHandlerOptions.idempotent). */
  idempotent?: boolean;
  /** Consumed from the service's ordered queue (see EventHandlerOptions.ordered). */
  ordered?: boolean;
  name: string;
  fn: SingleHandler | BatchHandler;
}
