import { IsInt, IsOptional, Min } from 'class-validator';
import { BaseServiceConfig } from '@elo/platform';

/** Elo message-status settings (see services/message-status/.env.example). */
export class MessageStatusConfig extends BaseServiceConfig {
  /**
   * A provider status that arrived before its message waits at most this long (minutes, default 7 days,
   * as long as Meta retries a webhook); then the scheduled cleanup deletes it.
   */
  @IsOptional() @IsInt() @Min(1) PENDING_STATUS_MAX_AGE_MINUTES: number = 7 * 24 * 60;

  /** How often the cleanup of expired waiting statuses runs (ms, default 10 minutes). */
  @IsOptional() @IsInt() @Min(1_000) PENDING_STATUS_CLEANUP_INTERVAL_MS: number = 10 * 60 * 1000;
}
