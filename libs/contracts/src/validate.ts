import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { dataschemaFor, envelopeProblems, type CloudEvent } from './envelope';
import { EVENT_CATALOGUE, isEventType, type CatalogueEntry, type EventPayload, type EventType } from './events/catalogue';
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

/**
 * An event of a version newer than this code's catalogue knows: its producer runs a later release than this
 * consumer (a rolling deploy). It is not invalid; a consumer tries it again later, by when an upgraded
 * replica (or this one, upgraded) reads it.
 */
export class NewerEventVersionError extends Error {
  constructor(readonly eventType: string, readonly eventId: string, readonly version: number, readonly known: number) {
    super(`${eventType} v${version} is newer than this release reads (v${known})`);
  }
}

/** The version `dataschema` names for `type` (`urn:elo:<type>:v<n>`), or undefined when it names none. */
function schemaVersion(type: string, dataschema: string): number | undefined {
  const prefix = `urn:elo:${type}:v`;
  if (!dataschema.startsWith(prefix)) return undefined;
  const v = dataschema.slice(prefix.length);
  return /^[1-9][0-9]{0,8}$/.test(v) ? Number(v) : undefined;
}

/**
 * Validates an event's envelope and, for catalogue types, its payload; returns the typed payload instance.
 * An event of an older version (written before its type's version was raised, and still in an outbox or a
 * queue) is read through the catalogue's `upgrades` and returned as the current version; a newer one throws
 * NewerEventVersionError.
 */
export function validateEvent<T extends EventType>(raw: unknown): CloudEvent<EventPayload<T>> {
  const problems = envelopeProblems(raw);
  if (problems.length) throw new InvalidEventError(problems);
  const event = raw as CloudEvent<unknown>;
  if (!isEventType(event.type)) throw new InvalidEventError([`unknown event type ${event.type}`]);
  const entry: CatalogueEntry = EVENT_CATALOGUE[event.type];
  const version = schemaVersion(event.type, event.dataschema);
  if (version === undefined) throw new InvalidEventError([`dataschema ${event.dataschema} is not urn:elo:${event.type}:v<version>`]);
  if (version > entry.version) throw new NewerEventVersionError(event.type, event.id, version, entry.version);
  let data = event.data;
  for (let v = version; v < entry.version; v++) {
    const upgrade = entry.upgrades?.[v];
    if (!upgrade) throw new InvalidEventError([`dataschema ${event.dataschema} is no longer read: ${event.type} has no upgrade from v${v}`]);
    try {
      data = upgrade(data);
    } catch (err) {
      throw new InvalidEventError([`${event.type} v${v} data could not be upgraded: ${(err as Error).message}`]);
    }
  }
  const current = version === entry.version ? event : { ...event, dataschema: dataschemaFor(event.type, entry.version) };
  // A valid payload skips class-validator; anything else gets its verdict and messages.
  const checker = payloadChecker(entry.payload as new () => object);
  if (checker?.check(data)) return { ...current, data: checker.build(data) as EventPayload<T> };
  const payload = plainToInstance(entry.payload as new () => object, data) as object;
  const errors = validateSync(payload, { whitelist: false, forbidUnknownValues: true });
  if (errors.length) throw new InvalidEventError(flattenValidationErrors(errors, 'data'));
  return { ...current, data: payload as EventPayload<T> };
}

/** Checks a payload against its type's class before it is written to the outbox. */
export function payloadProblems(type: string, data: unknown): string[] {
  if (!isEventType(type)) return [`unknown event type ${type}`];
  if (payloadChecker(EVENT_CATALOGUE[type].payload as new () => object)?.check(data)) return [];
  const payload = plainToInstance(EVENT_CATALOGUE[type].payload as new () => object, data) as object;
  return flattenValidationErrors(validateSync(payload, { forbidUnknownValues: true }), 'data');
}
