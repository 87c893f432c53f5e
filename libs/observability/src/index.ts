export { correlationMiddleware, currentCorrelationId, runWithCorrelationId, CORRELATION_HEADER } from './correlation';
export { HealthController, READINESS_CHECKS, type ReadinessCheck } from './health.controller';
export { HttpMetricsInterceptor } from './http-metrics.interceptor';
export { createLogger, PinoNestLogger, redactString, SECRET_KEYS } from './logger';
export { busMetrics, httpRequestDuration, metricsRegistry } from './metrics';
export { ObservabilityModule, type ObservabilityOptions } from './observability.module';
export { IS_PUBLIC_KEY, Public } from './public.decorator';
