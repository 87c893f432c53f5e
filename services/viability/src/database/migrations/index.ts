import { Init1763800000000 } from './1763800000000-Init';

/** Every migration of the `viability` schema, in order. */
export const migrations = [Init1763800000000];
