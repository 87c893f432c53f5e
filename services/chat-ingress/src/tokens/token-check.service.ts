import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { HttpEgress } from '@elo/http-egress';
import { Outbox } from '@elo/messaging';
import { createLogger } from '@elo/observability';
import { SERVICE_CONFIG } from '@elo/platform';
import { DataSource } from 'typeorm';
import type { ChannelRecord } from '../channels/channel.types';
import { ChannelsService } from '../channels/channels.service';
import type { ChatIngressConfig } from '../config/chat-ingress.config';

export interface TokenCheckResult {
  channelId: string;
  status: 'valid' | 'expiring' | 'invalid' | 'unchecked';
  refreshed: boolean;
  expiresAt?: string;
  error?: string;
}

/**
 * Daily provider-token check: refreshes tokens that have refresh credentials (Meta long-lived token
 * exchange), checks the token (Meta debug_token or /me; Telegram getMe), records when it last
 * checked, and raises chat.channel.token.expiring / .invalid.
 */
@Injectable()
export class TokenCheckService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = createLogger('chat-ingress').child({ component: 'token-check' });
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
    private readonly egress: HttpEgress,
    private readonly channels: ChannelsService,
    @Inject(SERVICE_CONFIG) private readonly config: ChatIngressConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.CHAT_WORKERS === 'off') return;
    this.timer = setInterval(() => void this.checkAll().catch((err: Error) => this.logger.error({ err: err.message }, 'token check failed')), this.config.TOKEN_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Channels not checked within the interval (so several replicas or restarts do not repeat work). */
  async checkAll(force = false): Promise<TokenCheckResult[]> {
    const out: TokenCheckResult[] = [];
    const dueBefore = Date.now() - this.config.TOKEN_CHECK_INTERVAL_MS * 0.9;
    for (const c of await this.channels.allActive()) {
      if (!force && c.tokenCheckedAt && c.tokenCheckedAt.getTime() > dueBefore) continue;
      out.push(await this.checkChannel(c, { refresh: true }));
    }
    return out;
  }

  async checkChannel(c: ChannelRecord, o: { refresh: boolean }): Promise<TokenCheckResult> {
    const graph = this.config.GRAPH_API_BASE_URL.replace(/\/+$/, '');
    const token = c.credentials.accessToken;
    let refreshed: string | undefined;
    let expiresAt: Date | undefined;
    let status: TokenCheckResult['status'] = 'valid';
    let error: string | undefined;
    try {
      if (!token || c.provider === 'generic') {
        status = c.provider === 'generic' ? 'unchecked' : 'invalid';
        if (!token && c.provider !== 'generic') error = 'no access token configured';
      } else if (c.provider === 'telegram') {
        const res = await this.egress.request({ method: 'GET', url: `${this.config.TELEGRAM_API_BASE_URL.replace(/\/+$/, '')}/bot${token}/getMe`, timeoutMs: 10_000 });
        if (res.status !== 200) [status, error] = ['invalid', `getMe answered ${res.status}`];
      } else {
        const { appSecret, refreshAppId } = c.credentials;
        let current = token;
        if (o.refresh && refreshAppId && appSecret) {
          const url = `${graph}/oauth/access_token?grant_type=fb_exchange_token&client_id=${encodeURIComponent(refreshAppId)}&client_secret=${encodeURIComponent(appSecret)}&fb_exchange_token=${encodeURIComponent(token)}`;
          const res = await this.egress.request({ method: 'GET', url, timeoutMs: 10_000 });
          const body = parse(res.body);
          if (res.status === 200 && typeof body.access_token === 'string') {
            current = refreshed = body.access_token;
            if (typeof body.expires_in === 'number' && body.expires_in > 0) expiresAt = new Date(Date.now() + body.expires_in * 1000);
          } else {
            this.logger.warn({ channelId: c.id, status: res.status }, 'token refresh refused');
          }
        }
        if (refreshAppId && appSecret) {
          const url = `${graph}/debug_token?input_token=${encodeURIComponent(current)}&access_token=${encodeURIComponent(`${refreshAppId}|${appSecret}`)}`;
          const res = await this.egress.request({ method: 'GET', url, timeoutMs: 10_000 });
          const data = (parse(res.body).data ?? {}) as { is_valid?: boolean; expires_at?: number; error?: { message?: string } };
          if (res.status !== 200 || data.is_valid !== true) [status, error] = ['invalid', data.error?.message ?? `debug_token answered ${res.status}`];
          else if (data.expires_at) expiresAt = new Date(data.expires_at * 1000);
        } else {
          const res = await this.egress.request({ method: 'GET', url: `${graph}/me`, headers: { authorization: `Bearer ${current}` }, timeoutMs: 10_000 });
          if (res.status !== 200) [status, error] = ['invalid', String((parse(res.body).error as { message?: string } | undefined)?.message ?? `answered ${res.status}`)];
        }
      }
    } catch (err) {
      // The provider could not be reached: record it, but a network problem does not make the token invalid.
      this.logger.warn({ channelId: c.id, err: (err as Error).message }, 'token check could not reach the provider');
      status = 'unchecked';
      error = (err as Error).message;
    }
    if (status === 'valid' && expiresAt && expiresAt.getTime() - Date.now() < this.config.TOKEN_EXPIRY_WARN_DAYS * 86_400_000) status = 'expiring';
    const checkedAt = new Date().toISOString();
    await this.ds.transaction(async (m) => {
      await this.channels.setTokenState(m, c.id, { status, expiresAt: expiresAt ?? null, error: error ?? null, accessToken: refreshed });
      if (status === 'invalid' || status === 'expiring') {
        await this.outbox.publish(m, {
          type: status === 'invalid' ? 'chat.channel.token.invalid' : 'chat.channel.token.expiring', tenantId: c.tenantId, subject: c.id,
          data: { channelId: c.id, provider: c.provider, checkedAt, ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}), ...(error ? { reason: error } : {}) },
        });
      }
    });
    return { channelId: c.id, status, refreshed: !!refreshed, ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}), ...(error ? { error } : {}) };
  }
}

function parse(b: Buffer): Record<string, unknown> {
  try {
    return JSON.parse(b.toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}
