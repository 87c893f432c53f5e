import { radii, RAD } from './geodesy';

/** Grid cell side, in degrees (about 110 m of latitude): a 150 m drop distance spans 3 to 4 cells a side. */
const CELL = 0.001;
const COLUMNS = 360 / CELL;
/** Past this latitude, or across the antimeridian, the grid does not answer (the caller asks PostGIS). */
const MAX_LAT = 89;

const row = (lat: number) => Math.floor((lat + 90) / CELL);
const column = (lng: number) => Math.floor((lng + 180) / CELL);

/** First position in `keys` (sorted) holding a value not below `key`. */
function lowerBound(keys: Float64Array, key: number): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A static spatial index of points (latitude, longitude in degrees) for "every point within r metres",
 * built once from typed arrays: the points are bucketed in a grid of {@link CELL}° cells, the non-empty
 * cells kept sorted by (row, column) with where their points start in `order`. A query walks the rows
 * its bounding box spans, one binary search a row (a row's cells are adjacent in the sorted keys). About
 * 12 bytes a point on top of the coordinates; a million points build in well under a second.
 */
export class PointGrid {
  /** Point numbers (positions in lat/lng), grouped by cell. */
  private readonly order: Uint32Array;
  /** Non-empty cells, `row * COLUMNS + column`, ascending. */
  private readonly keys: Float64Array;
  /** Where each cell's points start in `order` (one more entry than `keys`). */
  private readonly starts: Uint32Array;

  constructor(
    readonly lat: Float64Array,
    readonly lng: Float64Array,
  ) {
    const n = lat.length;
    const cellOf = new Float64Array(n);
    for (let i = 0; i < n; i++) cellOf[i] = row(lat[i]!) * COLUMNS + column(lng[i]!);
    const sorted = cellOf.slice().sort();
    let cells = 0;
    for (let i = 0; i < n; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) sorted[cells++] = sorted[i]!;
    this.keys = sorted.slice(0, cells);
    // Counting sort of the points by cell.
    const rank = new Uint32Array(n);
    this.starts = new Uint32Array(cells + 1);
    for (let i = 0; i < n; i++) {
      rank[i] = lowerBound(this.keys, cellOf[i]!);
      this.starts[rank[i]! + 1]!++;
    }
    for (let c = 0; c < cells; c++) this.starts[c + 1]! += this.starts[c]!;
    const next = this.starts.slice(0, cells);
    this.order = new Uint32Array(n);
    for (let i = 0; i < n; i++) this.order[next[rank[i]!]!++] = i;
  }

  get size(): number {
    return this.lat.length;
  }

  /** Bytes of the grid itself (the coordinates are the caller's). */
  get bytes(): number {
    return this.order.byteLength + this.keys.byteLength + this.starts.byteLength;
  }

  /**
   * Calls `visit` with every point in the box around (lat, lng) that holds the circle of `meters`
   * (a superset of the points within that distance: the caller measures). False when the grid cannot
   * answer here (near a pole or across the antimeridian).
   */
  around(lat: number, lng: number, meters: number, visit: (i: number) => void): boolean {
    const { m, n } = radii(lat);
    // A little more than the circle: the radii change across it, and floating point rounds.
    const dLat = (meters * 1.001) / m / RAD + 1e-9;
    const dLng = (meters * 1.001) / (n * Math.cos(Math.min(MAX_LAT, Math.abs(lat) + dLat) * RAD)) / RAD + 1e-9;
    if (Math.abs(lat) + dLat > MAX_LAT || lng - dLng < -180 || lng + dLng >= 180) return false;
    const [c0, c1] = [column(lng - dLng), column(lng + dLng)];
    for (let r = row(lat - dLat), last = row(lat + dLat); r <= last; r++) {
      const hi = r * COLUMNS + c1;
      for (let k = lowerBound(this.keys, r * COLUMNS + c0); k < this.keys.length && this.keys[k]! <= hi; k++) {
        for (let j = this.starts[k]!, end = this.starts[k + 1]!; j < end; j++) visit(this.order[j]!);
      }
    }
    return true;
  }
}
