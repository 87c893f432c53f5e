import { DynamicModule, Global, Module, type Provider } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { EXTRA_READINESS_CHECKS, HealthController, READINESS_CHECKS, type ReadinessCheck } from './health.controller';
import { HttpMetricsInterceptor } from './http-metrics.interceptor';

export interface ObservabilityOptions {
  service: string;
  /**
   * Tokens of providers that are ReadinessChecks (libs export theirs, e.g. messaging's
   * READINESS_CHECKS provider); plus any literal checks.
   */
  readinessTokens?: Array<string | symbol | (new (...args: never[]) => ReadinessCheck)>;
  readiness?: ReadinessCheck[];
}

/** /health/live, /health/ready (every dependency's check), /metrics and HTTP latency metrics. */
@Global()
@Module({})
export class ObservabilityModule {
  static forRoot(o: ObservabilityOptions): DynamicModule {
    const checks: Provider = {
      provide: EXTRA_READINESS_CHECKS,
      // Injected (not looked up) so Nest builds the checks, with their dependencies, first.
      inject: o.readinessTokens ?? [],
      useFactory: (...fromTokens: ReadinessCheck[]): ReadinessCheck[] => [...fromTokens, ...(o.readiness ?? [])],
    };
    return {
      module: ObservabilityModule,
      controllers: [HealthController],
      providers: [checks, { provide: APP_INTERCEPTOR, useClass: HttpMetricsInterceptor }],
      exports: [EXTRA_READINESS_CHECKS],
    };
  }
}

export { READINESS_CHECKS };
