/** Every permission an API key can carry. An endpoint names exactly one. */
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

/** What the bootstrap admin key may do: create tenants and their keys, never read tenant data. */
export const ADMIN_PERMISSIONS: readonly Permission[] = ['tenants:manage', 'keys:manage'];

export interface Principal {
  /** Undefined only for the bootstrap admin. */
  tenantId?: string;
  keyId: string;
  permissions: readonly string[];
  isAdmin: boolean;
}
