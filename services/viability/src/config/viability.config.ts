import { BaseServiceConfig } from '@elo/platform';
import { IsInt, IsOptional, Matches, Min } from 'class-validator';

/** Elo viability settings (see .env.example). */
export class ViabilityConfig extends BaseServiceConfig {
  /** Nominatim-compatible search API (`<base>/search?format=jsonv2&q=`); addresses are refused without it. */
  @IsOptional() @Matches(/^https?:\/\/\S+$/, { message: 'GEOCODER_BASE_URL must be an http(s) URL' }) GEOCODER_BASE_URL?: string;

  /** Least time between two calls to the geocoder, in ms (Nominatim's policy is one a second). */
  @IsOptional() @IsInt() @Min(0) GEOCODER_MIN_INTERVAL_MS?: number;
}
