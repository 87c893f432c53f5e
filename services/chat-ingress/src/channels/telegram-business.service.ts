import { Injectable } from '@nestjs/common';
import { createLogger } from '@elo/observability';
import { DataSource, type EntityManager } from 'typeorm';
import type { BusinessConnectionState } from '../webhooks/normalised';
import type { ChannelRecord } from './channel.types';

const S = '"chat_ingress"';

/**
 * Telegram Business connections of a channel's bot, as their last `business_connection` update left them. A customer
 * who writes through a business account is answered through its connection (contacts.business_connection_id); while
 * the account has the bot disconnected, or has taken its right to reply, Telegram refuses those sends, so they are
 * failed with the reason instead of being tried.
 */
@Injectable()
export class TelegramBusinessService {
  private readonly logger = createLogger('chat-ingress').child({ component: 'telegram-business' });

  constructor(private readonly ds: DataSource) {}

  /**
   * Keeps what a `business_connection` update says. The Bot API server puts one business account's connection updates
   * in one webhook queue (telegram-bot-api, Client::add_update_business_connection), whose updates it sends in order,
   * the next once the last was answered 2xx (WebhookActor): the last one written is the latest.
   */
  async record(channel: ChannelRecord, c: BusinessConnectionState): Promise<void> {
    await this.ds.query(
      `INSERT INTO ${S}.telegram_business_connections (channel_id, connection_id, tenant_id, enabled, can_reply) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (channel_id, connection_id) DO UPDATE SET enabled = EXCLUDED.enabled, can_reply = EXCLUDED.can_reply, updated_at = now()`,
      [channel.id, c.id, channel.tenantId, c.enabled, c.canReply],
    );
    this.logger.info({ channelId: channel.id, businessConnectionId: c.id, enabled: c.enabled, canReply: c.canReply }, 'Telegram Business connection changed');
  }

  /**
   * Why Telegram would refuse a send through the connection; undefined when it may go (also for one never reported).
   * `m`: the caller's transaction, if any.
   */
  async refusal(tenantId: string, channelId: string, connectionId: string, m: EntityManager = this.ds.manager): Promise<{ code: string; title: string } | undefined> {
    const rows: Array<{ enabled: boolean; can_reply: boolean }> = await m.query(
      `SELECT enabled, can_reply FROM ${S}.telegram_business_connections WHERE tenant_id = $1 AND channel_id = $2 AND connection_id = $3`,
      [tenantId, channelId, connectionId],
    );
    const c = rows[0];
    if (c && !c.enabled) return { code: 'business_connection_disabled', title: `the business account disconnected the bot (Telegram Business connection ${connectionId})` };
    if (c && !c.can_reply) return { code: 'business_connection_cannot_reply', title: `the business account does not let the bot reply (Telegram Business connection ${connectionId})` };
    return undefined;
  }
}
