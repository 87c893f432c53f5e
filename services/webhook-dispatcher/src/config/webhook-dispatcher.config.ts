import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { BaseServiceConfig } from '@elo/platform';

/** Elo webhook-dispatcher settings (see services/webhook-dispatcher/.env.example). */
export class WebhookDispatcherConfig extends BaseServiceConfig {
  /** Deliveries in flight at once in this replica. */
  @IsOptional() @IsInt() @Min(1) @Max(2_000) DISPATCHER_CONCURRENCY: number = 64;

  /** Deliveries in flight at once per integration in this replica, for integrations without `delivery.maxConcurrency`. */
  @IsOptional() @IsInt() @Min(1) @Max(2_000) DISPATCHER_PER_INTEGRATION_CONCURRENCY: number = 16;

  /** How often the worker looks for due deliveries (ms); new deliveries wake it at once (NOTIFY). */
  @IsOptional() @IsInt() @Min(10) DISPATCHER_POLL_MS: number = 500;
}
