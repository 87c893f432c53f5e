/** Every permission an API key can carry. An endpoint names the one it needs with @RequirePermission. */
export const PERMISSIONS = [
  'tenants:manage',
  'keys:manage',
  'audit:read',
  'ops:manage',
  'channels:manage',
  'messages:send',
  'integrations:manage',
  'integrations:read',
  'telephony:manage',
  'telephony:call',
  'telephony:recordings',
  'viability:check',
  'viability:manage',
  'dashboard:read',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export function isPermission(x: unknown): x is Permission {
  return typeof x === 'string' && (PERMISSIONS as readonly string[]).includes(x);
}

/** What the bootstrap admin key may do: create tenants and their keys, never read tenant data. */
export const ADMIN_PERMISSIONS: readonly Permission[] = ['tenants:manage', 'keys:manage'];

/** Permissions a tenant key may carry (tenants:manage belongs to the bootstrap admin alone). */
export const TENANT_PERMISSIONS: readonly Permission[] = PERMISSIONS.filter((p) => p !== 'tenants:manage');

/** Who is calling: set on `request.principal` by ApiKeyGuard, read with @CurrentPrincipal(). */
export interface Principal {
  /** Undefined only for the bootstrap admin. */
  tenantId?: string;
  /** The API key's id, or `admin` for the bootstrap admin key. */
  keyId: string;
  permissions: readonly string[];
  isAdmin: boolean;
}
