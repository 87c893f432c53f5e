import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { HttpEgress } from '@elo/http-egress';
import { Outbox } from '@elo/messaging';
import { createLogger } from '@elo/observability';
import { periodic, SERVICE_CONFIG, type Periodic } from '@elo/platform';
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

/** A check younger than this share of its period counts as recent (replicas and restarts do not repeat work). */
const RECENT_SHARE = 0.9;

/**
 * How often a channel is checked: a conclusive check lasts `intervalMs` (TOKEN_CHECK_INTERVAL_MS), an
 * inconclusive one (provider down or rate limiting: `unchecked`) until the next tick, `tickMs`
 * (TOKEN_CHECK_TICK_MS), so another replica ticking meanwhile does not repeat it.
 */
export interface TokenCheckSchedule {
  intervalMs: number;
  tickMs: number;
}

/**
 * How old a check must be to be due again (ms): a conclusive one, most of the interval; one that could not
 * tell (provider down, rate limited), most of a tick. tokenCheckDue in channels.service.ts applies the rule
 * (a channel never checked is due; a generic channel's `unchecked` is final, so it waits for the interval).
 */
export function recentFor(s: TokenCheckSchedule): { conclusiveMs: number; inconclusiveMs: number } {
  return { conclusiveMs: s.intervalMs * RECENT_SHARE, inconclusiveMs: s.tickMs * RECENT_SHARE };
}

/**
 * Whether a provider's answer says the token itself is bad (as opposed to an outage or rate limit, which
 * say nothing about it): 401/403, Meta's OAuthException code 190 (invalid or expired access token, which
 * Graph answers with 400), 102 (session key invalid), and Telegram's 404 for a token that names no bot.
 */
export function authRefused(provider: ChannelRecord['provider'], status: number, body: Record<string, unknown>): boolean {
  if (status === 401 || status === 403) return true;
  if (provider === 'telegram') return status === 404;
  const code = Number((body.error as { code?: unknown } | undefined)?.code);
  return status >= 400 && status < 500 && status !== 429 && (code === 190 || code === 102);
}

/**
 * Provider-token check: refreshes tokens that have refresh credentials (Meta long-lived token exchange),
 * checks the token (Meta debug_token or /me; Telegram getMe), records when it last checked, and raises
 * chat.channel.token.expiring / .invalid. Runs shortly after boot and then every TOKEN_CHECK_TICK_MS
 * (hourly), checking only channels that are due (recentFor): each about once per
 * TOKEN_CHECK_INTERVAL_MS (daily) however often the service restarts, and an inconclusive check again
 * at the next tick. Every replica runs it; each channel is claimed before it is checked, so replicas
 * ticking at once (a rollout) check it once between them.
 */
@Injectable()
export class TokenCheckService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = createLogger('chat-ingress').child({ component: 'token-check' });
  private schedule?: Periodic;

  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
    private readonly egress: HttpEgress,
    private readonly channels: ChannelsService,
    @Inject(SERVICE_CONFIG) private readonly config: ChatIngressConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.CHAT_WORKERS === 'off') return;
    this.schedule = periodic(
      this.config.TOKEN_CHECK_TICK_MS,
      () => this.checkAll(),
      (err) => this.logger.error({ err: err.message }, 'token check failed'),
      this.config.TOKEN_CHECK_FIRST_DELAY_MS,
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.schedule?.stop();
  }

  /**
   * Checks the channels that are due (every active one when forced). Lists the ids of the due ones, then
   * claims each: the claim stamps its check time only if it is still due, so of replicas checking at once
   * one checks it (one token refresh, one event), and the check uses the channel as the claim read it.
   */
  async checkAll(force = false): Promise<TokenCheckResult[]> {
    const out: TokenCheckResult[] = [];
    if (force) {
      for (const c of await this.channels.allActive()) out.push(await this.checkChannel(c, { refresh: true }));
      return out;
    }
    const recent = recentFor({ intervalMs: this.config.TOKEN_CHECK_INTERVAL_MS, tickMs: this.config.TOKEN_CHECK_TICK_MS });
    for (const id of await this.channels.dueForTokenCheck(recent)) {
      const claimed = await this.channels.claimTokenCheck(id, recent);
      if (claimed) out.push(await this.checkChannel(claimed, { refresh: true }));
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
        if (res.status !== 200) [status, error] = [authRefused(c.provider, res.status, parse(res.body)) ? 'invalid' : 'unchecked', `getMe answered ${res.status}`];
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
          const answer = parse(res.body);
          const data = (answer.data ?? {}) as { is_valid?: boolean; expires_at?: number; error?: { message?: string } };
          if (res.status === 200 && data.is_valid === true) {
            if (data.expires_at) expiresAt = new Date(data.expires_at * 1000);
          } else if (res.status === 200 && data.is_valid === false) {
            [status, error] = ['invalid', data.error?.message ?? 'debug_token: the token is not valid'];
          } else {
            // debug_token itself refused (the app credentials) or an outage: only an auth answer condemns the token.
            [status, error] = [authRefused(c.provider, res.status, answer) ? 'invalid' : 'unchecked', errorMessage(answer) ?? `debug_token answered ${res.status}`];
          }
        } else {
          const res = await this.egress.request({ method: 'GET', url: `${graph}/me`, headers: { authorization: `Bearer ${current}` }, timeoutMs: 10_000 });
          const answer = parse(res.body);
          if (res.status !== 200) [status, error] = [authRefused(c.provider, res.status, answer) ? 'invalid' : 'unchecked', errorMessage(answer) ?? `answered ${res.status}`];
        }
      }
    } catch (err) {
      // The provider could not be reached: record it, but a network problem does not make the token invalid.
      status = 'unchecked';
      error = (err as Error).message;
    }
    // An outage or rate limit says nothing about the token: it is checked again at the next tick.
    if (status === 'unchecked' && c.provider !== 'generic') {
      this.logger.warn({ channelId: c.id, err: error }, 'token check inconclusive; retried at the next tick');
      expiresAt ??= c.tokenExpiresAt;
    }
    if (status === 'valid' && expiresAt && expiresAt.getTime() - Date.now() < this.config.TOKEN_EXPIRY_WARN_DAYS * 86_400_000) status = 'expiring';
    const checkedAt = new Date().toISOString();
    const recorded = await this.ds.transaction(async (m) => {
      if (!(await this.channels.setTokenState(m, c.id, { checked: token, status, expiresAt: expiresAt ?? null, error: error ?? null, accessToken: refreshed }))) return false;
      if (status === 'invalid' || status === 'expiring') {
        await this.outbox.publish(m, {
          type: status === 'invalid' ? 'chat.channel.token.invalid' : 'chat.channel.token.expiring', tenantId: c.tenantId, subject: c.id,
          data: { channelId: c.id, provider: c.provider, checkedAt, ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}), ...(error ? { reason: error } : {}) },
        });
      }
      return true;
    });
    if (!recorded) {
      this.logger.info({ channelId: c.id }, 'token replaced during its check; the check of the old token is not recorded');
      return { channelId: c.id, status: 'unchecked', refreshed: false, error: 'the token was replaced while it was checked' };
    }
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

function errorMessage(body: Record<string, unknown>): string | undefined {
  const m = (body.error as { message?: unknown } | undefined)?.message;
  return typeof m === 'string' ? m : typeof body.description === 'string' ? body.description : undefined;
}
