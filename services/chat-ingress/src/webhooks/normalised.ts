import { createHash } from 'node:crypto';
import type { GeoPoint, InboundMessage, ProviderError } from '@elo/contracts';

export interface InboundContact {
  /** Unique per channel: canonical E.164 phone, or the provider's user id. */
  key: string;
  phone?: string;
  phoneAlt?: string;
  providerUserId?: string;
  /**
   * WhatsApp: the business-scoped user id (`user_id`), beside the phone or alone (key `uid:<id>`). The customer's contact
   * is found by it whichever way they wrote first (IngestService.knownByUserId).
   */
  userId?: string;
  name?: string;
  /**
   * Telegram Business: the business connection the customer wrote through, which every send into their chat must name
   * (`business_connection_id`); null when they wrote to the bot itself; absent when the item does not tell.
   */
  businessConnectionId?: string | null;
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

/** Telegram Business: a `business_connection` update, whether sends through the connection may go. */
export interface BusinessConnectionState {
  id: string;
  /** The business account has the bot connected (`is_enabled`). */
  enabled: boolean;
  /** The bot may send into the account's chats (`rights.can_reply`). */
  canReply: boolean;
}

export interface Normalised {
  messages: InboundItem[];
  statuses: StatusItem[];
  businessConnection?: BusinessConnectionState;
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

/**
 * A provider's location as the event contract's GeoPoint takes it: one the contract refuses would fail the
 * whole webhook (the outbox refuses the event), which the provider then retries for days. Coordinates out of
 * range are no location (undefined: stored unsupported); a name or address over the contract's lengths
 * (500, 1,000) is cut to them (the raw receipt keeps it whole).
 */
export function geoPoint(latitude: unknown, longitude: unknown, name?: string, address?: string): GeoPoint | undefined {
  const lat = typeof latitude === 'string' && latitude.trim() ? Number(latitude) : latitude;
  const lng = typeof longitude === 'string' && longitude.trim() ? Number(longitude) : longitude;
  if (typeof lat !== 'number' || typeof lng !== 'number' || !(Math.abs(lat) <= 90) || !(Math.abs(lng) <= 180)) return undefined;
  const p: GeoPoint = { lat, lng };
  if (name) p.name = [...name].length > 500 ? [...name].slice(0, 500).join('') : name;
  if (address) p.address = [...address].length > 1000 ? [...address].slice(0, 1000).join('') : address;
  return p;
}

export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : typeof v === 'number' ? String(v) : undefined);
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
