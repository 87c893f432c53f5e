export type InventoryKind = 'boxes' | 'poles';
const STATUSES = ['in_project', 'not_deployed', 'deployed', 'certified'] as const;

export interface InventoryRow {
  line: number;
  externalId: string;
  name: string;
  lat: number;
  lng: number;
  status?: (typeof STATUSES)[number];
  portCapacity?: number;
  portsInUse?: number;
  pole?: string | null;
}

type Raw = Record<string, unknown>;

/** PostgreSQL's int4, the type of the port columns. */
const MAX_PORTS = 2_147_483_647;

/**
 * PostgreSQL text cannot hold U+0000: a NUL in an id or a name is refused as the row's error (an
 * identifier silently changed would not match the network's own records; webhook-dispatcher refuses
 * NUL in XML the same way).
 */
const hasNul = (...values: Array<string | undefined>) => values.some((v) => v !== undefined && v.includes('\u0000'));

/** A text or a number (what a CSV cell or a GeoJSON property holding an id or a name may be); anything else is refused, never turned into "[object Object]". */
const scalar = (v: unknown): v is string | number => typeof v === 'string' || typeof v === 'number';

const pick = (r: Raw, ...names: string[]) => {
  for (const n of names) if (r[n] !== undefined && r[n] !== null && r[n] !== '') return r[n];
  return undefined;
};

/**
 * A number as sent: a number, or text in decimal notation (`-25.4284`, `16`). Number() alone reads
 * `0x10` as 16, `1e1` as 10, ` ` as 0 and `Infinity`: no spreadsheet writes a coordinate or a port
 * count so, and such text is refused rather than read as something the network does not say.
 */
const decimal = (v: unknown, comma = false): number => {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return NaN;
  const text = v.trim();
  if (/^[-+]?(\d+(\.\d*)?|\.\d+)$/.test(text)) return Number(text);
  return comma && /^[-+]?\d+,\d+$/.test(text) ? Number(text.replace(',', '.')) : NaN;
};

/**
 * A coordinate as sent: a number, or text in either decimal notation. Spreadsheets set to Portuguese
 * (as most of Elo's users' are) write `-25,4284`; that text cannot mean anything else, so it is read
 * as -25.4284 rather than refused. Anything but a number or such text is not a coordinate (Number()
 * reads null, false, blank text and [x] as 0 or x: a feature with no position would land at 0,0).
 */
const coordinate = (v: unknown): number => decimal(v, true);

/** The external id a record names, as toRow reads it (undefined when it names none). */
export const externalIdOf = (r: Raw): unknown => pick(r, 'external_id', 'externalId', 'id');

/** A GeoJSON feature's properties, with the feature's own id as the external id when they name none. */
export function featureProperties(f: { properties?: Raw | null; id?: unknown }): Raw {
  return { ...(f.properties ?? {}), ...(f.id !== undefined && !f.properties?.external_id ? { external_id: f.id } : {}) };
}

/** Validates one record; returns the row or the reason it is refused. */
export function toRow(kind: InventoryKind, r: Raw, line: number, lat: unknown, lng: unknown): InventoryRow | string {
  const externalId = externalIdOf(r);
  if (externalId === undefined || String(externalId).length > 200) return 'external_id is required (at most 200 characters)';
  const rawName = pick(r, 'name');
  if (!scalar(externalId) || (rawName !== undefined && !scalar(rawName))) return 'external_id and name must be text or a number';
  const name = String(rawName ?? externalId);
  const la = coordinate(lat);
  const lo = coordinate(lng);
  if (lat === undefined || lat === '' || !Number.isFinite(la) || la < -90 || la > 90) return 'lat must be a number between -90 and 90';
  if (lng === undefined || lng === '' || !Number.isFinite(lo) || lo < -180 || lo > 180) return 'lng must be a number between -180 and 180';
  if (hasNul(String(externalId), name)) return 'external_id and name must not contain NUL characters (U+0000)';
  const row: InventoryRow = { line, externalId: String(externalId), name: name.slice(0, 300), lat: la, lng: lo };
  if (kind === 'poles') return row;
  const status = String(pick(r, 'status') ?? '');
  if (!(STATUSES as readonly string[]).includes(status)) return `status must be one of ${STATUSES.join(', ')}`;
  const rawCap = pick(r, 'port_capacity', 'portCapacity');
  const rawUsed = pick(r, 'ports_in_use', 'portsInUse') ?? 0;
  const cap = decimal(rawCap);
  const used = decimal(rawUsed);
  if (!Number.isInteger(cap) || cap < 0 || cap > MAX_PORTS) return `port_capacity must be a whole number between 0 and ${MAX_PORTS}`;
  if (!Number.isInteger(used) || used < 0 || used > cap) return 'ports_in_use must be a whole number between 0 and port_capacity';
  const pole = pick(r, 'pole_external_id', 'pole');
  if (pole !== undefined && !scalar(pole)) return 'pole_external_id must be text or a number';
  if (pole !== undefined && hasNul(String(pole))) return 'pole_external_id must not contain NUL characters (U+0000)';
  return { ...row, status: status as InventoryRow['status'], portCapacity: cap, portsInUse: used, pole: pole === undefined ? null : String(pole) };
}

/** One GeoJSON Point feature (its position is its "line"); the row or the reason it is refused. */
export function featureToRow(kind: InventoryKind, f: unknown, line: number): InventoryRow | string {
  const feature = f as { geometry?: { type?: string; coordinates?: unknown[] }; properties?: Raw; id?: unknown } | null;
  if (feature?.geometry?.type !== 'Point' || !Array.isArray(feature.geometry.coordinates)) return 'geometry must be a Point';
  const [lng, lat] = feature.geometry.coordinates;
  return toRow(kind, featureProperties(feature), line, lat, lng);
}
