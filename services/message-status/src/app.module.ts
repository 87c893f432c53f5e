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
import type { PendingExpiry } from './tracking/pending-sweeper.service';
import { TrackingModule } from './tracking/tracking.module';

export const SERVICE = 'message-status';
export const SCHEMA = 'message_status';

/**
 * The bus consumer settings of this service (BUS_PREFETCH, BUS_BATCH_SIZE and BUS_CONCURRENCY override
 * them). Two batches in flight: while one waits for PostgreSQL, the other is worked on. That is safe
 * because a batch locks every message it touches in one ordered statement (StatusConsumer,
 * TrackingService.applyBatch), so batches in flight, on one replica or several, never deadlock
 * (test/replicas.integration-spec.ts). A batch costs a few statements whatever its size: 1,000 a batch
 * cost PostgreSQL about 10% less CPU per status than 500, for the same throughput (bench, same runs).
 * Against the former one batch of 500 at a time with one handler per type: 1.4× the statuses a second
 * and about half the PostgreSQL CPU per status.
 */
export const BUS_TUNING = { concurrency: 2, batchSize: 1_000, prefetch: 3_000 };

/** How long statuses wait for their message, and how often the expired ones go (from the config). */
export function pendingExpiry(config: Pick<MessageStatusConfig, 'PENDING_STATUS_MAX_AGE_MINUTES' | 'PENDING_STATUS_CLEANUP_INTERVAL_MS'>): PendingExpiry {
  return { maxAgeMs: config.PENDING_STATUS_MAX_AGE_MINUTES * 60_000, intervalMs: config.PENDING_STATUS_CLEANUP_INTERVAL_MS };
}

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
          messaging: BUS_TUNING,
        }),
        LiveModule.forRoot({ databaseUrl: config.DATABASE_URL }),
        TrackingModule.register(pendingExpiry(config)),
        ApiModule,
        DashboardModule,
      ],
    };
  }
}
