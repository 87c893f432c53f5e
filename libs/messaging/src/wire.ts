/**
 * How events travel in broker messages. One event is a structured CloudEvent
 * (`application/cloudevents+json`). Several consecutive events of one type may travel as one message
 * in CloudEvents' batch format (`application/cloudevents-batch+json`: a JSON array of structured
 * events), which is what the outbox relay sends when it has a run of them: the broker's cost is per
 * message, so a backlog drains in a fraction of the messages. Consumers take both.
 */
export const EVENT_CONTENT_TYPE = 'application/cloudevents+json';
export const BATCH_CONTENT_TYPE = 'application/cloudevents-batch+json';

/** Most events in one batch message, and most bytes (a message stays small for the broker and the consumer's prefetch). */
export const MAX_BATCH_EVENTS = 50;
export const MAX_BATCH_BYTES = 256 * 1024;

/** Message id of a batch message: its events keep their own ids in the body. */
const batchMessageId = (firstEventId: string, count: number) => `batch:${firstEventId}+${count}`;

/**
 * Splits events, in order, into consecutive runs of one type within the limits: each run is one
 * message. Order is kept, so a subject's events reach every queue in the order they were written.
 */
export function runsOf<T>(items: readonly T[], type: (x: T) => string, bytes: (x: T) => number): T[][] {
  const runs: T[][] = [];
  let size = 0;
  for (const x of items) {
    const last = runs[runs.length - 1];
    const n = bytes(x);
    if (last && type(last[0]!) === type(x) && last.length < MAX_BATCH_EVENTS && size + n + 1 <= MAX_BATCH_BYTES) {
      last.push(x);
      size += n + 1;
    } else {
      runs.push([x]);
      size = n + 2;
    }
  }
  return runs;
}

/** The message body for a run of serialised events. */
export function encodeRun(bodies: readonly string[]): { content: Buffer; contentType: string } {
  if (bodies.length === 1) return { content: Buffer.from(bodies[0]!), contentType: EVENT_CONTENT_TYPE };
  return { content: Buffer.from(`[${bodies.join(',')}]`), contentType: BATCH_CONTENT_TYPE };
}

/** One broker message to publish: a run of serialised events of one type, and what it carries. */
export interface OutgoingMessage<T> {
  items: T[];
  type: string;
  messageId: string;
  contentType: string;
  content: Buffer;
}

/** The broker messages for serialised events, in order: each run of one type (runsOf) in one message. */
export function messagesOf<T>(items: readonly T[], id: (x: T) => string, type: (x: T) => string, body: (x: T) => string): Array<OutgoingMessage<T>> {
  return runsOf(items, type, (x) => Buffer.byteLength(body(x))).map((run) => {
    const first = run[0]!;
    return {
      items: run,
      type: type(first),
      messageId: run.length === 1 ? id(first) : batchMessageId(id(first), run.length),
      ...encodeRun(run.map(body)),
    };
  });
}

/**
 * The event bodies a message carries: each element of a batch message (`batch`), or the message's own body
 * (a lone event, and anything that is not a non-empty array). Throws when the content is not JSON.
 */
export function decodeMessage(content: Buffer, contentType: string | undefined): { bodies: unknown[]; batch: boolean } {
  const body: unknown = JSON.parse(content.toString('utf8'));
  if (contentType === BATCH_CONTENT_TYPE && Array.isArray(body) && body.length > 0) return { bodies: body, batch: true };
  return { bodies: [body], batch: false };
}
