import { BaseServiceConfig } from '@elo/platform';
import { IsInt, IsOptional, Matches, Max, Min } from 'class-validator';

/** Elo viability settings (see services/viability/.env.example). */
export class ViabilityConfig extends BaseServiceConfig {
  /** Nominatim-compatible search API (`<base>/search?format=jsonv2&q=`); addresses are refused without it. */
  @IsOptional() @Matches(/^https?:\/\/\S+$/, { message: 'GEOCODER_BASE_URL must be an http(s) URL' }) GEOCODER_BASE_URL?: string;

  /** Least time between two calls to the geocoder, in ms (Nominatim's policy is one a second). */
  @IsOptional() @IsInt() @Min(0) GEOCODER_MIN_INTERVAL_MS?: number;

  /** Public base URL customers reach this service at; FindME links are `<base>/findme/<token>`. */
  @IsOptional() @Matches(/^https?:\/\/\S+$/, { message: 'FINDME_PUBLIC_URL must be an http(s) URL' }) FINDME_PUBLIC_URL?: string;

  /** How long a FindME link stays usable, in minutes (default 30). */
  @IsOptional() @IsInt() @Min(1) @Max(10_080) FINDME_TTL_MINUTES?: number;

  /** Map tiles for the FindME page (`{z}/{x}/{y}` template); without it the page shows a plain grid. */
  @IsOptional() @Matches(/^https?:\/\/\S+$/, { message: 'FINDME_TILE_URL must be an http(s) URL' }) FINDME_TILE_URL?: string;

  /** Cached "not found" and "ambiguous" answers are asked again after this many seconds (default 86400, a day). */
  @IsOptional() @IsInt() @Min(0) GEOCODER_NEGATIVE_TTL_SECONDS?: number;

  /** Address lookups waiting for their turn (the rate limit) at most; more are refused at once (default 100). */
  @IsOptional() @IsInt() @Min(1) GEOCODER_MAX_QUEUE?: number;

  /**
   * Deliveries of a bot flow's address check (viability.requested) while the geocoder fails, before it is
   * answered not_found with the reason (default 3: the first and two retries, about 11 s).
   */
  @IsOptional() @IsInt() @Min(1) @Max(6) GEOCODER_EVENT_ATTEMPTS?: number;

  /** How often each replica sweeps FindME links (expired ones answered, callbacks retried), in ms (default 30000; 0 off). */
  @IsOptional() @IsInt() @Min(0) FINDME_SWEEP_MS?: number;

  /** The FindME callback's first retry waits this long, in ms, doubling after each failure up to an hour (default 10000). */
  @IsOptional() @IsInt() @Min(1) FINDME_CALLBACK_BACKOFF_MS?: number;

  /** Tries of the FindME callback before giving up (default 8). */
  @IsOptional() @IsInt() @Min(1) @Max(50) FINDME_CALLBACK_ATTEMPTS?: number;

  /** How often each replica looks for upstream syncs that are due, in ms (default 60000; 0 turns the schedule off). */
  @IsOptional() @IsInt() @Min(0) UPSTREAM_SYNC_TICK_MS?: number;

  /** Days each check's record (the point asked, the answer) is kept; 0 = for ever. */
  @IsOptional() @IsInt() @Min(0) CHECK_RETENTION_DAYS: number = 365;
}
