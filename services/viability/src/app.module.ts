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
      imports: [EloServiceModule.forRoot({ service: SERVICE, schema: SCHEMA, config, entities: [], migrations }), ViabilityModule, SyncModule],
    };
  }
}
