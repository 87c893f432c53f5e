import { IsInt, IsNumber, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { BaseServiceConfig } from '@elo/platform';

/** Elo webhook-dispatcher settings (see services/webhook-dispatcher/.env.example). */
export class WebhookDispatcherConfig extends BaseServiceConfig {
  /** Deliveries in flight at once in this replica. */
  @IsOptional() @IsInt() @Min(1) @Max(2_000) DISPATCHER_CONCURRENCY: number = 64;

  /**
   * Deliveries in flight at once per integration, for integrations without `delivery.maxConcurrency`: shared
   * between the live replicas like an integration's own limit (see README, Delivery).
   */
  @IsOptional() @IsInt() @Min(1) @Max(2_000) DISPATCHER_PER_INTEGRATION_CONCURRENCY: number = 16;

  /** How often the worker looks for due deliveries (ms); new deliveries wake it at once (NOTIFY). */
  @IsOptional() @IsInt() @Min(10) DISPATCHER_POLL_MS: number = 500;

  /**
   * Retries of a run a bot flow requested (`integration.requested`), in seconds after each failed attempt,
   * comma-separated (empty: none). Used instead of the integration's own schedule (never more retries than it
   * has): the flow is waiting for the outcome.
   */
  @IsOptional() @IsString() @Matches(/^(\d+(\.\d+)?(,\d+(\.\d+)?)*)?$/, { message: 'must be seconds separated by commas, e.g. 2,5,10' })
  DISPATCHER_REQUESTED_RETRY_SECONDS: string = '2,5,10';

  /**
   * A requested run is not retried past this many seconds after it was requested (nor past the request's own
   * `deadline`, when earlier): its failed outcome is published instead (a Retry-After, a timeout's or a 429's
   * minute wait included). One claimed after the request's own `deadline` is not sent at all.
   */
  @IsOptional() @IsNumber() @Min(1) @Max(3_600) DISPATCHER_REQUESTED_DEADLINE_SECONDS: number = 90;

  /** Days each delivery attempt's log (request and response) is kept; the deliveries themselves stay. 0 = for ever. */
  @IsOptional() @IsInt() @Min(0) ATTEMPT_RETENTION_DAYS: number = 90;
}
