import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsObject, IsOptional, IsString, IsUUID, MaxLength, ValidateNested } from 'class-validator';
import { ContactIdentity, OUTBOUND_KINDS, OutboundMessage } from '@elo/contracts';

// The event classes of @elo/contracts carry no OpenAPI metadata: their shapes, written out for the document.
const text = (maxLength?: number, description?: string) => ({ type: 'string' as const, ...(maxLength ? { maxLength } : {}), ...(description ? { description } : {}) });
const CONTACT_SCHEMA = {
  type: 'object' as const,
  properties: {
    phone: text(20, 'Phone, E.164 or Brazilian with or without the ninth digit.'),
    providerUserId: text(200, 'The provider\'s own user id: WhatsApp business-scoped user id, PSID, IGSID, Telegram chat id.'),
    name: text(300),
    attributes: { type: 'object' as const, additionalProperties: { type: 'string' as const } },
  },
};
const MESSAGE_SCHEMA = {
  type: 'object' as const,
  required: ['kind'],
  properties: {
    kind: { type: 'string' as const, enum: [...OUTBOUND_KINDS] },
    text: text(4096, 'kind text (and the body of its buttons). Messenger takes at most 2,000 characters, Instagram 1,000, WhatsApp 1,024 under one to three buttons.'),
    template: {
      type: 'object' as const, required: ['name', 'language'], description: 'kind template (WhatsApp).',
      properties: { name: text(), language: text(), components: { type: 'array' as const, items: { type: 'object' as const } } },
    },
    media: {
      type: 'object' as const, required: ['kind'], description: 'kind media: a provider media id or a URL.',
      properties: {
        kind: { type: 'string' as const, enum: ['image', 'audio', 'video', 'document', 'sticker'] },
        id: text(), url: text(), mimeType: text(), caption: text(undefined, 'Not on Messenger or Instagram (422): send it as a text.'), filename: text(), sizeBytes: { type: 'number' as const },
      },
    },
    location: {
      type: 'object' as const, required: ['lat', 'lng'], description: 'kind location.',
      properties: { lat: { type: 'number' as const, minimum: -90, maximum: 90 }, lng: { type: 'number' as const, minimum: -180, maximum: 180 }, name: text(500), address: text(1000) },
    },
    buttons: {
      type: 'array' as const, description: 'Reply buttons under a text: WhatsApp at most 10 (more than 3 go as a list), Messenger and Instagram 13, Telegram 100 with ids of 1 to 64 bytes.',
      items: { type: 'object' as const, required: ['id', 'title'], properties: { id: text(), title: text(20) } },
    },
  },
};

export class SendMessageDto {
  @ApiPropertyOptional({ description: 'Your id for the message (idempotency key); generated when absent.' })
  @IsOptional() @IsUUID() messageId?: string;
  @ApiPropertyOptional({ description: 'Send into this conversation (channel and contact come from it).' })
  @IsOptional() @IsUUID() conversationId?: string;
  @ApiPropertyOptional({ description: 'With `contact`: send to a contact on this channel.' })
  @IsOptional() @IsUUID() channelId?: string;
  @ApiPropertyOptional({ description: 'Phone (E.164 or Brazilian with/without ninth digit) or provider user id.', ...CONTACT_SCHEMA })
  @IsOptional() @ValidateNested() @Type(() => ContactIdentity) contact?: ContactIdentity;
  @ApiProperty({ description: 'kind text | template | media | location, with its fields.', ...MESSAGE_SCHEMA })
  @IsObject() @ValidateNested() @Type(() => OutboundMessage) message!: OutboundMessage;
  @ApiPropertyOptional({ description: 'Who asks, e.g. agent:<id>.' }) @IsOptional() @IsString() @MaxLength(200) origin?: string;
}
