import { randomUUID } from 'node:crypto';
import { EVENT_CATALOGUE, isEventType } from './events/catalogue';

/** CloudEvents 1.0, structured JSON mode, with Elo's extension attributes. */
export interface CloudEvent<T = unknown> {
  specversion: '1.0';
  id: string;
  /** URI-reference of the producer, e.g. `elo://chat-ingress`. */
  source: string;
  /** The routing key on `elo.events`, e.g. `chat.message.received`. */
  type: string;
  time: string;
  datacontenttype: 'application/json';
  /** Versioned payload schema, `urn:elo:<type>:v<version>`. */
  dataschema: string;
  /** What the event is about (conversation, message or call id); handlers use it for ordering. */
  subject?: string;
  /** Extension: the tenant the event belongs to. */
  tenantid: string;
  /** Extension: correlation id carried from the HTTP request through every consumer. */
  correlationid?: string;
  data: T;
}

export interface NewEvent<T> {
  type: string;
  data: T;
  tenantId: string;
  source: string;
  subject?: string;
  correlationId?: string;
  version?: number;
  id?: string;
  time?: Date;
}

export function dataschemaFor(type: string, version = 1): string {
  return `urn:elo:${type}:v${version}`;
}

export function createEvent<T>(e: NewEvent<T>): CloudEvent<T> {
  const event: CloudEvent<T> = {
    specversion: '1.0',
    id: e.id ?? randomUUID(),
    source: e.source,
    type: e.type,
    time: (e.time ?? new Date()).toISOString(),
    datacontenttype: 'application/json',
    // The catalogue's version by default: it is the one consumers check (validateEvent), so raising it changes what is sent too.
    dataschema: dataschemaFor(e.type, e.version ?? (isEventType(e.type) ? EVENT_CATALOGUE[e.type].version : 1)),
    tenantid: e.tenantId,
    data: e.data,
  };
  if (e.subject !== undefined) event.subject = e.subject;
  if (e.correlationId !== undefined) event.correlationid = e.correlationId;
  return event;
}

const ATTRIBUTE_NAME = /^[a-z0-9]{1,20}$/;

/** Checks the envelope's required attributes; returns the problems found (empty when valid). */
export function envelopeProblems(raw: unknown): string[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return ['event must be a JSON object'];
  const e = raw as Record<string, unknown>;
  const problems: string[] = [];
  if (e.specversion !== '1.0') problems.push('specversion must be "1.0"');
  for (const k of ['id', 'source', 'type', 'tenantid', 'time', 'dataschema'] as const) {
    if (typeof e[k] !== 'string' || (e[k] as string).length === 0) problems.push(`${k} must be a non-empty string`);
  }
  if (typeof e.time === 'string' && Number.isNaN(Date.parse(e.time))) problems.push('time must be an RFC 3339 timestamp');
  if (!('data' in e)) problems.push('data is required');
  for (const k of Object.keys(e)) if (!ATTRIBUTE_NAME.test(k)) problems.push(`attribute name ${k} is not valid`);
  return problems;
}
