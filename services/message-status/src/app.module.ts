import { DynamicModule, Module } from '@nestjs/common';
import { EloServiceModule } from '@elo/platform';
import { ApiModule } from './api/api.module';
import { MessageStatusConfig } from './config/message-status.config';
import { DashboardModule } from './dashboard/dashboard.module';
import { migrations } from './database/migrations';
import { LiveModule } from './live/live.module';
import { IntegrationFailureEntity } from './tracking/integration-failure.entity';
import { IntegrationSuccessEntity } from './tracking/integration-success.entity';
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
 * (test/replicas.integration-spec.ts). A batch costs a few statements whatever its size. The producers'
 * relays send a backlog as batch messages of up to 50 events, so 100 messages in hand are up to 5,000
 * events, enough for two batches of 2,000 and the next one; at the former 3,000 messages (tuned for one event
 * a message) the service held up to 150,000 events and spent a fifth of its time collecting garbage
 * (bench, 4 December: 10,295 statuses/s at 100 against 9,694 at 300 and about 8,500 at 3,000; 2,000 a
 * batch against 1,000: 10,892 against 10,295, noisy).
 */
export const BUS_TUNING = { concurrency: 2, batchSize: 2_000, prefetch: 100 };

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
          entities: [MessageEntity, MessageEventEntity, PendingStatusEntity, IntegrationFailureEntity, IntegrationSuccessEntity],
          migrations,
          messaging: BUS_TUNING,
          // Indexed for the sweeper by RetentionIndexes1766500000000.
          retention: [
            { table: `"${SCHEMA}".messages`, column: 'created_at', days: config.MESSAGE_RETENTION_DAYS },
            { table: `"${SCHEMA}".message_events`, column: 'received_at', days: config.MESSAGE_RETENTION_DAYS },
            { table: `"${SCHEMA}".integration_failures`, column: 'failed_at', days: config.MESSAGE_RETENTION_DAYS },
            // Indexed by IntegrationSuccesses1767100000000; a success only resolves an older failure, deleted no later.
            { table: `"${SCHEMA}".integration_successes`, column: 'succeeded_at', days: config.MESSAGE_RETENTION_DAYS },
          ],
        }),
        LiveModule.forRoot({ databaseUrl: config.DATABASE_URL }),
        TrackingModule.register(pendingExpiry(config)),
        ApiModule,
        DashboardModule,
      ],
    };
  }
}
