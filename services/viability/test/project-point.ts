import type { DataSource } from 'typeorm';

/**
 * The point `meters` from `from` toward `azimuthDeg` (degrees clockwise from north), computed by PostGIS
 * on the spheroid, as a user placing a box on a map would: the specs set boxes at exact distances with it.
 */
export async function projectPoint(ds: DataSource, from: { lat: number; lng: number }, meters: number, azimuthDeg: number): Promise<{ lat: number; lng: number }> {
  const [r] = await ds.query(
    `SELECT ST_Y(p::geometry) AS lat, ST_X(p::geometry) AS lng
       FROM (SELECT ST_Project(ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography, $3, radians($4)) AS p) x`,
    [from.lng, from.lat, meters, azimuthDeg],
  );
  return { lat: Number(r.lat), lng: Number(r.lng) };
}
