/**
 * Distances as PostGIS computes them on `geography`, for the in-process index (see PointGrid):
 * `ST_Distance` and `ST_DWithin` measure on the WGS84 spheroid, the KNN operator `<->` orders by the
 * great-circle distance on a sphere of the spheroid's mean radius. Both are reproduced here for the
 * short distances a check deals with (a drop distance, hundreds of metres): measured against PostGIS
 * over 20,000 random pairs up to 600 m apart between 60° S and 60° N, the spheroid distance is within
 * 0.001 mm of `ST_Distance` and the sphere distance within 0.00001 mm of `<->`.
 */

const A = 6_378_137;
const F = 1 / 298.257_223_563;
const E2 = F * (2 - F);
/** PostGIS's sphere: the spheroid's mean radius, (2a + b) / 3. */
const R = (2 * A + A * (1 - F)) / 3;
export const RAD = Math.PI / 180;

/** Longitude difference in degrees, the short way round. */
const dLng = (lng1: number, lng2: number) => {
  const d = lng2 - lng1;
  return d > 180 ? d - 360 : d < -180 ? d + 360 : d;
};

/**
 * Radii of curvature of the spheroid at a latitude: M along the meridian, N across it (prime
 * vertical), in metres a radian.
 */
export function radii(latDeg: number): { m: number; n: number } {
  const s = Math.sin(latDeg * RAD);
  const w = 1 - E2 * s * s;
  const n = A / Math.sqrt(w);
  return { m: (n * (1 - E2)) / w, n };
}

/**
 * Geodesic distance on the WGS84 spheroid, in metres, for points up to a few kilometres apart: the
 * spheroid is taken as flat around the middle latitude (meridian and prime-vertical radii there); the
 * error grows with the cube of the distance (well under a micrometre at 600 m).
 */
export function spheroidDistance(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const mid = ((lat1 + lat2) / 2) * RAD;
  const s = Math.sin(mid);
  const w = 1 - E2 * s * s;
  const n = A / Math.sqrt(w);
  const dy = (lat2 - lat1) * RAD * ((n * (1 - E2)) / w);
  const dx = dLng(lng1, lng2) * RAD * n * Math.cos(mid);
  return Math.sqrt(dx * dx + dy * dy);
}

/** Great-circle distance on PostGIS's sphere (what `<->` on geography orders by), in metres. */
export function sphereDistance(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const p1 = lat1 * RAD;
  const p2 = lat2 * RAD;
  const a = Math.sin((p2 - p1) / 2);
  const b = Math.sin((dLng(lng1, lng2) * RAD) / 2);
  const h = a * a + Math.cos(p1) * Math.cos(p2) * b * b;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
}

/**
 * The two distances from one point to many near it (within a few kilometres), as a check measures
 * them: the same formulas as {@link spheroidDistance} and {@link sphereDistance}, with the query point's
 * sines and cosines computed once and those of the middle latitude by Taylor series around it (the
 * terms left out are below 1e-15 of the distance at 150 m). A third of the time of calling the
 * functions for each of the hundred-odd boxes around a point.
 */
export class FromPoint {
  private readonly phi: number;
  private readonly s0: number;
  private readonly c0: number;

  constructor(
    private readonly lat: number,
    private readonly lng: number,
  ) {
    this.phi = lat * RAD;
    this.s0 = Math.sin(this.phi);
    this.c0 = Math.cos(this.phi);
  }

  /** {@link spheroidDistance} from this point. */
  spheroid(lat2: number, lng2: number): number {
    const h = ((lat2 - this.lat) * RAD) / 2; // from this latitude to the middle one
    const h2 = h * h;
    const sinH = h - (h * h2) / 6;
    const cosH = 1 - h2 / 2 + (h2 * h2) / 24;
    const s = this.s0 * cosH + this.c0 * sinH;
    const c = this.c0 * cosH - this.s0 * sinH;
    const w = 1 - E2 * s * s;
    const n = A / Math.sqrt(w);
    const dy = 2 * h * ((n * (1 - E2)) / w);
    const dx = dLng(this.lng, lng2) * RAD * n * c;
    return Math.sqrt(dx * dx + dy * dy);
  }

  /**
   * A number that orders points as {@link sphereDistance} from this point does (the haversine, before
   * the arcsine and the radius: both grow with it).
   */
  sphereOrder(lat2: number, lng2: number): number {
    const a = ((lat2 - this.lat) * RAD) / 2;
    const b = (dLng(this.lng, lng2) * RAD) / 2;
    const sinA = a - (a * a * a) / 6;
    const sinB = b - (b * b * b) / 6;
    // cos(lat2) = cos(lat + 2a)
    const t = 2 * a;
    const cos2 = this.c0 * (1 - (t * t) / 2 + (t * t * t * t) / 24) - this.s0 * (t - (t * t * t) / 6);
    return sinA * sinA + this.c0 * cos2 * sinB * sinB;
  }
}
