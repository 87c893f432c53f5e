import { DynamicModule, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { BusConnection, MessagingModule } from '@elo/messaging';
import { PersistenceModule } from '@elo/persistence';
import type { INestApplicationContext } from '@nestjs/common';
import { MessageQueryService } from '../src/api/message-query.service';
import { BUS_TUNING, pendingExpiry } from '../src/app.module';
import { MessageStatusConfig } from '../src/config/message-status.config';
import { LiveModule } from '../src/live/live.module';
import { migrations } from '../src/database/migrations';
import type { PendingExpiry } from '../src/tracking/pending-sweeper.service';
import { TrackingModule } from '../src/tracking/tracking.module';

export interface TrackingCoreOptions {
  /** Bus settings to try instead of the service's (the benchmark passes BUS_* from its environment). */
  bus?: Partial<typeof BUS_TUNING>;
  /** Instead of the config's defaults. */
  pendingExpiry?: Partial<PendingExpiry>;
}

/**
 * The bus side of message-status without HTTP: persistence, messaging and the tracking consumers with
 * the same settings as the service (AppModule), plus the read service to look at the results.
 */
@Module({})
export class TrackingCoreModule {
  static register(databaseUrl: string, amqpUrl: string, opts: TrackingCoreOptions = {}): DynamicModule {
    return {
      module: TrackingCoreModule,
      imports: [
        PersistenceModule.forRoot({ url: databaseUrl, schema: 'message_status', entities: [], migrations }),
        MessagingModule.forRoot({
          service: 'message-status',
          schema: 'message_status',
          amqpUrl,
          databaseUrl,
          ...BUS_TUNING,
          ...opts.bus,
          retryDelaysMs: [200, 400],
        }),
        TrackingModule.register({ ...pendingExpiry(new MessageStatusConfig()), ...opts.pendingExpiry }),
        LiveModule.forRoot({ databaseUrl }),
      ],
      providers: [MessageQueryService],
    };
  }
}

export async function startTrackingCore(databaseUrl: string, amqpUrl: string, opts: TrackingCoreOptions = {}): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(TrackingCoreModule.register(databaseUrl, amqpUrl, opts), { logger: false });
  app.enableShutdownHooks();
  await app.init();
  await app.get(BusConnection).waitReady(15_000);
  return app;
}
