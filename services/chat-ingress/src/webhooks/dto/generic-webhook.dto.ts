import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, IsArray, IsIn, isISO8601, IsLatitude, IsLongitude, IsNotEmpty, IsNumber, IsObject, IsOptional, IsString, MaxLength,
  ValidateBy, ValidateNested,
} from 'class-validator';
import { storableTime } from '../normalised';

/** RFC 3339 and storable: PostgreSQL holds the years 1 to 9999 only. */
const IsStorableTime = () =>
  ValidateBy({
    name: 'isStorableTime',
    validator: {
      validate: (v: unknown) => typeof v === 'string' && isISO8601(v) && storableTime(new Date(v)),
      defaultMessage: () => '$property must be an RFC 3339 time between the years 0001 and 9999',
    },
  });

export class GenericContactDto {
  @ApiProperty({ description: 'The platform\'s own id for the customer (unique per channel).' })
  @IsString() @IsNotEmpty() @MaxLength(200) id!: string;
  @ApiPropertyOptional({ description: 'Phone in any format; normalised to E.164.' })
  @IsOptional() @IsString() @MaxLength(40) phone?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(300) name?: string;
}

export class GenericMediaDto {
  @ApiProperty({ enum: ['image', 'audio', 'video', 'document', 'sticker'] })
  @IsIn(['image', 'audio', 'video', 'document', 'sticker']) kind!: string;
  @ApiPropertyOptional() @IsOptional() @IsString() url?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() mimeType?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() caption?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() filename?: string;
}

/**
 * As the event contract's GeoPoint takes it (a location it refuses would fail the whole webhook, not just
 * this event): numbers (IsLatitude alone also passes "-25.4"), name and address within its lengths.
 */
export class GenericLocationDto {
  @ApiProperty() @IsNumber() @IsLatitude() lat!: number;
  @ApiProperty() @IsNumber() @IsLongitude() lng!: number;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(500) name?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(1000) address?: string;
}

export class GenericReplyDto {
  @ApiProperty() @IsString() @IsNotEmpty() id!: string;
  @ApiPropertyOptional() @IsOptional() @IsString() title?: string;
}

export class GenericMessageDto {
  @ApiProperty({ enum: ['text', 'media', 'location', 'reply', 'contacts'] })
  @IsIn(['text', 'media', 'location', 'reply', 'contacts']) kind!: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(4096) text?: string;
  @ApiPropertyOptional({ type: GenericMediaDto }) @IsOptional() @ValidateNested() @Type(() => GenericMediaDto) media?: GenericMediaDto;
  @ApiPropertyOptional({ type: GenericLocationDto }) @IsOptional() @ValidateNested() @Type(() => GenericLocationDto) location?: GenericLocationDto;
  @ApiPropertyOptional({ type: GenericReplyDto }) @IsOptional() @ValidateNested() @Type(() => GenericReplyDto) reply?: GenericReplyDto;
  @ApiPropertyOptional({ type: [Object] }) @IsOptional() @IsArray() contacts?: Array<Record<string, unknown>>;
}

export class GenericErrorDto {
  @ApiProperty() @IsString() @IsNotEmpty() code!: string;
  @ApiPropertyOptional() @IsOptional() @IsString() title?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() details?: string;
}

/** One chat event a platform posts: a customer message, or the status of a message Elo sent. */
export class GenericEventDto {
  @ApiProperty({ enum: ['message', 'status'] }) @IsIn(['message', 'status']) type!: 'message' | 'status';
  @ApiProperty({ description: 'message: the platform\'s message id (unique per channel); status: the id of the message Elo sent (as the platform answered it).' })
  @IsString() @IsNotEmpty() @MaxLength(300) id!: string;
  @ApiProperty({ description: 'RFC 3339 time the platform saw the message or status.' }) @IsStorableTime() timestamp!: string;
  @ApiPropertyOptional({ type: GenericContactDto, description: 'Required for messages.' })
  @IsOptional() @ValidateNested() @Type(() => GenericContactDto) contact?: GenericContactDto;
  @ApiPropertyOptional({ type: GenericMessageDto, description: 'Required for messages.' })
  @IsOptional() @ValidateNested() @Type(() => GenericMessageDto) message?: GenericMessageDto;
  @ApiPropertyOptional({ enum: ['sent', 'delivered', 'read', 'failed'], description: 'Required for statuses.' })
  @IsOptional() @IsIn(['sent', 'delivered', 'read', 'failed']) status?: string;
  @ApiPropertyOptional({ type: GenericErrorDto }) @IsOptional() @ValidateNested() @Type(() => GenericErrorDto) error?: GenericErrorDto;
  @ApiPropertyOptional({ type: Object }) @IsOptional() @IsObject() extra?: Record<string, unknown>;
}

/**
 * Body of `POST /webhooks/generic/:channelId`, signed with Standard Webhooks (`webhook-id`,
 * `webhook-timestamp`, `webhook-signature`; the channel's signing secret). Each event is checked on
 * its own: an invalid one is stored and marked, its neighbours go on.
 */
export class GenericWebhookDto {
  @ApiProperty({ type: [GenericEventDto] }) @IsArray() @ArrayMaxSize(1000) events!: GenericEventDto[];
}
