/**
 * @elo/observability: logs, correlation ids, metrics, health.
 *
 * Readiness checks — how a library registers its own dependency check:
 *   - provide the READINESS_CHECKS token in its module (any number of modules may, each its own):
 *       providers: [MyCheck, { provide: READINESS_CHECKS, useExisting: MyCheck }]
 *     (a factory may return one ReadinessCheck or an array); ObservabilityModule discovers them all
 *     at bootstrap; or
 *   - list the provider's token in ObservabilityModule.forRoot({ readinessTokens: [MyCheck] }); or
 *   - inject ReadinessChecks and call register(check) (e.g. in onModuleInit).
 * GET /health/ready answers 200 when every check resolves within 2 s, else 503 problem+json whose
 * `failed` array names the dependencies (`postgres`, `rabbitmq`).
 *
 * Routes marked with Public() (metadata IS_PUBLIC_KEY) need no API key; @elo/auth's guard honours it.
 */
export {
  CORRELATION_HEADER, correlationContext, correlationMiddleware, currentCorrelationId, isValidCorrelationId,
  runWithCorrelationId,
} from './correlation';
export { HealthController } from './health.controller';
export { createLogger, PinoNestLogger, type CreateLoggerOptions } from './logger';
export { busMetrics, httpMetricsMiddleware, httpRequestDuration, metricsRegistry, type ConsumeOutcome } from './metrics';
export { ObservabilityModule, type ObservabilityOptions } from './observability.module';
export { IS_PUBLIC_KEY, Public } from './public.decorator';
export {
  READINESS_CHECKS, ReadinessChecks, type ReadinessCheck, type ReadinessResult, type ReadinessToken,
} from './readiness';
export { isSecretKey, REDACTED, redactString, redactValue, SECRET_KEYS } from './redaction';
