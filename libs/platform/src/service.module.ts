import { DynamicModule, Inject, Injectable, Module, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import { AuthModule, SealedColumns, SecretBox } from '@elo/auth';
import { egressFromEnv, HttpEgress } from '@elo/http-egress';
import { BusReadinessCheck, MessagingModule, type MessagingModuleOptions } from '@elo/messaging';
import { ObservabilityModule } from '@elo/observability';
import { DatabaseReadinessCheck, PersistenceModule } from '@elo/persistence';
import type { BaseServiceConfig } from './config';
import { ParkedEventsController } from './parked-events.controller';
import { RETENTION, RetentionSweeper, type RetentionRule } from './retention';

export const SERVICE_CONFIG = Symbol('SERVICE_CONFIG');

/** Closes outbound keep-alive connections when the app stops. */
@Injectable()
class EgressCloser implements OnApplicationShutdown {
  constructor(@Inject(HttpEgress) private readonly egress: HttpEgress) {}
  async onApplicationShutdown(): Promise<void> {
    await this.egress.close();
  }
}

export interface EloServiceOptions<C extends BaseServiceConfig> {
  service: string;
  schema: string;
  config: C;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities: Function[];
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations: Function[];
  messaging?: Partial<Omit<MessagingModuleOptions, 'service' | 'schema' | 'amqpUrl' | 'databaseUrl'>>;
  /** Tables whose rows are deleted once past their retention (RetentionSweeper). */
  retention?: RetentionRule[];
}

/**
 * Everything a service stands on, wired once: its schema (migrations at boot), the bus (topology,
 * outbox relay, consumers), health and metrics, API keys, outbound HTTP. A service's AppModule imports
 * this plus its feature modules.
 */
@Module({})
export class EloServiceModule {
  static forRoot<C extends BaseServiceConfig>(o: EloServiceOptions<C>): DynamicModule {
    const configProvider: Provider = { provide: SERVICE_CONFIG, useValue: o.config };
    const egress: Provider = {
      provide: HttpEgress,
      useFactory: () => egressFromEnv(o.config),
    };
    return {
      module: EloServiceModule,
      global: true,
      imports: [
        PersistenceModule.forRoot({
          url: o.config.DATABASE_URL,
          schema: o.schema,
          entities: o.entities,
          migrations: o.migrations,
        }),
        MessagingModule.forRoot({
          service: o.service,
          schema: o.schema,
          amqpUrl: o.config.AMQP_URL,
          databaseUrl: o.config.DATABASE_URL,
          ...o.messaging,
          // Operators tune these per deployment; the service's own choice is the default.
          ...(o.config.BUS_PREFETCH ? { prefetch: o.config.BUS_PREFETCH } : {}),
          ...(o.config.BUS_BATCH_SIZE ? { batchSize: o.config.BUS_BATCH_SIZE } : {}),
          ...(o.config.BUS_CONCURRENCY ? { concurrency: o.config.BUS_CONCURRENCY } : {}),
        }),
        ObservabilityModule.forRoot({ service: o.service, readinessTokens: [DatabaseReadinessCheck, BusReadinessCheck] }),
        AuthModule.forRoot({
          adminApi: true,
          adminKey: o.config.ELO_ADMIN_KEY,
          secretBox: SecretBox.fromEnv({
            ELO_ENCRYPTION_KEYS: o.config.ELO_ENCRYPTION_KEYS,
            ELO_ENCRYPTION_ACTIVE_KEY: o.config.ELO_ENCRYPTION_ACTIVE_KEY,
          }),
        }),
        // Re-seals registered SecretBox columns under the active key (after boot when needed; `<svc>:reencrypt`).
        SealedColumns.forRoot(),
      ],
      controllers: [ParkedEventsController],
      providers: [
        configProvider, egress, EgressCloser, RetentionSweeper,
        { provide: RETENTION, useValue: { rules: o.retention ?? [], intervalMs: o.config.RETENTION_INTERVAL_MS } },
      ],
      exports: [configProvider, egress],
    };
  }
}
