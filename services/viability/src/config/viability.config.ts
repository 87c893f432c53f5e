import { BaseServiceConfig } from '@elo/platform';
import { IsInt, IsOptional, Matches, Max, Min } from 'class-validator';

/** Elo viability settings (see .env.example). */
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

  /** How often each replica looks for upstream syncs that are due, in ms (default 60000; 0 turns the schedule off). */
  @IsOptional() @IsInt() @Min(0) UPSTREAM_SYNC_TICK_MS?: number;
}
