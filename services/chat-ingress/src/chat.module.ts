import { Module } from '@nestjs/common';
import { SealedColumns } from '@elo/auth';
import { ChannelsController } from './channels/channels.controller';
import { ChannelsService } from './channels/channels.service';
import { TelegramBusinessService } from './channels/telegram-business.service';
import { TelegramWebhookService } from './channels/telegram-webhook.service';
import { ConversationsConsumer } from './conversations/conversations.consumer';
import { ConversationsController } from './conversations/conversations.controller';
import { ConversationsService } from './conversations/conversations.service';
import { FlowConsumer } from './flow/flow.consumer';
import { FlowEngine } from './flow/flow-engine.service';
import { FlowScheduler } from './flow/flow-scheduler.service';
import { FlowsController } from './flow/flows.controller';
import { FlowsService } from './flow/flows.service';
import { OutboundConsumer } from './outbound/outbound.consumer';
import { OutboundController } from './outbound/outbound.controller';
import { OutboundService } from './outbound/outbound.service';
import { SenderService } from './outbound/sender.service';
import { TokenCheckService } from './tokens/token-check.service';
import { IngestService } from './webhooks/ingest.service';
import { WebhooksController } from './webhooks/webhooks.controller';

/** Channels, webhooks in, messages out, conversations and the bot flow. */
@Module({
  imports: [SealedColumns.forFeature({ table: 'chat_ingress.channels', columns: { credentials: (r) => String(r.id), verify_token: (r) => String(r.id) } })],
  controllers: [ChannelsController, WebhooksController, OutboundController, ConversationsController, FlowsController],
  providers: [
    ChannelsService, IngestService, OutboundService, SenderService, OutboundConsumer, ConversationsService, ConversationsConsumer,
    FlowsService, FlowEngine, FlowConsumer, FlowScheduler, TokenCheckService, TelegramWebhookService, TelegramBusinessService,
  ],
})
export class ChatModule {}
