import { DynamicModule, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { BusConnection, MessagingModule } from '@elo/messaging';
import { PersistenceModule } from '@elo/persistence';
import type { INestApplicationContext } from '@nestjs/common';
import { MessageQueryService } from '../src/api/message-query.service';
import { LiveModule } from '../src/live/live.module';
import { migrations } from '../src/database/migrations';
import { TrackingModule } from '../src/tracking/tracking.module';

/**
 * The bus side of message-status without HTTP: persistence, messaging and the tracking consumers with
 * the same settings as the service (AppModule), plus the read service to look at the results.
 */
@Module({})
export class TrackingCoreModule {
  static register(databaseUrl: string, amqpUrl: string): DynamicModule {
    return {
      module: TrackingCoreModule,
      imports: [
        PersistenceModule.forRoot({ url: databaseUrl, schema: 'message_status', entities: [], migrations }),
        MessagingModule.forRoot({
          service: 'message-status',
          schema: 'message_status',
          amqpUrl,
          databaseUrl,
          concurrency: 1,
          batchSize: 500,
          prefetch: 2_000,
          retryDelaysMs: [200, 400],
        }),
        TrackingModule,
        LiveModule.forRoot({ databaseUrl }),
      ],
      providers: [MessageQueryService],
    };
  }
}

export async function startTrackingCore(databaseUrl: string, amqpUrl: string): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(TrackingCoreModule.register(databaseUrl, amqpUrl), { logger: false });
  app.enableShutdownHooks();
  await app.init();
  await app.get(BusConnection).waitReady(15_000);
  return app;
}
