import { DynamicModule, Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ADMIN_KEY, ApiKeyGuard } from './api-key.guard';
import { AuditService } from './audit.service';
import { AuthAdminController } from './auth-admin.controller';
import { SecretBox } from './secret-box';

export interface AuthModuleOptions {
  /** Mount /tenants, /tenants/:id/keys and /audit. */
  adminApi?: boolean;
  /** Defaults to ELO_ADMIN_KEY / ELO_ENCRYPTION_KEYS from the environment. */
  adminKey?: string;
  secretBox?: SecretBox;
}

/** The API-key guard on every route, SecretBox for secrets at rest, the audit log. */
@Global()
@Module({})
export class AuthModule {
  static forRoot(o: AuthModuleOptions = {}): DynamicModule {
    return {
      module: AuthModule,
      controllers: o.adminApi ? [AuthAdminController] : [],
      providers: [
        { provide: ADMIN_KEY, useFactory: () => o.adminKey ?? process.env.ELO_ADMIN_KEY ?? '' },
        { provide: SecretBox, useFactory: () => o.secretBox ?? SecretBox.fromEnv() },
        AuditService,
        { provide: APP_GUARD, useClass: ApiKeyGuard },
      ],
      exports: [SecretBox, AuditService],
    };
  }
}
