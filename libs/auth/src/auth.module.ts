import { DynamicModule, Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ADMIN_KEY, ApiKeyGuard, KEY_CACHE_MS } from './api-key.guard';
import { AuditService } from './audit.service';
import { AUTH_AUDIT_SERVICE, AuthAdminController } from './auth-admin.controller';
import { AuthMeController } from './auth-me.controller';
import { SecretBox } from './secret-box';

export interface AuthModuleOptions {
  /** Mount POST/GET /tenants, /tenants/:id/keys (create, list, rotate, revoke) and GET /audit. */
  adminApi?: boolean;
  /** The bootstrap admin key; defaults to ELO_ADMIN_KEY. Ignored when shorter than 32 characters. */
  adminKey?: string;
  /** Defaults to SecretBox.fromEnv() (ELO_ENCRYPTION_KEYS, ELO_ENCRYPTION_ACTIVE_KEY). */
  secretBox?: SecretBox;
  /** Service name on the admin API's audit rows (default `auth`). */
  service?: string;
  /** How long a replica reuses a looked-up key (ms, default DEFAULT_KEY_CACHE_MS; 0 looks it up on every request). */
  keyCacheMs?: number;
}

/**
 * ApiKeyGuard on every route (APP_GUARD), GET /auth/me (the calling key and its permissions), SecretBox
 * for secrets at rest, AuditService, and optionally the admin API. Needs a TypeORM DataSource in the app (libs/persistence provides it globally) and the
 * `auth` schema migrated (authMigrations).
 */
@Global()
@Module({})
export class AuthModule {
  static forRoot(o: AuthModuleOptions = {}): DynamicModule {
    return {
      module: AuthModule,
      controllers: o.adminApi ? [AuthMeController, AuthAdminController] : [AuthMeController],
      providers: [
        { provide: ADMIN_KEY, useFactory: () => o.adminKey ?? process.env.ELO_ADMIN_KEY ?? '' },
        { provide: KEY_CACHE_MS, useValue: o.keyCacheMs },
        { provide: SecretBox, useFactory: () => o.secretBox ?? SecretBox.fromEnv() },
        { provide: AUTH_AUDIT_SERVICE, useValue: o.service ?? 'auth' },
        AuditService,
        ApiKeyGuard,
        { provide: APP_GUARD, useExisting: ApiKeyGuard },
      ],
      exports: [SecretBox, AuditService, ApiKeyGuard],
    };
  }
}
