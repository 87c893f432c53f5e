import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

const storage = new AsyncLocalStorage<{ correlationId: string }>();
const VALID_ID = /^[A-Za-z0-9._:-]{1,128}$/;
export const CORRELATION_HEADER = 'x-correlation-id';

/** The async-local store behind the helpers below (exported for tools that need `exit()` or `getStore()`). */
export const correlationContext = storage;

/** An id we accept from outside: at most 128 of [A-Za-z0-9._:-]; anything else could forge or flood logs. */
export function isValidCorrelationId(id: unknown): id is string {
  return typeof id === 'string' && VALID_ID.test(id);
}

export function currentCorrelationId(): string | undefined {
  return storage.getStore()?.correlationId;
}

/**
 * Runs `fn` with `id` as the correlation id of everything it logs and publishes. An invalid or missing
 * id is replaced by a fresh uuid (the caller still gets a scope).
 */
export function runWithCorrelationId<T>(id: string | undefined, fn: () => T): T {
  return storage.run({ correlationId: isValidCorrelationId(id) ? id : randomUUID() }, fn);
}

/** Takes `x-correlation-id` from the request (or makes one), echoes it, and scopes the request to it. */
export function correlationMiddleware(req: Request, res: Response, next: NextFunction): void {
  const given = req.headers[CORRELATION_HEADER];
  const id = isValidCorrelationId(given) ? given : randomUUID();
  res.setHeader(CORRELATION_HEADER, id);
  storage.run({ correlationId: id }, next);
}
