import { AuthInit1763700000000 } from './1763700000000-AuthInit';

/** Migrations of the shared `auth` schema (tenants, API keys, audit log), run at every service's boot. */
export const authMigrations = [AuthInit1763700000000];
