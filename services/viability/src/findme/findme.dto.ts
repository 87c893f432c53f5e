import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsArray, IsIn, IsLatitude, IsLongitude, IsNotEmpty, IsOptional, IsString, IsUUID, Matches, MaxLength, ValidateNested } from 'class-validator';

export class CreateFindmeDto {
  @ApiProperty({ example: '+5541988445566' }) @Matches(/^\+?[0-9\s().-]{8,25}$/, { message: 'phone must be a phone number: 8 to 15 digits, optionally after a +' }) phone!: string;
  @ApiPropertyOptional() @IsOptional() @IsUUID() conversationId?: string;
  @ApiPropertyOptional() @IsOptional() @IsUUID() channelId?: string;
  @ApiPropertyOptional() @IsOptional() @IsUUID() requestId?: string;
  @ApiPropertyOptional({ description: 'An outside chatbot receives the result here (POST, JSON)' })
  // No U+0000: PostgreSQL text refuses it (a 500 otherwise).
  // eslint-disable-next-line no-control-regex -- U+0000 is what it refuses
  @IsOptional() @Matches(/^https?:\/\/[^\s\u0000]+$/, { message: 'callbackUrl must be an http(s) URL' }) @MaxLength(2000) callbackUrl?: string;
}

export class ConfirmDto {
  @ApiProperty() @IsLatitude() lat!: number;
  @ApiProperty() @IsLongitude() lng!: number;
}

class PairDto {
  @IsString() @MaxLength(200) key!: string;
  @IsString() @MaxLength(2000) value!: string;
}

class HeaderDto {
  @IsString() @MaxLength(200) name!: string;
  @IsString() @MaxLength(2000) value!: string;
}

class BodyDto {
  @IsIn(['keyvalue', 'raw', 'form']) kind!: 'keyvalue' | 'raw' | 'form';
  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => PairDto) pairs?: PairDto[];
  @IsOptional() @IsString() @MaxLength(200) contentType?: string;
  @IsOptional() @IsString() @MaxLength(10_000) template?: string;
}

/** A generic HTTP request template for the SMS provider; tokens: {phone}, {link}, {text}. */
export class SmsTemplateDto {
  @ApiProperty({ example: 'POST' }) @IsString() @IsNotEmpty() @MaxLength(10) method!: string;
  @ApiProperty({ example: 'https://sms.example.com/send' }) @IsString() @MaxLength(2000) url!: string;
  @ApiPropertyOptional() @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => HeaderDto) headers?: HeaderDto[];
  @ApiPropertyOptional() @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => PairDto) query?: PairDto[];
  @ApiPropertyOptional() @IsOptional() @ValidateNested() @Type(() => BodyDto) body?: BodyDto;
  @ApiPropertyOptional({ description: 'SMS text; {link} is the FindME link (Portuguese default)' }) @IsOptional() @IsString() @MaxLength(500) text?: string;
}

export class LocateDto {
  @ApiProperty({ example: 'Rua das Flores, 10, Curitiba' }) @IsString() @IsNotEmpty() @MaxLength(500) @Matches(/\S/, { message: 'address must not be blank' }) address!: string;
}
