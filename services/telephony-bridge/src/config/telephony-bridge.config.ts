import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { BaseServiceConfig } from '@elo/platform';

/** Elo telephony-bridge settings (see services/telephony-bridge/.env.example). */
export class TelephonyBridgeConfig extends BaseServiceConfig {
  /**
   * Reverse proxies (comma-separated CIDRs) whose X-Forwarded-For is believed when checking a PBX
   * callback's source address. Empty: only the TCP peer address counts.
   */
  @IsOptional() @IsString() TELEPHONY_TRUSTED_PROXIES?: string;

  /** How long a Click2Call request to the PBX may take before Elo answers 504 (ms). */
  @IsOptional() @IsInt() @Min(100) @Max(120_000) TELEPHONY_PBX_TIMEOUT_MS: number = 10_000;

  /** Largest call recording streamed through (bytes); default 200 MiB. */
  @IsOptional() @IsInt() @Min(1024) TELEPHONY_RECORDING_MAX_BYTES: number = 200 * 1024 * 1024;

  /** Whole time a recording download may take, headers and body (ms). */
  @IsOptional() @IsInt() @Min(1000) TELEPHONY_RECORDING_TIMEOUT_MS: number = 300_000;

  /** Lifetime of a screen-pop stream token (seconds): only the connection must start within it. */
  @IsOptional() @IsInt() @Min(5) @Max(3600) TELEPHONY_STREAM_TOKEN_TTL_SECONDS: number = 60;

  /**
   * How long after its last event or keepalive a stream opened with a stream token may reconnect (hours): the
   * resume token it sent as the events' id comes back in Last-Event-ID (see StreamTokens).
   */
  @IsOptional() @IsInt() @Min(1) @Max(168) TELEPHONY_STREAM_RESUME_HOURS: number = 12;

  /** Days each PBX callback (its parameters and source address) is kept; the calls themselves stay. 0 = for ever. */
  @IsOptional() @IsInt() @Min(0) CALLBACK_RETENTION_DAYS: number = 30;
}
