import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsISO8601, IsOptional, IsString, IsUUID, ValidateNested } from 'class-validator';
import { ProviderError, PROVIDERS, type Provider } from './common';

export const MESSAGE_STATES = ['queued', 'sent', 'delivered', 'read', 'failed'] as const;
export type MessageState = (typeof MESSAGE_STATES)[number];

export class MessageStatusChanged {
  @IsUUID() messageId!: string;
  @IsOptional() @IsUUID() channelId?: string;
  @IsOptional() @IsIn(PROVIDERS) provider?: Provider;
  @IsOptional() @IsUUID() conversationId?: string;
  @IsOptional() @IsIn(MESSAGE_STATES) previousStatus?: MessageState;
  @IsIn(MESSAGE_STATES) status!: MessageState;
  @IsISO8601() at!: string;
}

export class MessageFailed {
  @IsUUID() messageId!: string;
  @IsOptional() @IsUUID() channelId?: string;
  @IsOptional() @IsIn(PROVIDERS) provider?: Provider;
  @IsOptional() @IsUUID() conversationId?: string;
  @IsString() reason!: string;
  @IsBoolean() retryable!: boolean;
  @IsOptional() @ValidateNested() @Type(() => ProviderError) error?: ProviderError;
  @IsISO8601() at!: string;
}
