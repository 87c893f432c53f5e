import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { OutboundMessage } from '@elo/contracts';
import { EgressError, HttpEgress } from '@elo/http-egress';
import { Outbox } from '@elo/messaging';
import { createLogger } from '@elo/observability';
import { SERVICE_CONFIG } from '@elo/platform';
import { Webhook } from 'standardwebhooks';
import { DataSource } from 'typeorm';
import type { ChannelRecord } from '../channels/channel.types';
import { ChannelsService } from '../channels/channels.service';
import { TelegramBusinessService } from '../channels/telegram-business.service';
import type { ChatIngressConfig } from '../config/chat-ingress.config';
import { buildCall, classify, retryAfterMs, type SendOutcome } from './provider-api';
import { OutboundService } from './outbound.service';
import { returnedRows } from '@elo/persistence';

const S = '"chat_ingress"';
const MAX_ATTEMPTS = 8;
/** A claimed message not finished within this lease is taken again (the process died mid-send). */
const LEASE = '2 minutes';
const CLAIM = 20;
/** Tries at recording a send's outcome before the message is left to its lease. */
const RECORD_ATTEMPTS = 4;

interface Claimed {
  id: string;
  tenant_id: string;
  channel_id: string;
  conversation_id: string | null;
  attempts: number;
  body: { message: OutboundMessage; to: string; businessConnectionId?: string };
}

/**
 * Delivers queued outbound messages through the providers' APIs (always via HttpEgress). Claims due rows
 * with FOR UPDATE SKIP LOCKED (replicas share the work), calls the provider outside any transaction,
 * then records sent / retry-later / failed with its event in one transaction.
 */
@Injectable()
export class SenderService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = createLogger('chat-ingress').child({ component: 'sender' });
  private timer?: NodeJS.Timeout;
  private running = false;
  private again = false;
  private stopped = false;
  /** The round in hand (wake), which shutdown lets finish. */
  private round?: Promise<void>;

  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
    private readonly egress: HttpEgress,
    private readonly channels: ChannelsService,
    private readonly business: TelegramBusinessService,
    outbound: OutboundService,
    @Inject(SERVICE_CONFIG) private readonly config: ChatIngressConfig,
  ) {
    outbound.onQueued(() => this.wake());
  }

  onApplicationBootstrap(): void {
    if (this.config.CHAT_WORKERS === 'off') return;
    this.timer = setInterval(() => this.wake(), this.config.SENDER_POLL_MS);
    this.timer.unref();
  }

  /**
   * Stops claiming and lets the round in hand finish its sends and record them, while the database is still there: a
   * send cut off by the shutdown was left 'sending' until its lease (2 minutes) let another replica take it.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.round;
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.round = this.drain()
      .catch((err: Error) => this.logger.error({ err: err.message }, 'sender round failed'))
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      })
      .then(() => undefined);
  }

  /** Sends everything due now; returns how many messages it handled. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      // One recipient's messages go out in queue order: only the oldest unfinished message of each recipient
      // is claimed, so the next one waits until it is sent or has failed for good (a retry waiting for its
      // time holds it back too), whichever replica sends it. Recipients go in parallel.
      const claimed: Claimed[] | [Claimed[], number] = await this.ds.query(
        `UPDATE ${S}.messages SET status = 'sending', attempts = attempts + 1, next_attempt_at = now() + interval '${LEASE}'
         WHERE id IN (SELECT m.id FROM ${S}.messages m WHERE m.status IN ('queued', 'sending') AND m.direction = 'out' AND m.next_attempt_at <= now()
                        AND NOT EXISTS (SELECT 1 FROM ${S}.messages e WHERE e.contact_id = m.contact_id AND e.direction = 'out'
                                          AND e.status IN ('queued', 'sending') AND (e.created_at, e.id) < (m.created_at, m.id))
                      ORDER BY m.next_attempt_at, m.created_at LIMIT ${CLAIM} FOR UPDATE SKIP LOCKED)
         RETURNING id, tenant_id, channel_id, conversation_id, attempts, body`,
      );
      const batch = returnedRows(claimed);
      if (!batch.length) return total;
      total += batch.length;
      await Promise.all(batch.map((row) => this.sendOne(row)));
      if (this.stopped) return total;
    }
  }

  private async sendOne(row: Claimed): Promise<void> {
    let outcome: SendOutcome;
    const channel = await this.channels.get(row.tenant_id, row.channel_id);
    // Recorded as sent_at: the provider stamps the message between this moment and its answer, and Messenger's
    // delivery and read watermarks ("every message sent before this time") are in the provider's time. The time
    // the answer came would leave the last message outside a watermark taken right after the provider's stamp.
    const began = new Date();
    try {
      // A channel disabled after the message was queued (or while its retry waited) sends nothing more.
      // Taken again after its lease more often than a send is tried (each take after a provider call whose outcome was
      // never recorded may have reached the customer): failed for good, not sent once more every lease.
      outcome = !channel ? { kind: 'failed', reason: 'channel_not_found' }
        : channel.status !== 'active' ? { kind: 'failed', reason: 'channel_disabled', error: { code: 'channel_disabled', title: 'the channel is disabled' } }
        : row.attempts > MAX_ATTEMPTS ? { kind: 'failed', reason: 'internal_error', error: { code: 'outcome_unrecorded', title: `taken ${MAX_ATTEMPTS} times without an outcome recorded; not sent again` } }
        : await this.call(channel, row);
    } catch (err) {
      outcome = err instanceof EgressError && ['timeout', 'connect', 'dns'].includes(err.kind)
        ? { kind: 'retry', reason: 'provider_unreachable', afterMs: 10_000, error: { code: err.kind, title: err.message } }
        : { kind: 'failed', reason: err instanceof EgressError ? 'provider_unreachable' : 'internal_error', error: { code: err instanceof EgressError ? err.kind : 'error', title: (err as Error).message } };
    }
    if (outcome.kind === 'retry' && row.attempts >= MAX_ATTEMPTS) outcome = { kind: 'failed', reason: outcome.reason, error: outcome.error };
    // The provider may have taken the message: a database blip while recording that would leave it `sending`, and
    // its lease would send it to the customer again. The record (one transaction) is tried again a few times first.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.record(row, channel, outcome, began);
      } catch (err) {
        if (attempt >= RECORD_ATTEMPTS || this.stopped) throw err;
        this.logger.warn({ messageId: row.id, err: (err as Error).message, attempt }, 'recording the send outcome failed; trying again');
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      }
    }
  }

  private async call(channel: ChannelRecord, row: Claimed): Promise<SendOutcome> {
    const msg = row.body.message;
    // Into a Telegram Business chat whose connection the business account disabled, or through which it no longer lets
    // the bot reply: Telegram would refuse it, so it is not tried.
    const refused = row.body.businessConnectionId ? await this.business.refusal(row.tenant_id, channel.id, row.body.businessConnectionId) : undefined;
    if (refused) return { kind: 'failed', reason: 'no_access', error: refused };
    if (msg.kind === 'media' && msg.media?.url && msg.media.sizeBytes === undefined) {
      const limit = channel.settings.maxAttachmentMb * 1024 * 1024;
      const size = await this.remoteSize(msg.media.url, limit);
      if (size !== undefined && size > limit) {
        return { kind: 'failed', reason: 'attachment_too_large', error: { code: 'attachment_too_large', title: `attachment is larger than this channel's limit of ${channel.settings.maxAttachmentMb} MB` } };
      }
    }
    if (channel.provider === 'generic') return this.callGeneric(channel, row);
    const bases = { graph: this.config.GRAPH_API_BASE_URL.replace(/\/+$/, ''), telegram: this.config.TELEGRAM_API_BASE_URL.replace(/\/+$/, '') };
    const call = buildCall(channel, row.body.to, msg, bases, row.body.businessConnectionId);
    if ('unsupported' in call) return { kind: 'failed', reason: call.unsupported };
    const res = await this.egress.request({ ...call, timeoutMs: 15_000, requestId: row.id });
    return classify(channel.provider, res.status, res.body, res.headers, row.body.to);
  }

  private async callGeneric(channel: ChannelRecord, row: Claimed): Promise<SendOutcome> {
    if (!channel.callbackUrl || !channel.credentials.signingSecret) return { kind: 'failed', reason: 'no_access', error: { code: 'not_configured', title: 'the generic channel has no callbackUrl' } };
    const body = JSON.stringify({ type: 'message.send', id: row.id, to: row.body.to, conversationId: row.conversation_id, message: row.body.message });
    const ts = new Date();
    const signature = new Webhook(channel.credentials.signingSecret).sign(row.id, ts, body);
    const res = await this.egress.request({
      method: 'POST', url: channel.callbackUrl, body, timeoutMs: 15_000,
      headers: { 'content-type': 'application/json', 'webhook-id': row.id, 'webhook-timestamp': String(Math.floor(ts.getTime() / 1000)), 'webhook-signature': signature },
    });
    if (res.status >= 200 && res.status < 300) {
      let id = row.id;
      try {
        // An empty id would fail the sent event after the platform took the message, which would then be sent again.
        id = String((JSON.parse(res.body.toString('utf8')) as { id?: string }).id ?? '') || row.id;
      } catch {
        /* the platform may answer without a body */
      }
      return { kind: 'sent', providerMessageId: id };
    }
    if (res.status === 429 || res.status >= 500) return { kind: 'retry', reason: res.status === 429 ? 'rate_limited' : 'provider_unavailable', afterMs: retryAfterMs(res.headers) || 10_000, error: { code: String(res.status) } };
    return { kind: 'failed', reason: res.status === 401 || res.status === 403 ? 'authentication' : 'invalid_request', error: { code: String(res.status) } };
  }

  /**
   * The attachment's size from a HEAD request. HttpEgress refuses a declared Content-Length above
   * maxResponseBytes even for HEAD, so the channel limit is passed as that cap and `too_large` means
   * "over the limit".
   */
  private async remoteSize(url: string, limit: number): Promise<number | undefined> {
    try {
      const res = await this.egress.request({ method: 'HEAD', url, timeoutMs: 5_000, maxResponseBytes: limit });
      const len = Number(res.headers['content-length']);
      return Number.isFinite(len) && len > 0 ? len : undefined;
    } catch (err) {
      if (err instanceof EgressError && err.kind === 'too_large') return limit + 1;
      return undefined;
    }
  }

  private async record(row: Claimed, channel: ChannelRecord | undefined, outcome: SendOutcome, began: Date): Promise<void> {
    const provider = channel?.provider ?? 'generic';
    await this.ds.transaction(async (m) => {
      if (outcome.kind === 'sent') {
        // An earlier try's reason and error (a retry) no longer describe the message.
        await m.query(
          `UPDATE ${S}.messages SET provider_message_id = $2, sent_at = $3, next_attempt_at = NULL, reason = NULL, error = NULL,
             status = CASE WHEN status_rank < 1 THEN 'sent' ELSE status END, status_rank = GREATEST(status_rank, 1)
           WHERE id = $1`,
          [row.id, outcome.providerMessageId, began.toISOString()],
        );
        // Statuses the provider reported before we stored its id.
        await m.query(
          `UPDATE ${S}.messages o SET status = best.status, status_rank = best.rank FROM (
             SELECT status, CASE status WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 WHEN 'failed' THEN 4 END AS rank
             FROM ${S}.status_receipts WHERE channel_id = $2 AND provider_message_id = $3 ORDER BY 2 DESC LIMIT 1) best
           WHERE o.id = $1 AND o.status_rank < best.rank`,
          [row.id, row.channel_id, outcome.providerMessageId],
        );
        await this.outbox.publish(m, {
          type: 'chat.message.sent', tenantId: row.tenant_id, subject: row.id,
          data: { messageId: row.id, channelId: row.channel_id, provider, ...(row.conversation_id ? { conversationId: row.conversation_id } : {}), providerMessageId: outcome.providerMessageId, sentAt: new Date().toISOString() },
        });
        return;
      }
      if (outcome.kind === 'retry') {
        this.logger.warn({ messageId: row.id, reason: outcome.reason, attempt: row.attempts }, 'send deferred');
        const backoff = Math.max(outcome.afterMs, 1000 * 2 ** Math.min(row.attempts, 8));
        await m.query(`UPDATE ${S}.messages SET status = 'queued', next_attempt_at = now() + ($2::int * interval '1 millisecond'), reason = $3, error = $4 WHERE id = $1`,
          [row.id, Math.min(backoff, 3_600_000), outcome.reason, outcome.error ? JSON.stringify(outcome.error) : null]);
        return;
      }
      await m.query(`UPDATE ${S}.messages SET status = 'failed', status_rank = 4, next_attempt_at = NULL, reason = $2, error = $3 WHERE id = $1`,
        [row.id, outcome.reason, outcome.error ? JSON.stringify(outcome.error) : null]);
      await this.outbox.publish(m, {
        type: 'chat.message.status', tenantId: row.tenant_id, subject: row.id,
        data: { messageId: row.id, channelId: row.channel_id, provider, status: 'failed', providerTimestamp: new Date().toISOString(), reason: outcome.reason, ...(outcome.error ? { error: outcome.error } : {}) },
      });
    });
  }
}
