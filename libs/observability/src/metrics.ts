import type { NextFunction, Request, Response } from 'express';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process, served at /metrics. */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry });

export const httpRequestDuration = new Histogram({
  name: 'elo_http_request_duration_seconds',
  help: 'HTTP request latency by method, route pattern and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [metricsRegistry],
});

/** Outcomes of a consumed event (label `outcome` of elo_events_consumed_total). */
export type ConsumeOutcome = 'handled' | 'duplicate' | 'retried' | 'parked';

/** The bus's counters and gauges; libs/messaging increments them, the relay sets the outbox gauges. */
export const busMetrics = {
  published: new Counter({
    name: 'elo_events_published_total',
    help: 'Events published (broker-confirmed) by type',
    labelNames: ['type'] as const,
    registers: [metricsRegistry],
  }),
  consumed: new Counter({
    name: 'elo_events_consumed_total',
    help: 'Events consumed by type and outcome (handled, duplicate, retried, parked)',
    labelNames: ['type', 'outcome'] as const,
    registers: [metricsRegistry],
  }),
  retried: new Counter({
    name: 'elo_events_retried_total',
    help: 'Events sent to a retry queue',
    labelNames: ['type'] as const,
    registers: [metricsRegistry],
  }),
  parked: new Counter({
    name: 'elo_events_parked_total',
    help: 'Events parked after exhausting their retries',
    labelNames: ['type'] as const,
    registers: [metricsRegistry],
  }),
  outboxBacklog: new Gauge({
    name: 'elo_outbox_backlog',
    help: 'Outbox rows not yet published',
    registers: [metricsRegistry],
  }),
  outboxOldestAgeSeconds: new Gauge({
    name: 'elo_outbox_oldest_age_seconds',
    help: 'Age of the oldest unpublished outbox row, in seconds',
    registers: [metricsRegistry],
  }),
};

/** The route pattern (`/tenants/:id`), never the raw URL, which would explode the label set. */
function routeOf(req: Request, mountedAt: unknown): string {
  // Nest mounts module middleware as a route of its own: still seeing it means no handler matched.
  if (req.route === mountedAt) return 'unmatched';
  const path = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' ? `${req.baseUrl ?? ''}${path}` : 'unmatched';
}

/**
 * Records every request's duration when the response is finished, so requests refused by guards
 * (401/403), failed by exception filters and unmatched (404) are counted with their real status.
 */
export function httpMetricsMiddleware(req: Request, res: Response, next: NextFunction): void {
  const end = httpRequestDuration.startTimer();
  const mountedAt: unknown = req.route;
  res.once('finish', () => end({ method: req.method, route: routeOf(req, mountedAt), status: String(res.statusCode) }));
  next();
}
