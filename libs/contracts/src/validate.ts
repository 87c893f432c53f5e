import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { envelopeProblems, type CloudEvent } from './envelope';
import { EVENT_CATALOGUE, isEventType, type EventPayload, type EventType } from './events/catalogue';
import { payloadChecker } from './payload-checker';
import { memoiseValidationMetadata } from './validation-cache';

// Every service validates each event it publishes and consumes, and each request body: see why there.
memoiseValidationMetadata();

/** class-validator's errors as `path: message` lines, nested properties under `prefix.`. */
export function flattenValidationErrors(errors: ValidationError[], prefix = ''): string[] {
  return errors.flatMap((e) => {
    const path = prefix ? `${prefix}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((m) => `${path}: ${m}`);
    return [...own, ...flattenValidationErrors(e.children ?? [], path)];
  });
}

export class InvalidEventError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid event: ${problems.join('; ')}`);
  }
}

/** Validates an event's envelope and, for catalogue types, its payload; returns the typed payload instance. */
export function validateEvent<T extends EventType>(raw: unknown): CloudEvent<EventPayload<T>> {
  const problems = envelopeProblems(raw);
  if (problems.length) throw new InvalidEventError(problems);
  const event = raw as CloudEvent<unknown>;
  if (!isEventType(event.type)) throw new InvalidEventError([`unknown event type ${event.type}`]);
  const entry = EVENT_CATALOGUE[event.type];
  const expectedSchema = `urn:elo:${event.type}:v${entry.version}`;
  if (event.dataschema !== expectedSchema) {
    throw new InvalidEventError([`dataschema ${event.dataschema} is not ${expectedSchema}`]);
  }
  // A valid payload skips class-validator; anything else gets its verdict and messages.
  const checker = payloadChecker(entry.payload as new () => object);
  if (checker?.check(event.data)) return { ...event, data: checker.build(event.data) as EventPayload<T> };
  const payload = plainToInstance(entry.payload as new () => object, event.data) as object;
  const errors = validateSync(payload, { whitelist: false, forbidUnknownValues: true });
  if (errors.length) throw new InvalidEventError(flattenValidationErrors(errors, 'data'));
  return { ...event, data: payload as EventPayload<T> };
}

/** Checks a payload against its type's class before it is written to the outbox. */
export function payloadProblems(type: string, data: unknown): string[] {
  if (!isEventType(type)) return [`unknown event type ${type}`];
  if (payloadChecker(EVENT_CATALOGUE[type].payload as new () => object)?.check(data)) return [];
  const payload = plainToInstance(EVENT_CATALOGUE[type].payload as new () => object, data) as object;
  return flattenValidationErrors(validateSync(payload, { forbidUnknownValues: true }), 'data');
}
