import {
  BeforeApplicationShutdown, DynamicModule, Global, Inject, Injectable, Module, OnApplicationBootstrap,
} from '@nestjs/common';
import { DiscoveryModule, DiscoveryService, MetadataScanner } from '@nestjs/core';
import { createLogger, type ReadinessCheck } from '@elo/observability';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { BusConnection } from './connection';
import { ConsumerHost } from './consumer-host';
import { EVENT_HANDLER_METADATA, type EventHandlerMetadata } from './event-handler.decorator';
import { Outbox } from './outbox';
import { ParkedEvents } from './parked-events';
import { OutboxRelay } from './relay';
import { DEFAULT_RETRY_DELAYS_MS, declareTopology } from './topology';
import type { BatchHandler, SingleHandler } from './types';

export interface MessagingModuleOptions {
  /** Service name: names the queue `<service>`, the source `elo://<service>` and the inbox consumer. */
  service: string;
  /** The service's database schema (holds its outbox and inbox). */
  schema: string;
  amqpUrl: string;
  databaseUrl: string;
  /**
   * Per-consumer prefetch, in broker messages (default 200). A message carries one event or, when the
   * relay had a run of them, up to MAX_BATCH_EVENTS (wire.ts): up to 10,000 events in hand by default.
   */
  prefetch?: number;
  /** Events per transaction (default 500). */
  batchSize?: number;
  /** Batches in flight (default 2). */
  concurrency?: number;
  retryDelaysMs?: number[];
  /** Routing keys an earlier version bound the service queue to and this one no longer wants (see ServiceTopology). */
  retiredBindings?: string[];
  relayBatchSize?: number;
  /** Start the outbox relay (default true). */
  relay?: boolean;
}

const OPTIONS = Symbol('MESSAGING_OPTIONS');
const LOGGER = Symbol('MESSAGING_LOGGER');

@Injectable()
class MessagingLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    @Inject(OPTIONS) private readonly opts: MessagingModuleOptions,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly bus: BusConnection,
    private readonly relay: OutboxRelay,
    private readonly consumers: ConsumerHost,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    for (const wrapper of this.discovery.getProviders()) {
      const instance = wrapper.instance as Record<string, unknown> | undefined;
      if (!instance || typeof instance !== 'object') continue;
      const proto = Object.getPrototypeOf(instance) as object;
      for (const name of this.scanner.getAllMethodNames(proto)) {
        const method = instance[name] as (...args: unknown[]) => unknown;
        const meta = Reflect.getMetadata(EVENT_HANDLER_METADATA, method) as EventHandlerMetadata | undefined;
        if (!meta) continue;
        this.consumers.register({
          type: meta.type,
          batch: meta.batch ?? false,
          idempotent: meta.idempotent ?? false,
          ordered: meta.ordered ?? false,
          name: `${proto.constructor.name}.${name}`,
          fn: method.bind(instance) as SingleHandler | BatchHandler,
        });
      }
    }
    const retryDelaysMs = this.opts.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    this.bus.onConnect(async (model) => {
      const ch = await model.createChannel();
      try {
        await declareTopology(ch, {
          service: this.opts.service,
          bindings: this.consumers.bindings(),
          orderedBindings: this.consumers.orderedBindings(),
          retiredBindings: this.opts.retiredBindings,
          retryDelaysMs,
        });
      } finally {
        await ch.close().catch(() => undefined);
      }
    });
    this.relay.attach();
    this.consumers.attach(this.bus);
    // Not awaited: the service serves HTTP (and fills its outbox) while the broker is away.
    void this.bus.start();
    if (this.opts.relay !== false) await this.relay.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.consumers.stop();
    await this.relay.stop();
    await this.bus.close();
    this.logger.info('messaging stopped');
  }
}

/** Readiness: the broker connection is up. */
@Injectable()
export class BusReadinessCheck implements ReadinessCheck {
  readonly name = 'rabbitmq';
  constructor(private readonly bus: BusConnection) {}
  async check(): Promise<void> {
    if (!this.bus.connected) throw new Error('RabbitMQ is not connected');
  }
}

/** RabbitMQ topology, outbox relay, consumers with inbox and retries, and the parking lot, for one service. */
@Global()
@Module({})
export class MessagingModule {
  static forRoot(opts: MessagingModuleOptions): DynamicModule {
    const retryDelaysMs = opts.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    return {
      module: MessagingModule,
      imports: [DiscoveryModule],
      providers: [
        { provide: OPTIONS, useValue: opts },
        { provide: LOGGER, useFactory: () => createLogger(opts.service).child({ component: 'messaging' }) },
        {
          provide: BusConnection,
          inject: [LOGGER],
          useFactory: (logger: Logger) => new BusConnection({ url: opts.amqpUrl, name: opts.service, logger }),
        },
        {
          provide: OutboxRelay,
          inject: [DataSource, BusConnection, LOGGER],
          useFactory: (ds: DataSource, bus: BusConnection, logger: Logger) =>
            new OutboxRelay(ds, bus, { schema: opts.schema, databaseUrl: opts.databaseUrl, batchSize: opts.relayBatchSize }, logger),
        },
        {
          provide: Outbox,
          inject: [OutboxRelay],
          useFactory: (relay: OutboxRelay) => new Outbox(opts.schema, `elo://${opts.service}`, () => relay.committed()),
        },
        {
          provide: ConsumerHost,
          inject: [DataSource, Outbox, LOGGER],
          useFactory: (ds: DataSource, outbox: Outbox, logger: Logger) =>
            new ConsumerHost(
              ds,
              outbox,
              {
                service: opts.service,
                schema: opts.schema,
                prefetch: opts.prefetch ?? 200,
                batchSize: opts.batchSize ?? 500,
                concurrency: opts.concurrency ?? 2,
                retryDelaysMs,
              },
              logger,
            ),
        },
        {
          provide: ParkedEvents,
          inject: [BusConnection],
          useFactory: (bus: BusConnection) => new ParkedEvents(bus, opts.service),
        },
        BusReadinessCheck,
        MessagingLifecycle,
      ],
      exports: [Outbox, BusConnection, ParkedEvents, OutboxRelay, ConsumerHost, BusReadinessCheck],
    };
  }
}
