import { boxInRange, IN_RANGE_LIMIT, MORE_LIMIT, POLES_LIMIT, type BoxesNear, type BoxInRange, type BoxStatus, type NearPole } from './boxes-near';
import { FromPoint } from './geodesy';
import { PointGrid } from './point-grid';

/** Box statuses by code (the index keeps one byte a box). */
export const STATUSES: readonly BoxStatus[] = ['in_project', 'not_deployed', 'deployed', 'certified'];
const DEPLOYED = 2;

/**
 * Points as PostgreSQL packs them, a few thousand at a time (see InventoryIndexes): one value a column
 * for the whole chunk instead of one a row, which the driver would turn into millions of strings.
 */
export interface PackedChunk {
  /** Points in the chunk. */
  n: number;
  /** The ids as text, 36 characters a point. */
  ids: string;
  /** Latitude and longitude a point, float8 big-endian. */
  coords: Buffer;
  /** The UTF-8 byte length of each text of each point, int4 big-endian; -1 for NULL. */
  lengths: Buffer;
  /** The texts, one after the other. */
  text: string;
}

/**
 * Metres a point may lie beyond the drop distance and still count as within it, here and in the check
 * statement (its ST_DWithin gets the drop distance plus this). A box placed at exactly the drop distance
 * (with ST_Project, as a user would) measures 150 m give or take a few nanometres of rounding, and the
 * last bits differ between this process's spheroid arithmetic and PostGIS's (ST_DWithin itself said
 * in or out of such boxes at random, while ST_Distance said 150): without a margin the answer flipped
 * between the statement and the index. With it both count such a box in. A micrometre (how closely the
 * two agree, see the README) is far below any real distance between a box and a customer.
 */
export const DROP_TOLERANCE_METERS = 1e-6;

/** Characters of a uuid as text. */
const UUID = 36;

/** UTF-16 code units of `s` from `from` that take `bytes` bytes in UTF-8. */
function unitsOf(s: string, from: number, bytes: number): number {
  let i = from;
  for (let b = 0; b < bytes; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) b += 1;
    else if (c < 0x800) b += 2;
    else if (c >= 0xd800 && c < 0xdc00) {
      b += 4; // a surrogate pair: one character, four bytes
      i++;
    } else b += 3;
  }
  return i - from;
}

/**
 * Points with ids and texts (external id, name, …), packed: every id in one string (36 characters
 * each), every text in another with their offsets, coordinates in typed arrays. An answer takes out
 * the few dozen it lists with substring, which stays inside the JavaScript engine (decoding them from
 * a Buffer crossed into C++ for each, twice the time). A million boxes take about 110 MB, a handful of
 * objects for the GC to walk instead of millions.
 */
class PackedPoints {
  readonly lat: Float64Array;
  readonly lng: Float64Array;
  private ids = '';
  private text = '';
  private idParts: string[] = [];
  private textParts: string[] = [];
  /** Text k of point i is text[at[t·i + k], at[t·i + k + 1]), t texts a point. */
  private readonly at: Uint32Array;
  /** Text k of point i is NULL (bit k). */
  private readonly nulls: Uint8Array;
  private count = 0;
  grid?: PointGrid;

  constructor(
    readonly size: number,
    private readonly texts: number,
  ) {
    this.lat = new Float64Array(size);
    this.lng = new Float64Array(size);
    this.at = new Uint32Array(texts * size + 1);
    this.nulls = new Uint8Array(size);
  }

  /** Appends a chunk; answers where its first point went. */
  append(c: PackedChunk): number {
    const first = this.count;
    if (first + c.n > this.size || c.ids.length !== UUID * c.n || c.coords.length !== 16 * c.n || c.lengths.length !== 4 * this.texts * c.n) {
      throw new Error('inventory chunk does not match its count');
    }
    this.idParts.push(c.ids);
    this.textParts.push(c.text);
    const start = this.at[this.texts * first]!;
    // Lengths come in UTF-8 bytes; offsets are in the string's UTF-16 units (the same when it is ASCII).
    const ascii = Buffer.byteLength(c.text, 'utf8') === c.text.length;
    let end = start;
    for (let j = 0; j < c.n; j++) {
      const i = first + j;
      this.lat[i] = c.coords.readDoubleBE(16 * j);
      this.lng[i] = c.coords.readDoubleBE(16 * j + 8);
      for (let k = 0; k < this.texts; k++) {
        const len = c.lengths.readInt32BE(4 * (this.texts * j + k));
        if (len < 0) this.nulls[i]! |= 1 << k;
        else end += ascii ? len : unitsOf(c.text, end - start, len);
        this.at[this.texts * i + k + 1] = end;
      }
    }
    if (end - start !== c.text.length) throw new Error('inventory chunk texts do not match their lengths');
    this.count += c.n;
    return first;
  }

  /** Joins the chunks and indexes the points; call once every point is in. */
  seal(): void {
    if (this.count !== this.size) throw new Error(`inventory read ${this.count} of ${this.size} points`);
    // Array join builds flat strings: substring then copies or slices, never walks a tree of pieces.
    this.ids = this.idParts.join('');
    this.text = this.textParts.join('');
    this.idParts = [];
    this.textParts = [];
    this.grid = new PointGrid(this.lat, this.lng);
  }

  id(i: number): string {
    return this.ids.substring(UUID * i, UUID * i + UUID);
  }

  /** Text k of point i (0 the external id, 1 the name). */
  textOf(i: number, k: number): string | null {
    if (this.nulls[i]! & (1 << k)) return null;
    return this.text.substring(this.at[this.texts * i + k]!, this.at[this.texts * i + k + 1]!);
  }

  get bytes(): number {
    // A string takes a byte a character while every character fits in one, else two.
    const chars = (s: string) => (/[\u0100-\uffff]/.test(s) ? 2 : 1) * s.length;
    return this.lat.byteLength * 2 + chars(this.ids) + chars(this.text) + this.at.byteLength + this.nulls.byteLength + (this.grid?.bytes ?? 0);
  }
}

/** A box's new status and ports, and where it stands (to find it); see TenantInventory.patch. */
export interface BoxPatch {
  id: string;
  lat: number;
  lng: number;
  status: BoxStatus;
  capacity: number;
  inUse: number;
}

interface Found {
  i: number;
  /** spheroid distance (what is reported and compared with the drop distance) */
  d: number;
  /** orders as the sphere distance does (the KNN order) */
  s: number;
}

/** Nearest first; at equal distances (points at one spot) by external id, as the check statement (points are read in that order). */
const nearestFirst = (a: Found, b: Found) => a.s - b.s || a.i - b.i;

/**
 * One tenant's boxes and poles as of one inventory version, held in the process: answers what the check
 * statement answers (see BoxesNear) in microseconds instead of a query. Built by InventoryIndexes from
 * a snapshot of the tables; never changed afterwards (a change of the inventory replaces it).
 */
export class TenantInventory {
  readonly boxes: PackedPoints;
  readonly poles: PackedPoints;
  private readonly status: Uint8Array;
  private readonly capacity: Int32Array;
  private readonly used: Int32Array;

  /** The tenant's inventory version this copy is at: the one it was read at, or its last patch's. */
  get version(): number {
    return this.at;
  }

  private at: number;

  constructor(version: number, boxes: number, poles: number) {
    this.at = version;
    // A box's texts: external id, name, its pole's external id; a pole's: external id, name.
    this.boxes = new PackedPoints(boxes, 3);
    this.poles = new PackedPoints(poles, 2);
    this.status = new Uint8Array(boxes);
    this.capacity = new Int32Array(boxes);
    this.used = new Int32Array(boxes);
  }

  /** Boxes, with `attrs`: int2 status (see STATUSES), int4 port capacity, int4 ports in use a box, big-endian. */
  addBoxes(c: PackedChunk & { attrs: Buffer }): void {
    if (c.attrs.length !== 10 * c.n) throw new Error('inventory chunk does not match its count');
    const first = this.boxes.append(c);
    for (let j = 0; j < c.n; j++) {
      this.status[first + j] = c.attrs.readInt16BE(10 * j);
      this.capacity[first + j] = c.attrs.readInt32BE(10 * j + 2);
      this.used[first + j] = c.attrs.readInt32BE(10 * j + 6);
    }
  }

  /**
   * Brings this copy to `version` by changing the status and ports of the boxes named (the change a
   * BoxPatches notification carries). Each box is found where it stands, through the grid. All or
   * nothing: false, and nothing changed, if one of them is not here (read the inventory again then).
   */
  patch(version: number, patches: readonly BoxPatch[]): boolean {
    const grid = this.boxes.grid;
    if (!grid) return false;
    const at: number[] = [];
    for (const p of patches) {
      let found = -1;
      const inGrid = grid.around(p.lat, p.lng, 1, (i) => {
        if (found < 0 && this.boxes.id(i) === p.id) found = i;
      });
      if (!inGrid || found < 0) return false;
      at.push(found);
    }
    patches.forEach((p, k) => {
      const i = at[k]!;
      this.status[i] = STATUSES.indexOf(p.status);
      this.capacity[i] = p.capacity;
      this.used[i] = p.inUse;
    });
    this.at = version;
    return true;
  }

  addPoles(c: PackedChunk): void {
    this.poles.append(c);
  }

  seal(): this {
    this.boxes.seal();
    this.poles.seal();
    return this;
  }

  /** Bytes held (typed arrays and buffers; the pole references' strings not counted). */
  get bytes(): number {
    return this.boxes.bytes + this.poles.bytes + this.status.byteLength + this.capacity.byteLength + this.used.byteLength;
  }

  private eligible(i: number): boolean {
    return this.status[i]! >= DEPLOYED && this.used[i]! < this.capacity[i]!;
  }

  private box(i: number, distance: number): BoxInRange {
    return boxInRange(
      this.boxes.id(i),
      this.boxes.textOf(i, 0)!,
      this.boxes.textOf(i, 1)!,
      STATUSES[this.status[i]!]!,
      this.capacity[i]! - this.used[i]!,
      distance,
      this.boxes.textOf(i, 2),
      this.boxes.lat[i]!,
      this.boxes.lng[i]!,
    );
  }

  /** Points of `points` within `meters` of (lat, lng), nearest first; undefined where the grid cannot answer. */
  private within(points: PackedPoints, lat: number, lng: number, meters: number, keep?: (i: number) => boolean): Found[] | undefined {
    const found: Found[] = [];
    const from = new FromPoint(lat, lng);
    const limit = meters + DROP_TOLERANCE_METERS;
    const answered = points.grid!.around(lat, lng, meters, (i) => {
      if (keep && !keep(i)) return;
      const plat = points.lat[i]!;
      const plng = points.lng[i]!;
      const d = from.spheroid(plat, plng);
      if (d <= limit) found.push({ i, d, s: from.sphereOrder(plat, plng) });
    });
    return answered ? found.sort(nearestFirst) : undefined;
  }

  /** What the check statement answers for this point (see BoxesNear); undefined where the index cannot answer (PostGIS does). */
  near(lat: number, lng: number, maxDropMeters: number, withPoles: boolean): BoxesNear | undefined {
    const found = this.within(this.boxes, lat, lng, maxDropMeters);
    if (!found) return undefined;
    const listed = found.slice(0, IN_RANGE_LIMIT);
    const inRange = listed.map((f) => this.box(f.i, f.d));
    const more: BoxInRange[] = [];
    if (listed.length === IN_RANGE_LIMIT && !listed.some((f) => this.eligible(f.i))) {
      for (let k = IN_RANGE_LIMIT; k < found.length && more.length < MORE_LIMIT; k++) if (this.eligible(found[k]!.i)) more.push(this.box(found[k]!.i, found[k]!.d));
    }
    const poles: NearPole[] = [];
    if (withPoles) {
      const near = this.within(this.poles, lat, lng, maxDropMeters);
      if (!near) return undefined;
      // The first POLES_LIMIT poles, each with its nearest eligible box; when none has one, the nearest
      // pole behind them that has one (as the check statement's far_pole).
      for (let k = 0; k < near.length; k++) {
        const p = near[k]!;
        const [plat, plng] = [this.poles.lat[p.i]!, this.poles.lng[p.i]!];
        const boxes = this.within(this.boxes, plat, plng, maxDropMeters, (i) => this.eligible(i));
        if (!boxes) return undefined;
        const b = boxes[0];
        if (k >= POLES_LIMIT && !b) continue;
        poles.push({
          id: this.poles.id(p.i), externalId: this.poles.textOf(p.i, 0)!, name: this.poles.textOf(p.i, 1)!, distance: p.d,
          ...(b ? { box: this.box(b.i, b.d) } : {}),
        });
        if (k >= POLES_LIMIT || (k === POLES_LIMIT - 1 && poles.some((x) => x.box))) break;
      }
    }
    return { inRange, more, poles };
  }
}
