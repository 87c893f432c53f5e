import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process, served at /metrics. */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry });

export const httpRequestDuration = new Histogram({
  name: 'elo_http_request_duration_seconds',
  help: 'HTTP request latency by route pattern',
  labelNames: ['method', 'route', 'status'],
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [metricsRegistry],
});

export const busMetrics = {
  published: new Counter({ name: 'elo_events_published_total', help: 'Events published (broker-confirmed) by type', labelNames: ['type'], registers: [metricsRegistry] }),
  consumed: new Counter({ name: 'elo_events_consumed_total', help: 'Events consumed by type and outcome', labelNames: ['type', 'outcome'], registers: [metricsRegistry] }),
  retried: new Counter({ name: 'elo_events_retried_total', help: 'Events sent to a retry queue', labelNames: ['type'], registers: [metricsRegistry] }),
  parked: new Counter({ name: 'elo_events_parked_total', help: 'Events parked after their retries', labelNames: ['type'], registers: [metricsRegistry] }),
  outboxBacklog: new Gauge({ name: 'elo_outbox_backlog', help: 'Outbox rows not yet published', registers: [metricsRegistry] }),
  outboxOldestAgeSeconds: new Gauge({ name: 'elo_outbox_oldest_age_seconds', help: 'Age of the oldest unpublished outbox row', registers: [metricsRegistry] }),
};
