export { ADMIN_KEY, ApiKeyGuard } from './api-key.guard';
export { hashKey, newApiKey, parseApiKey, sameSecret } from './api-keys';
export { AuditService, maskSecrets, type AuditEntry } from './audit.service';
export { AuthAdminController } from './auth-admin.controller';
export { AuthModule, type AuthModuleOptions } from './auth.module';
export { CurrentPrincipal, PERMISSION_KEY, RequirePermission, tenantIdOf } from './decorators';
export { authMigrations } from './migrations';
export { ADMIN_PERMISSIONS, PERMISSIONS, type Permission, type Principal } from './permissions';
export { SecretBox } from './secret-box';
