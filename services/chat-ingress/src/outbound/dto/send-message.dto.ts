import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsOptional, IsString, IsUUID, MaxLength, ValidateNested } from 'class-validator';
import { ContactIdentity, OutboundMessage } from '@elo/contracts';

export class SendMessageDto {
  @ApiPropertyOptional({ description: 'Your id for the message (idempotency key); generated when absent.' })
  @IsOptional() @IsUUID() messageId?: string;
  @ApiPropertyOptional({ description: 'Send into this conversation (channel and contact come from it).' })
  @IsOptional() @IsUUID() conversationId?: string;
  @ApiPropertyOptional({ description: 'With `contact`: send to a contact on this channel.' })
  @IsOptional() @IsUUID() channelId?: string;
  @ApiPropertyOptional({ description: 'Phone (E.164 or Brazilian with/without ninth digit) or provider user id.' })
  @IsOptional() @ValidateNested() @Type(() => ContactIdentity) contact?: ContactIdentity;
  @ApiProperty({ description: 'kind text | template | media | location, with its fields.' })
  @ValidateNested() @Type(() => OutboundMessage) message!: OutboundMessage;
  @ApiPropertyOptional({ description: 'Who asks, e.g. agent:<id>.' }) @IsOptional() @IsString() @MaxLength(200) origin?: string;
}
