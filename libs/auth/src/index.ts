/**
 * @elo/auth: tenants, API keys with permissions, the audit log, secrets at rest.
 *
 * - AuthModule.forRoot({ adminApi?, adminKey?, secretBox?, service? }) installs ApiKeyGuard globally.
 *   Every route needs `Authorization: Bearer <key>` (or `x-api-key`) and a @RequirePermission(...);
 *   routes marked Public() from @elo/observability are skipped. A valid key is reused for up to
 *   keyCacheMs; revoking or rotating it through the admin API reaches every replica at once (NOTIFY).
 * - GET /auth/me (any valid key): the key's tenant, id, name, prefix and permissions, never its secret.
 * - The bootstrap admin key (ELO_ADMIN_KEY) may only create tenants and manage keys (any tenant).
 * - SealedColumns.forFeature({ table, key?, columns: { column: (row) => aad } }) registers a feature's SecretBox
 *   columns; ReencryptionService re-seals them under the active key (background after boot when needed,
 *   `npx nx run <service>:reencrypt` on demand).
 * - authMigrations create and evolve the shared `auth` schema (run with schema `auth`, table auth.migrations).
 */
export { ADMIN_KEY, API_KEYS_CHANNEL, ApiKeyGuard, DEFAULT_KEY_CACHE_MS, KEY_CACHE_MS, MIN_ADMIN_KEY_LENGTH, presentedKey } from './api-key.guard';
export { hashKey, newApiKey, parseApiKey, sameHash } from './api-keys';
export { AuditService, maskSecrets, type AuditEntry, type AuditPage, type AuditRecord } from './audit.service';
export { AUTH_AUDIT_SERVICE, AuthAdminController } from './auth-admin.controller';
export { AuthMeController } from './auth-me.controller';
export { AuthModule, type AuthModuleOptions } from './auth.module';
export { ANY_API_KEY, AnyApiKey, CurrentPrincipal, PERMISSION_KEY, RequirePermission, tenantIdOf } from './decorators';
export {
  AuditQueryDto, CreatedKeyView, CreateKeyDto, CreateTenantDto, KeyView, MAX_ROTATION_GRACE_SECONDS, RotateKeyDto,
  TenantView, WhoAmIView,
} from './dto/auth-admin.dto';
export { authMigrations } from './migrations';
export { secretMasker } from './secret-masker';
export {
  ADMIN_PERMISSIONS, isPermission, PERMISSIONS, TENANT_PERMISSIONS, type Permission, type Principal,
} from './permissions';
export {
  REENCRYPTION_OPTIONS, ReencryptionService, SealedColumnRegistry, SealedColumns, type ReencryptionColumnReport,
  type ReencryptionOptions, type ReencryptionReport, type SealedAad, type SealedTable,
} from './reencryption';
export { SecretBox, SecretBoxError } from './secret-box';
