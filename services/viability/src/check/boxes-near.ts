/** What a check finds near a point, from PostGIS or from the in-process index (see TenantInventory). */

export type BoxStatus = 'in_project' | 'not_deployed' | 'deployed' | 'certified';

export interface BoxInRange {
  id: string;
  externalId: string;
  name: string;
  status: BoxStatus;
  freePorts: number;
  distanceMeters: number;
  pole?: string | null;
  refusedBecause?: 'full' | 'in_project' | 'not_deployed';
  /**
   * Pole mode, the chosen box only: metres from its pole to the box (the drop, compared with the drop
   * distance); `distanceMeters` is then, as everywhere else, from the customer's point to the box.
   */
  dropMeters?: number;
  /** Where the box stands (a map of the boxes around the point). */
  lat: number;
  lng: number;
}

/** Boxes in range listed in an answer (nearest first). */
export const IN_RANGE_LIMIT = 50;
/** Eligible boxes looked for behind a full list of refused ones. */
export const MORE_LIMIT = 10;
/** Poles looked at in pole mode (and, when none of them has an eligible box, the nearest one behind them that has one). */
export const POLES_LIMIT = 10;

/** A pole near the point (pole mode), with the nearest eligible box within the drop distance of it. */
export interface NearPole {
  id: string;
  externalId: string;
  name: string;
  /** metres from the point, unrounded */
  distance: number;
  /** its distanceMeters is from the pole (the answer measures it from the point too, see answer) */
  box?: BoxInRange;
}

/**
 * For one point: `inRange` the boxes within the drop distance, nearest first, at most
 * {@link IN_RANGE_LIMIT}; `more` the eligible boxes behind them (nearest first, at most
 * {@link MORE_LIMIT}) when the list is full and none in it is eligible; `poles` (pole mode) the poles
 * within the drop distance, nearest first, at most {@link POLES_LIMIT} (plus, when none of those has an
 * eligible box, the nearest pole behind them that has one). "Nearest first" is PostGIS's
 * KNN order (`<->`, the sphere); distances are on the spheroid (`ST_Distance`).
 */
export interface BoxesNear {
  inRange: BoxInRange[];
  more: BoxInRange[];
  poles: NearPole[];
}

export function boxInRange(
  id: string,
  externalId: string,
  name: string,
  status: BoxStatus,
  freePorts: number,
  distance: number,
  pole: string | null,
  lat: number,
  lng: number,
): BoxInRange {
  const b: BoxInRange = { id, externalId, name, status, freePorts: Math.max(0, freePorts), distanceMeters: Math.round(distance * 10) / 10, pole, lat, lng };
  if (status === 'in_project' || status === 'not_deployed') b.refusedBecause = status;
  else if (b.freePorts < 1) b.refusedBecause = 'full';
  return b;
}
