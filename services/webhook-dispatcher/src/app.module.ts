import { DynamicModule, Module } from '@nestjs/common';
import { EloServiceModule } from '@elo/platform';
import { WebhookDispatcherConfig } from './config/webhook-dispatcher.config';
import { migrations } from './database/migrations';
import { DeliveriesModule } from './deliveries/deliveries.module';
import { IntegrationsModule } from './integrations/integrations.module';
import { SCHEMA, SERVICE } from './service-name';

export { SCHEMA, SERVICE };

@Module({})
export class AppModule {
  static register(config: WebhookDispatcherConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        EloServiceModule.forRoot({
          service: SERVICE,
          schema: SCHEMA,
          config,
          entities: [],
          migrations,
          messaging: { batchSize: 500, prefetch: 200, retiredBindings: ['#'] },
          retention: [{ table: '"dispatcher".attempts', column: 'created_at', days: config.ATTEMPT_RETENTION_DAYS }],
        }),
        IntegrationsModule,
        DeliveriesModule,
      ],
    };
  }
}
