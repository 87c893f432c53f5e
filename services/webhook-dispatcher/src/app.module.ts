import { DynamicModule, Module } from '@nestjs/common';
import { EloServiceModule } from '@elo/platform';
import { WebhookDispatcherConfig } from './config/webhook-dispatcher.config';
import { migrations } from './database/migrations';

export const SERVICE = 'webhook-dispatcher';
export const SCHEMA = 'dispatcher';

@Module({})
export class AppModule {
  static register(config: WebhookDispatcherConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [EloServiceModule.forRoot({ service: SERVICE, schema: SCHEMA, config, entities: [], migrations })],
    };
  }
}
