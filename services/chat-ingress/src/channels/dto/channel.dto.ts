import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsBoolean, IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateNested,
} from 'class-validator';
import { PROVIDERS, type Provider } from '@elo/contracts';

export const PICKUP_NOTICES = ['none', 'simple', 'with_agent_name'] as const;

export class CredentialsDto {
  @ApiPropertyOptional({ description: 'Provider access token (WhatsApp/Messenger/Instagram page token; Telegram bot token).' })
  @IsOptional() @IsString() @MaxLength(4000) accessToken?: string;
  @ApiPropertyOptional({ description: 'Meta app secret: verifies X-Hub-Signature-256.' })
  @IsOptional() @IsString() @MaxLength(500) appSecret?: string;
  @ApiPropertyOptional({ description: 'Meta app id used with the app secret to refresh and check the access token.' })
  @IsOptional() @IsString() @MaxLength(100) refreshAppId?: string;
  @ApiPropertyOptional({ description: 'Telegram secret token (X-Telegram-Bot-Api-Secret-Token); generated when absent.' })
  @IsOptional() @Matches(/^[A-Za-z0-9_-]{1,256}$/) telegramSecretToken?: string;
  @ApiPropertyOptional({ description: 'Generic channel: Standard Webhooks signing secret (whsec_…); generated when absent.' })
  @IsOptional() @Matches(/^whsec_[A-Za-z0-9+/=]{16,}$/) signingSecret?: string;
}

export class ConversationSettingsDto {
  @ApiPropertyOptional({ default: 'bot' }) @IsOptional() @IsString() @IsNotEmpty() @MaxLength(100) botQueue?: string;
  @ApiPropertyOptional({ default: 'human' }) @IsOptional() @IsString() @IsNotEmpty() @MaxLength(100) humanQueue?: string;
  @ApiPropertyOptional({ enum: PICKUP_NOTICES, default: 'simple' }) @IsOptional() @IsIn(PICKUP_NOTICES) pickupNotice?: (typeof PICKUP_NOTICES)[number];
  @ApiPropertyOptional({ description: 'Pickup text; `{agent}` is replaced by the agent name.' }) @IsOptional() @IsString() @MaxLength(1000) pickupMessage?: string;
  @ApiPropertyOptional({ default: true }) @IsOptional() @IsBoolean() notifyOnTransfer?: boolean;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(1000) transferMessage?: string;
  @ApiPropertyOptional({ default: true }) @IsOptional() @IsBoolean() notifyOnWaiting?: boolean;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(1000) waitingMessage?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(1000) closingMessage?: string;
  @ApiPropertyOptional({ default: 16 }) @IsOptional() @IsInt() @Min(1) @Max(100) maxAttachmentMb?: number;
  @ApiPropertyOptional({ description: 'Bot reminder after this many minutes of customer silence (0 = never).', default: 10 })
  @IsOptional() @IsInt() @Min(0) @Max(10080) reminderAfterMinutes?: number;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(1000) reminderMessage?: string;
  @ApiPropertyOptional({ description: 'Close after this many minutes of silence after the reminder (0 = never).', default: 10 })
  @IsOptional() @IsInt() @Min(0) @Max(10080) closeAfterMinutes?: number;
}

export class CreateChannelDto {
  @ApiProperty({ enum: PROVIDERS }) @IsIn(PROVIDERS) provider!: Provider;
  @ApiProperty() @IsString() @IsNotEmpty() @MaxLength(200) name!: string;
  @ApiPropertyOptional({ description: 'WhatsApp phone number id.' }) @IsOptional() @IsString() @MaxLength(100) phoneNumberId?: string;
  @ApiPropertyOptional({ description: 'WhatsApp display phone.' }) @IsOptional() @IsString() @MaxLength(40) displayPhone?: string;
  @ApiPropertyOptional({ description: 'Messenger page id or Instagram account id (WhatsApp: business account id).' })
  @IsOptional() @IsString() @MaxLength(100) accountId?: string;
  @ApiPropertyOptional({ description: 'Telegram bot username.' }) @IsOptional() @IsString() @MaxLength(100) botName?: string;
  @ApiPropertyOptional({ description: 'Generic channel: URL Elo posts outbound messages to (Standard Webhooks signed).' })
  @IsOptional() @Matches(/^https?:\/\/\S+$/) callbackUrl?: string;
  @ApiPropertyOptional({ type: CredentialsDto }) @IsOptional() @ValidateNested() @Type(() => CredentialsDto) credentials?: CredentialsDto;
  @ApiPropertyOptional({ type: ConversationSettingsDto }) @IsOptional() @ValidateNested() @Type(() => ConversationSettingsDto) settings?: ConversationSettingsDto;
}

export class UpdateChannelDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @IsNotEmpty() @MaxLength(200) name?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(100) phoneNumberId?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(40) displayPhone?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(100) accountId?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(100) botName?: string;
  @ApiPropertyOptional() @IsOptional() @Matches(/^https?:\/\/\S+$/) callbackUrl?: string;
  @ApiPropertyOptional({ enum: ['active', 'disabled'] }) @IsOptional() @IsIn(['active', 'disabled']) status?: 'active' | 'disabled';
  @ApiPropertyOptional({ type: CredentialsDto, description: 'Keys given replace the stored ones; others are kept.' })
  @IsOptional() @ValidateNested() @Type(() => CredentialsDto) credentials?: CredentialsDto;
  @ApiPropertyOptional({ type: ConversationSettingsDto, description: 'Merged into the stored settings.' })
  @IsOptional() @ValidateNested() @Type(() => ConversationSettingsDto) settings?: ConversationSettingsDto;
}
