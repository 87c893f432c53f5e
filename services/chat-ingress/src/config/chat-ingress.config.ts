import { IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { BaseServiceConfig } from '@elo/platform';

const URL_RE = /^https?:\/\/[^\s]+$/;

/** Elo chat-ingress settings (see services/chat-ingress/.env.example). */
export class ChatIngressConfig extends BaseServiceConfig {
  /** Public base URL of this service; webhook URLs are `<PUBLIC_BASE_URL>/webhooks/<provider>/<channelId>`. */
  @Matches(URL_RE, { message: 'PUBLIC_BASE_URL must be an http(s) URL' })
  override PUBLIC_BASE_URL: string = 'http://127.0.0.1:3001';

  /** Meta Graph API base (WhatsApp Cloud, Messenger, Instagram), with version. */
  @Matches(URL_RE) GRAPH_API_BASE_URL: string = 'https://graph.facebook.com/v21.0';

  /** Telegram Bot API base. */
  @Matches(URL_RE) TELEGRAM_API_BASE_URL: string = 'https://api.telegram.org';

  /** How often the outbound sender looks for due messages (ms); it is also woken on new ones. */
  @IsOptional() @IsInt() @Min(10) SENDER_POLL_MS: number = 500;

  /** How often bot-flow timers (reminders, closing silent conversations) are checked (ms). */
  @IsOptional() @IsInt() @Min(100) FLOW_TICK_MS: number = 5_000;

  /** How long a bot step waits for an integration or viability outcome before taking its timeout (failure) branch (ms). */
  @IsOptional() @IsInt() @Min(1000) FLOW_WAIT_TIMEOUT_MS: number = 3 * 60 * 1000;

  /**
   * How long a viability step waits for the answer to a FindME link it sent (ms): the link's life (the
   * viability service's FINDME_TTL_MINUTES, 30 min by default) plus a margin, 35 min by default.
   */
  @IsOptional() @IsInt() @Min(1000) FLOW_FINDME_WAIT_TIMEOUT_MS: number = 35 * 60 * 1000;

  /** How often each channel's provider token is checked (ms); daily by default. */
  @IsOptional() @IsInt() @Min(1000) TOKEN_CHECK_INTERVAL_MS: number = 24 * 3600 * 1000;

  /** How often the token check looks for channels that are due (ms); hourly by default. */
  @IsOptional() @IsInt() @Min(1000) TOKEN_CHECK_TICK_MS: number = 3600 * 1000;

  /** How long after boot the first token check runs (ms), so a service restarted more often than daily still checks. */
  @IsOptional() @IsInt() @Min(0) TOKEN_CHECK_FIRST_DELAY_MS: number = 60 * 1000;

  /** Tokens expiring within this many days raise chat.channel.token.expiring. */
  @IsOptional() @IsInt() @Min(0) TOKEN_EXPIRY_WARN_DAYS: number = 7;

  /** Webhooks stored together in one transaction at most (group commit). */
  @IsOptional() @IsInt() @Min(1) @Max(5000) INGEST_MAX_GROUP: number = 256;

  /** Webhook transactions in flight at once; each holds a pool connection (keep it well under the pool size). */
  @IsOptional() @IsInt() @Min(1) @Max(8) INGEST_CONCURRENCY: number = 2;

  /** How long (ms) a free lane waits for more webhooks before writing; 0 takes what arrived in the same event-loop turn. */
  @IsOptional() @IsInt() @Min(0) @Max(50) INGEST_LINGER_MS: number = 0;

  /** Disable the background workers (tests drive them by hand). */
  @IsOptional() @IsString() CHAT_WORKERS?: string;

  /** Days the raw body of each webhook is kept (what the provider sent, as sent); 0 = for ever. */
  @IsOptional() @IsInt() @Min(0) WEBHOOK_RECEIPT_RETENTION_DAYS: number = 30;
}
