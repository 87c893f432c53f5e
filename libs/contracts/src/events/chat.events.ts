import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsISO8601, IsNotEmpty, IsOptional, IsString, IsUUID, ValidateNested } from 'class-validator';
import { ContactIdentity, InboundMessage, OutboundMessage, ProviderError, PROVIDERS, type Provider } from './common';

export class ChatMessageReceived {
  @IsUUID() channelId!: string;
  @IsIn(PROVIDERS) provider!: Provider;
  @IsUUID() conversationId!: string;
  @IsString() @IsNotEmpty() providerMessageId!: string;
  @ValidateNested() @Type(() => ContactIdentity) contact!: ContactIdentity;
  @ValidateNested() @Type(() => InboundMessage) message!: InboundMessage;
  @IsISO8601() providerTimestamp!: string;
  /**
   * The conversation's bot flow was waiting for a location when this message arrived: the flow checks it
   * and answers (viability's chat-location check leaves it). Set only on `location` messages.
   */
  @IsOptional() @IsBoolean() flowAwaitsLocation?: boolean;
}

export class ChatMessageSendRequested {
  /** Id the requester gives the message; message-status tracks it from `queued` on. */
  @IsUUID() messageId!: string;
  @IsOptional() @IsUUID() conversationId?: string;
  @IsOptional() @IsUUID() channelId?: string;
  @IsOptional() @ValidateNested() @Type(() => ContactIdentity) contact?: ContactIdentity;
  @ValidateNested() @Type(() => OutboundMessage) message!: OutboundMessage;
  /** Who asked: `bot`, `agent:<id>`, `integration:<id>`, `viability`. */
  @IsOptional() @IsString() origin?: string;
}

export class ChatMessageSent {
  @IsUUID() messageId!: string;
  @IsUUID() channelId!: string;
  @IsIn(PROVIDERS) provider!: Provider;
  @IsOptional() @IsUUID() conversationId?: string;
  @IsString() @IsNotEmpty() providerMessageId!: string;
  @IsISO8601() sentAt!: string;
}

export const PROVIDER_STATUSES = ['sent', 'delivered', 'read', 'failed'] as const;
export type ProviderStatus = (typeof PROVIDER_STATUSES)[number];

export class ChatMessageStatus {
  /** Elo's message id when known (failures at send time); providers' callbacks carry providerMessageId. */
  @IsOptional() @IsUUID() messageId?: string;
  @IsOptional() @IsString() providerMessageId?: string;
  @IsUUID() channelId!: string;
  @IsIn(PROVIDERS) provider!: Provider;
  @IsIn(PROVIDER_STATUSES) status!: ProviderStatus;
  @IsISO8601() providerTimestamp!: string;
  @IsOptional() @ValidateNested() @Type(() => ProviderError) error?: ProviderError;
  /** Failure classification decided at send time (chat-ingress); message-status classifies callbacks itself. */
  @IsOptional() @IsString() reason?: string;
}

export class ConversationOpened {
  @IsUUID() conversationId!: string;
  @IsUUID() channelId!: string;
  @IsIn(PROVIDERS) provider!: Provider;
  @ValidateNested() @Type(() => ContactIdentity) contact!: ContactIdentity;
  @IsString() @IsNotEmpty() queue!: string;
}

export class ConversationTransferred {
  @IsUUID() conversationId!: string;
  @IsUUID() channelId!: string;
  @IsString() fromQueue!: string;
  @IsString() @IsNotEmpty() toQueue!: string;
  @IsOptional() @IsString() agentId?: string;
  @IsOptional() @IsString() reason?: string;
  /** The conversation's contact as it is now, with its attributes: an integration this event triggers can use them. */
  @IsOptional() @ValidateNested() @Type(() => ContactIdentity) contact?: ContactIdentity;
}

export class ConversationClosed {
  @IsUUID() conversationId!: string;
  @IsUUID() channelId!: string;
  @IsString() @IsNotEmpty() reason!: string;
  /** The conversation's contact as it is now, with its attributes: an integration this event triggers can use them. */
  @IsOptional() @ValidateNested() @Type(() => ContactIdentity) contact?: ContactIdentity;
}

/** Asks the conversation's channel to transfer it (published by any service; handled by chat-ingress). */
export class ConversationTransferRequested {
  @IsUUID() conversationId!: string;
  /** Absent: the channel's human-attendance queue (its settings.humanQueue). */
  @IsOptional() @IsString() @IsNotEmpty() toQueue?: string;
  @IsOptional() @IsString() agentId?: string;
}

/** A conversation took one step of its tenant's bot flow (chat-ingress). */
export class ChatFlowStep {
  @IsUUID() conversationId!: string;
  @IsUUID() channelId!: string;
  @IsUUID() flowId!: string;
  @IsString() @IsNotEmpty() stepId!: string;
  /** message, menu, question, integration, viability, transfer, close, reminder. */
  @IsString() @IsNotEmpty() stepType!: string;
  /** What happened: entered, answered, invalid, branched, waiting, timed_out. */
  @IsString() @IsNotEmpty() outcome!: string;
  @IsOptional() @IsString() nextStepId?: string;
}

/** A channel's provider token is about to expire (`expiring`) or no longer works (`invalid`). */
export class ChatChannelTokenProblem {
  @IsUUID() channelId!: string;
  @IsIn(PROVIDERS) provider!: Provider;
  @IsOptional() @IsISO8601() expiresAt?: string;
  @IsOptional() @IsString() reason?: string;
  @IsISO8601() checkedAt!: string;
}
