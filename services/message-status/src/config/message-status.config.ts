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

  /**
   * Days a message is kept (from its creation) with its timeline entries (from their arrival), and an integration
   * failure (from its failure); the retention sweeper deletes them after that. 0 = for ever.
   */
  @IsOptional() @IsInt() @Min(0) MESSAGE_RETENTION_DAYS: number = 90;

  /** Live streams (`GET /stream`) one API key may hold open at once on a replica; one more is a 429. */
  @IsOptional() @IsInt() @Min(1) STREAM_MAX_PER_KEY: number = 10;

  /**
   * Bytes a live stream may have waiting to be sent (a client that does not read): past that it is dropped, and
   * the client reconnects and reads again. Well above a burst of changes (a NOTIFY payload is under 8 kB).
   */
  @IsOptional() @IsInt() @Min(65_536) STREAM_MAX_BUFFERED_BYTES: number = 1_048_576;
}
