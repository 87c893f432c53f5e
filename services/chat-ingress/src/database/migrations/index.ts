import { retentionIndex } from '@elo/platform';
import { leanerMessagingIndexes, outboxKeepsOnlyPending } from '@elo/messaging';
import { Init1763800000000 } from './1763800000000-Init';
import { Chat1763900100000 } from './1763900100000-Chat';
import { WebhookRegistration1764800000000 } from './1764800000000-WebhookRegistration';
import { FlowLocationMark1765300000000 } from './1765300000000-FlowLocationMark';
import { ContactUserIdIndex1765900000000 } from './1765900000000-ContactUserIdIndex';
import { ContactBusinessConnection1766100000000 } from './1766100000000-ContactBusinessConnection';
import { FlowDueAt1766300000000 } from './1766300000000-FlowDueAt';
import { TelegramBusinessConnections1766700000000 } from './1766700000000-TelegramBusinessConnections';

/** Every migration of the `chat_ingress` schema, in order. */
export const migrations = [Init1763800000000, Chat1763900100000, WebhookRegistration1764800000000, leanerMessagingIndexes('chat_ingress'),
  FlowLocationMark1765300000000, outboxKeepsOnlyPending('chat_ingress'),
  retentionIndex('"chat_ingress".webhook_receipts', 'received_at', 'webhook_receipts_received_brin'), ContactUserIdIndex1765900000000,
  ContactBusinessConnection1766100000000, FlowDueAt1766300000000, TelegramBusinessConnections1766700000000];
