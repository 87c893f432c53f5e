import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, Min, MinLength } from 'class-validator';

const BASE_URL = /^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/;
const MESSAGE = { message: '$property must be an http(s) base URL without query or fragment' };

/** The console's settings: where the five services answer, and where it listens. No database, no bus. */
export class ConsoleConfig {
  @Type(() => Number) @IsInt() @Min(0) @Max(65535) PORT: number = 3000;
  /** The address it listens on (every interface by default). */
  @IsString() @MinLength(1) HOST = '0.0.0.0';

  @IsString() @Matches(BASE_URL, MESSAGE) CHAT_INGRESS_URL = 'http://127.0.0.1:3001';
  @IsString() @Matches(BASE_URL, MESSAGE) VIABILITY_URL = 'http://127.0.0.1:3002';
  @IsString() @Matches(BASE_URL, MESSAGE) TELEPHONY_BRIDGE_URL = 'http://127.0.0.1:3003';
  @IsString() @Matches(BASE_URL, MESSAGE) WEBHOOK_DISPATCHER_URL = 'http://127.0.0.1:3004';
  @IsString() @Matches(BASE_URL, MESSAGE) MESSAGE_STATUS_URL = 'http://127.0.0.1:3005';

  /** Links shown in the navigation (opened in the browser, so public addresses). */
  @IsString() @Matches(BASE_URL, MESSAGE) DASHBOARD_URL = 'http://127.0.0.1:3005/dashboard';
  @IsString() @Matches(BASE_URL, MESSAGE) OPERATOR_URL = 'http://127.0.0.1:3003/operator';

  /** Largest request body forwarded, in bytes (default 10 MB: inventory imports go through here). */
  @Type(() => Number) @IsInt() @Min(1024) BODY_LIMIT_BYTES: number = 10 * 1024 * 1024;

  /** How long an upstream may take to start answering, in ms. */
  @Type(() => Number) @IsInt() @Min(100) @Max(600_000) UPSTREAM_TIMEOUT_MS: number = 30_000;

  /** Folder holding the built single-page app; defaults to services/console/web/dist. */
  @IsOptional() @IsString() WEB_DIST_DIR?: string;

  @IsOptional() @IsString() LOG_LEVEL?: string;
}

/** `/api/<name>/…` → the configured base URL. */
export function upstreams(c: ConsoleConfig): Record<string, string> {
  return {
    'chat-ingress': c.CHAT_INGRESS_URL,
    viability: c.VIABILITY_URL,
    'telephony-bridge': c.TELEPHONY_BRIDGE_URL,
    'webhook-dispatcher': c.WEBHOOK_DISPATCHER_URL,
    'message-status': c.MESSAGE_STATUS_URL,
  };
}
