import { BaseServiceConfig } from '@elo/platform';
import { IsInt, IsOptional, Matches, Max, Min } from 'class-validator';

/** Elo viability settings (see services/viability/.env.example). */
export class ViabilityConfig extends BaseServiceConfig {
  /** Nominatim-compatible search API (`<base>/search?format=jsonv2&q=`); addresses are refused without it. */
  @IsOptional() @Matches(/^https?:\/\/\S+$/, { message: 'GEOCODER_BASE_URL must be an http(s) URL' }) GEOCODER_BASE_URL?: string;

  /** Least time between two calls to the geocoder, in ms (Nominatim's policy is one a second). */
  @IsOptional() @IsInt() @Min(0) GEOCODER_MIN_INTERVAL_MS: number = 1_000;

  /** Public base URL customers reach this service at; FindME links are `<base>/findme/<token>`. */
  @IsOptional() @Matches(/^https?:\/\/\S+$/, { message: 'FINDME_PUBLIC_URL must be an http(s) URL' }) FINDME_PUBLIC_URL?: string;

  /** How long a FindME link stays usable, in minutes. */
  @IsOptional() @IsInt() @Min(1) @Max(10_080) FINDME_TTL_MINUTES: number = 30;

  /** Map tiles for the FindME page (`{z}/{x}/{y}` template); without it the page shows a plain grid. */
  @IsOptional() @Matches(/^https?:\/\/\S+$/, { message: 'FINDME_TILE_URL must be an http(s) URL' }) FINDME_TILE_URL?: string;

  /** Cached "not found" and "ambiguous" answers are asked again after this many seconds (a day). */
  @IsOptional() @IsInt() @Min(0) GEOCODER_NEGATIVE_TTL_SECONDS: number = 86_400;

  /** Address lookups waiting for their turn (the rate limit) at most; more are refused at once. */
  @IsOptional() @IsInt() @Min(1) GEOCODER_MAX_QUEUE: number = 100;

  /**
   * Deliveries of a bot flow's address check (viability.requested) while the geocoder fails, before it is
   * answered not_found with the reason (3: the first and two retries, about 11 s).
   */
  @IsOptional() @IsInt() @Min(1) @Max(6) GEOCODER_EVENT_ATTEMPTS: number = 3;

  /** How often each replica sweeps FindME links (expired ones answered, callbacks retried), in ms (0 off). */
  @IsOptional() @IsInt() @Min(0) FINDME_SWEEP_MS: number = 30_000;

  /** The FindME callback's first retry waits this long, in ms, doubling after each failure up to an hour. */
  @IsOptional() @IsInt() @Min(1) FINDME_CALLBACK_BACKOFF_MS: number = 10_000;

  /** Tries of the FindME callback before giving up. */
  @IsOptional() @IsInt() @Min(1) @Max(50) FINDME_CALLBACK_ATTEMPTS: number = 8;

  /** How often each replica looks for upstream syncs that are due, in ms (0 turns the schedule off). */
  @IsOptional() @IsInt() @Min(0) UPSTREAM_SYNC_TICK_MS: number = 60_000;

  /** Days each check's record (the point asked, the answer) is kept; 0 = for ever. */
  @IsOptional() @IsInt() @Min(0) CHECK_RETENTION_DAYS: number = 365;
}
