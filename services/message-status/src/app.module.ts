import { DynamicModule, Module } from '@nestjs/common';
import { EloServiceModule } from '@elo/platform';
import { ApiModule } from './api/api.module';
import { MessageStatusConfig } from './config/message-status.config';
import { DashboardModule } from './dashboard/dashboard.module';
import { migrations } from './database/migrations';
import { LiveModule } from './live/live.module';
import { IntegrationFailureEntity } from './tracking/integration-failure.entity';
import { MessageEventEntity } from './tracking/message-event.entity';
import { MessageEntity } from './tracking/message.entity';
import { PendingStatusEntity } from './tracking/pending-status.entity';
import { TrackingModule } from './tracking/tracking.module';

export const SERVICE = 'message-status';
export const SCHEMA = 'message_status';

@Module({})
export class AppModule {
  static register(config: MessageStatusConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        EloServiceModule.forRoot({
          service: SERVICE,
          schema: SCHEMA,
          config,
          entities: [MessageEntity, MessageEventEntity, PendingStatusEntity, IntegrationFailureEntity],
          migrations,
          // One batch in flight per replica: the three handlers of a batch lock message rows one after
          // the other, and two batches in flight could take them in opposite orders (deadlock).
          // Large batches keep throughput: a batch costs a few statements whatever its size.
          messaging: { concurrency: 1, batchSize: 500, prefetch: 2_000 },
        }),
        LiveModule.forRoot({ databaseUrl: config.DATABASE_URL }),
        TrackingModule,
        ApiModule,
        DashboardModule,
      ],
    };
  }
}
