import { DynamicModule, Module } from '@nestjs/common';
import { EloServiceModule } from '@elo/platform';
import { ViabilityConfig } from './config/viability.config';
import { migrations } from './database/migrations';
import { SyncModule } from './sync/sync.module';
import { ViabilityModule } from './viability.module';

export const SERVICE = 'viability';
export const SCHEMA = 'viability';

@Module({})
export class AppModule {
  static register(config: ViabilityConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [EloServiceModule.forRoot({
        service: SERVICE, schema: SCHEMA, config, entities: [], migrations,
        retention: [{ table: 'viability.checks', column: 'checked_at', days: config.CHECK_RETENTION_DAYS }],
      }), ViabilityModule, SyncModule],
    };
  }
}
