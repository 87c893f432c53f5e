import { Type } from 'class-transformer';
import {
  IsArray, IsBoolean, IsIn, IsISO8601, IsLatitude, IsLongitude, IsNotEmpty, IsNumber, IsObject, IsOptional,
  IsString, MaxLength, ValidateNested,
} from 'class-validator';

export const PROVIDERS = ['whatsapp', 'messenger', 'instagram', 'telegram', 'generic'] as const;
export type Provider = (typeof PROVIDERS)[number];

export class GeoPoint {
  @IsLatitude() lat!: number;
  @IsLongitude() lng!: number;
  @IsOptional() @IsString() @MaxLength(500) name?: string;
  @IsOptional() @IsString() @MaxLength(1000) address?: string;
}

/** Who the customer is on a channel, and what the bot or agents collected about them so far. */
export class ContactIdentity {
  /** E.164 phone, when the provider gives one. */
  @IsOptional() @IsString() @MaxLength(20) phone?: string;
  /** The provider's own user id: WhatsApp business-scoped user id, PSID, IGSID, Telegram chat id. */
  @IsOptional() @IsString() @MaxLength(200) providerUserId?: string;
  @IsOptional() @IsString() @MaxLength(300) name?: string;
  /** Collected attributes: name, email, cpf, cnpj, address and any custom field. */
  @IsOptional() @IsObject() attributes?: Record<string, string>;
}

export class ProviderError {
  @IsString() @IsNotEmpty() code!: string;
  @IsOptional() @IsString() title?: string;
  @IsOptional() @IsString() details?: string;
}

export class MediaRef {
  @IsIn(['image', 'audio', 'video', 'document', 'sticker']) kind!: string;
  @IsOptional() @IsString() id?: string;
  @IsOptional() @IsString() url?: string;
  @IsOptional() @IsString() mimeType?: string;
  @IsOptional() @IsString() caption?: string;
  @IsOptional() @IsString() filename?: string;
  @IsOptional() @IsNumber() sizeBytes?: number;
}

export class ReplyRef {
  @IsString() id!: string;
  @IsOptional() @IsString() title?: string;
}

export const MESSAGE_KINDS = ['text', 'media', 'location', 'reply', 'contacts', 'unsupported'] as const;

export class InboundMessage {
  @IsIn(MESSAGE_KINDS) kind!: (typeof MESSAGE_KINDS)[number];
  @IsOptional() @IsString() text?: string;
  @IsOptional() @ValidateNested() @Type(() => MediaRef) media?: MediaRef;
  @IsOptional() @ValidateNested() @Type(() => GeoPoint) location?: GeoPoint;
  @IsOptional() @ValidateNested() @Type(() => ReplyRef) reply?: ReplyRef;
  @IsOptional() @IsArray() contacts?: Array<Record<string, unknown>>;
  /** The provider's own type name for unsupported messages. */
  @IsOptional() @IsString() providerType?: string;
  /**
   * The customer edited a message sent earlier (Telegram's edited messages, and each move of a live location):
   * this carries its new content. It answers nothing: the bot flow and viability's chat check leave it.
   */
  @IsOptional() @IsBoolean() edited?: boolean;
  /**
   * Messenger's Handover Protocol: the thread is another app's (a person in the Page Inbox, or another bot) and this
   * came on the standby channel. Stored and published for agents and integrations; the bot flow does not answer it.
   */
  @IsOptional() @IsBoolean() standby?: boolean;
}

export const OUTBOUND_KINDS = ['text', 'template', 'media', 'location'] as const;

export class TemplateRef {
  @IsString() @IsNotEmpty() name!: string;
  @IsString() @IsNotEmpty() language!: string;
  @IsOptional() @IsArray() components?: Array<Record<string, unknown>>;
}

export class OutboundButton {
  @IsString() id!: string;
  @IsString() @MaxLength(20) title!: string;
}

/** A chat message's text at most (OutboundMessage.text). */
export const MAX_CHAT_TEXT = 4096;

/**
 * A text cut to what a chat message may hold, ending in `…`; never between the two halves of a surrogate pair (an
 * emoji), as a lone surrogate is no text PostgreSQL keeps. For texts built from parts (a reply rendered from a long
 * answer, a step's text around it): a longer one would be refused as an event, and its handler would fail until parked.
 * `max`: a channel's own, smaller limit (Messenger's, Instagram's).
 */
export function fitChatText(text: string, max = MAX_CHAT_TEXT): string {
  if (text.length <= max) return text;
  const end = /[\uD800-\uDBFF]/.test(text[max - 2]!) ? max - 2 : max - 1;
  return `${text.slice(0, end)}…`;
}

export class OutboundMessage {
  @IsIn(OUTBOUND_KINDS) kind!: (typeof OUTBOUND_KINDS)[number];
  @IsOptional() @IsString() @MaxLength(MAX_CHAT_TEXT) text?: string;
  @IsOptional() @ValidateNested() @Type(() => TemplateRef) template?: TemplateRef;
  @IsOptional() @ValidateNested() @Type(() => MediaRef) media?: MediaRef;
  @IsOptional() @ValidateNested() @Type(() => GeoPoint) location?: GeoPoint;
  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => OutboundButton) buttons?: OutboundButton[];
}

export { IsBoolean, IsISO8601 };
