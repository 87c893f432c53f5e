import type { Provider } from '@elo/contracts';

/** Providers whose webhook URL is verified with Meta's GET handshake (hub.verify_token). */
export const VERIFY_TOKEN_PROVIDERS: ReadonlySet<Provider> = new Set<Provider>(['whatsapp', 'messenger', 'instagram']);

export interface Credentials {
  accessToken?: string;
  appSecret?: string;
  refreshAppId?: string;
  telegramSecretToken?: string;
  signingSecret?: string;
}

export interface ConversationSettings {
  botQueue: string;
  humanQueue: string;
  pickupNotice: 'none' | 'simple' | 'with_agent_name';
  pickupMessage?: string;
  notifyOnTransfer: boolean;
  transferMessage?: string;
  notifyOnWaiting: boolean;
  waitingMessage?: string;
  closingMessage?: string;
  maxAttachmentMb: number;
  reminderAfterMinutes: number;
  reminderMessage?: string;
  closeAfterMinutes: number;
}

export const DEFAULT_SETTINGS: ConversationSettings = {
  botQueue: 'bot',
  humanQueue: 'human',
  pickupNotice: 'simple',
  notifyOnTransfer: true,
  notifyOnWaiting: true,
  maxAttachmentMb: 16,
  reminderAfterMinutes: 10,
  closeAfterMinutes: 10,
};

/** The last attempt to register the channel's webhook URL with its provider (Telegram setWebhook). */
export interface WebhookRegistration {
  status: 'registered' | 'failed';
  /** The URL sent to the provider. */
  url: string;
  at: Date;
  /** Why it failed, in the provider's words (never carries the bot token). */
  error?: string;
}

/** A channel as the service works with it (credentials decrypted; never leaves the process whole). */
export interface ChannelRecord {
  id: string;
  tenantId: string;
  provider: Provider;
  name: string;
  status: 'active' | 'disabled';
  phoneNumberId?: string;
  displayPhone?: string;
  accountId?: string;
  botName?: string;
  callbackUrl?: string;
  credentials: Credentials;
  verifyToken: string;
  settings: ConversationSettings;
  tokenStatus?: string;
  tokenCheckedAt?: Date;
  tokenExpiresAt?: Date;
  tokenError?: string;
  webhookRegistration?: WebhookRegistration;
  createdAt: Date;
  updatedAt: Date;
}

export interface ChannelRow {
  id: string;
  tenant_id: string;
  provider: Provider;
  name: string;
  status: 'active' | 'disabled';
  phone_number_id: string | null;
  display_phone: string | null;
  account_id: string | null;
  bot_name: string | null;
  credentials: string | null;
  verify_token: string;
  settings: Partial<ConversationSettings> & { callbackUrl?: string };
  token_status: string | null;
  token_checked_at: Date | null;
  token_expires_at: Date | null;
  token_error: string | null;
  webhook_registration_status: 'registered' | 'failed' | null;
  webhook_registered_url: string | null;
  webhook_registration_at: Date | null;
  webhook_registration_error: string | null;
  created_at: Date;
  updated_at: Date;
}
