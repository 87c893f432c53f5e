import { DynamicModule, Global, MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { HealthController } from './health.controller';
import { httpMetricsMiddleware, metricsRegistry } from './metrics';
import {
  READINESS_OPTIONS, ReadinessChecks, type ReadinessCheck, type ReadinessOptions, type ReadinessToken,
} from './readiness';

export interface ObservabilityOptions {
  /** Service name; becomes the `service` label of every metric. */
  service: string;
  /** Literal readiness checks. */
  readiness?: ReadinessCheck[];
  /**
   * Tokens of providers (anywhere in the app) that are a ReadinessCheck or an array of them,
   * e.g. persistence's DatabaseReadinessCheck and messaging's BusReadinessCheck.
   */
  readinessTokens?: ReadinessToken[];
}

/**
 * GET /health/live, GET /health/ready (every dependency's check; 503 problem+json naming the failed
 * ones), GET /metrics, and request-duration metrics for every route. Readiness checks come from the
 * options, from providers of the READINESS_CHECKS token in any module, and from
 * `ReadinessChecks.register()`.
 */
@Global()
@Module({})
export class ObservabilityModule implements NestModule {
  static forRoot(o: ObservabilityOptions): DynamicModule {
    metricsRegistry.setDefaultLabels({ service: o.service });
    const options: ReadinessOptions = { readiness: o.readiness, readinessTokens: o.readinessTokens };
    return {
      module: ObservabilityModule,
      imports: [DiscoveryModule],
      controllers: [HealthController],
      providers: [{ provide: READINESS_OPTIONS, useValue: options }, ReadinessChecks],
      exports: [ReadinessChecks],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(httpMetricsMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
  }
}
