import { createHash } from 'node:crypto';
import type { InboundMessage, ProviderError } from '@elo/contracts';

export interface InboundContact {
  /** Unique per channel: canonical E.164 phone, or the provider's user id. */
  key: string;
  phone?: string;
  phoneAlt?: string;
  providerUserId?: string;
  name?: string;
}

/** One customer message, normalised; `state` says whether it is usable. */
export interface InboundItem {
  providerMessageId: string;
  contact?: InboundContact;
  message: InboundMessage;
  providerTimestamp: Date;
  state: 'received' | 'unsupported' | 'invalid';
  /** Why an item is invalid. */
  problem?: string;
  raw?: unknown;
}

export type StatusName = 'sent' | 'delivered' | 'read' | 'failed';

/** One status callback; a watermark stands for every outbound message sent to the contact up to then. */
export interface StatusItem {
  providerMessageId?: string;
  status: StatusName;
  providerTimestamp: Date;
  error?: ProviderError;
  watermark?: { contactKey: string; upTo: Date };
}

export interface Normalised {
  messages: InboundItem[];
  statuses: StatusItem[];
}

export const STATUS_RANK: Record<string, number> = { queued: 0, sending: 0, sent: 1, delivered: 2, read: 3, failed: 4 };

/** A stable id for an item the provider sent without one, so its repeats still de-duplicate. */
export function syntheticId(item: unknown): string {
  return `invalid:${createHash('sha256').update(JSON.stringify(item) ?? '').digest('hex').slice(0, 40)}`;
}

export function invalidItem(item: unknown, problem: string, id?: unknown): InboundItem {
  return {
    providerMessageId: typeof id === 'string' && id ? id : typeof id === 'number' ? String(id) : syntheticId(item),
    message: { kind: 'unsupported', providerType: 'invalid' },
    providerTimestamp: new Date(),
    state: 'invalid',
    problem,
    raw: item,
  };
}

const FIRST_STORABLE = Date.parse('0001-01-01T00:00:00.000Z');
const LAST_STORABLE = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * Whether PostgreSQL can store the time as toISOString writes it: years 1 to 9999 (JavaScript also holds
 * year 0, which PostgreSQL refuses, and writes later years as +YYYYYY, which it cannot read).
 */
export function storableTime(d: Date): boolean {
  const t = d.getTime();
  return t >= FIRST_STORABLE && t <= LAST_STORABLE;
}

/** Seconds (string or number) or milliseconds since the epoch → Date; invalid or not storable (past year 9999) → now. */
export function epochToDate(v: unknown, unit: 's' | 'ms'): Date {
  const n = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : NaN;
  if (!Number.isFinite(n) || n <= 0) return new Date();
  const d = new Date(unit === 's' ? n * 1000 : n);
  return storableTime(d) ? d : new Date();
}

/** String.prototype.toWellFormed (Node 20; the workspace's TypeScript lib is older than ES2024). */
const toWellFormed = (s: string): string => (s as string & { toWellFormed(): string }).toWellFormed();

/** A string PostgreSQL text and jsonb can hold: U+0000 and every lone surrogate (\ud800 …) as U+FFFD. */
function storableString(s: string): string {
  const text = s.includes('\u0000') ? s.split('\u0000').join('\uFFFD') : s;
  return toWellFormed(text);
}

/**
 * Whether the JSON text may carry a string PostgreSQL refuses: U+0000, or a UTF-16 surrogate, lone or
 * paired (only a JSON escape can put one in a string: UTF-8 decoding never yields a lone surrogate, and
 * JSON.stringify escapes lone ones). Most bodies have neither, so they skip the walk of storable(); Meta's
 * escaped emoji take the walk too, which is cheap.
 */
export const mayNeedStorable = (json: string): boolean => /\\u(?:0000|[dD][89a-fA-F])/.test(json);

/**
 * The value with every string (and key) made storable in PostgreSQL text and jsonb: U+0000 and lone
 * surrogates become U+FFFD. Dates and other values stay as they are. The one place both the webhook path
 * and the outbound path clean what they store and publish.
 */
export function storable<T>(v: T): T {
  if (typeof v === 'string') return storableString(v) as T;
  if (Array.isArray(v)) return v.map(storable) as T;
  if (isObj(v) && !(v instanceof Date)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [storableString(k), storable(x)])) as T;
  return v;
}

export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : typeof v === 'number' ? String(v) : undefined);
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
