import { Inject, Injectable } from '@nestjs/common';
import { HttpEgress } from '@elo/http-egress';
import { createLogger } from '@elo/observability';
import { SERVICE_CONFIG } from '@elo/platform';
import type { ChatIngressConfig } from '../config/chat-ingress.config';
import type { ChannelRecord, WebhookRegistration } from './channel.types';
import { ChannelsService } from './channels.service';

/** The update types the Telegram normaliser understands (Telegram Business: a connection's changes, its chats' messages and edits). */
const ALLOWED_UPDATES = ['message', 'edited_message', 'business_connection', 'business_message', 'edited_business_message', 'callback_query'];

/**
 * Registers a Telegram channel's webhook with the Bot API (`setWebhook` with the channel's webhook URL
 * and its secret token), through HttpEgress and the configurable TELEGRAM_API_BASE_URL. The outcome is
 * recorded on the channel; a failure is shown, never thrown: the channel exists either way and the
 * registration can be retried.
 */
@Injectable()
export class TelegramWebhookService {
  private readonly logger = createLogger('chat-ingress').child({ component: 'telegram-webhook' });

  constructor(
    private readonly egress: HttpEgress,
    private readonly channels: ChannelsService,
    @Inject(SERVICE_CONFIG) private readonly config: ChatIngressConfig,
  ) {}

  async register(c: ChannelRecord): Promise<WebhookRegistration> {
    const url = this.channels.webhookUrl(c);
    const token = c.credentials.accessToken;
    const secret = c.credentials.telegramSecretToken;
    let error: string | undefined;
    if (!token) error = 'no bot token (credentials.accessToken) is configured';
    else if (!secret) error = 'no secret token (credentials.telegramSecretToken) is configured';
    else {
      try {
        const res = await this.egress.request({
          method: 'POST', url: `${this.config.TELEGRAM_API_BASE_URL.replace(/\/+$/, '')}/bot${token}/setWebhook`,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ url, secret_token: secret, allowed_updates: ALLOWED_UPDATES }),
          timeoutMs: 10_000,
        });
        const body = parse(res.body);
        if (res.status !== 200 || body.ok !== true) {
          error = `setWebhook answered ${res.status}${typeof body.description === 'string' ? `: ${body.description}` : ''}`;
        }
      } catch (err) {
        error = `Telegram could not be reached: ${(err as Error).message}`;
      }
    }
    // Telegram's answers do not echo the token, but a secret must never reach the record or the log.
    if (error && token) error = error.split(token).join('****');
    const outcome: WebhookRegistration = { status: error ? 'failed' : 'registered', url, at: new Date(), ...(error ? { error } : {}) };
    if (error) this.logger.warn({ channelId: c.id, err: error }, 'Telegram webhook registration failed');
    await this.channels.setWebhookRegistration(c.id, outcome);
    return outcome;
  }
}

function parse(b: Buffer): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(b.toString('utf8'));
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
