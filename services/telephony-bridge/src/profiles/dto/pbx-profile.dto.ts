import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, IsArray, IsIn, IsOptional, IsString, Matches, MaxLength, MinLength, ValidateBy, ValidateIf, ValidateNested,
} from 'class-validator';
import { isReservedHeader } from '@elo/http-egress';
import { PRESETS, type Preset } from '../pbx-presets';

/** HttpEgress sets these itself and refuses them from us: saved, every Click2Call or recording request failed (502). */
function IsNotReservedHeader(): PropertyDecorator {
  return ValidateBy({
    name: 'isNotReservedHeader',
    validator: {
      validate: (v: unknown) => typeof v !== 'string' || !isReservedHeader(v),
      defaultMessage: (args) => `header ${String(args?.value)} is set by the HTTP client and cannot be sent to the PBX`,
    },
  });
}

export class HeaderDto {
  @IsString() @Matches(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/) @MaxLength(100) @IsNotReservedHeader() name!: string;
  @IsString() @MaxLength(2000) value!: string;
}

export class PairDto {
  @IsString() @MinLength(1) @MaxLength(200) key!: string;
  @IsString() @MaxLength(2000) value!: string;
}

export class BodyDto {
  @ApiProperty({ enum: ['json', 'form', 'keyvalue'], description: 'json: a JSON template; form: url-encoded pairs; keyvalue: bracket keys built into JSON' })
  @IsIn(['json', 'form', 'keyvalue']) kind!: 'json' | 'form' | 'keyvalue';

  @ValidateIf((b: BodyDto) => b.kind === 'json') @IsString() @MaxLength(20_000) template?: string;

  @ValidateIf((b: BodyDto) => b.kind !== 'json') @IsArray() @ArrayMaxSize(100) @ValidateNested({ each: true }) @Type(() => PairDto)
  pairs?: PairDto[];
}

export class RequestTemplateDto {
  @IsString() @Matches(/^(GET|POST|PUT|PATCH|DELETE)$/i) method!: string;
  @ApiProperty({ example: 'http://pbx.local/click2call?ramal={ramal}&telefone={telefone}' })
  @IsString() @MaxLength(2000) url!: string;
  @IsOptional() @IsArray() @ArrayMaxSize(50) @ValidateNested({ each: true }) @Type(() => HeaderDto) headers?: HeaderDto[];
  @IsOptional() @IsArray() @ArrayMaxSize(50) @ValidateNested({ each: true }) @Type(() => PairDto) query?: PairDto[];
  @IsOptional() @ValidateNested() @Type(() => BodyDto) body?: BodyDto;
}

export class CallIdSourceDto {
  @ApiProperty({ enum: ['text', 'json'] }) @IsIn(['text', 'json']) from!: 'text' | 'json';
  @ApiPropertyOptional({ example: 'data.call.id' })
  @ValidateIf((c: CallIdSourceDto) => c.from === 'json') @IsString() @MinLength(1) @MaxLength(200) path?: string;
}

export class Click2CallDto {
  @ValidateNested() @Type(() => RequestTemplateDto) request!: RequestTemplateDto;
  @ValidateNested() @Type(() => CallIdSourceDto) callId!: CallIdSourceDto;
}

export class RecordingDto {
  @ValidateNested() @Type(() => RequestTemplateDto) request!: RequestTemplateDto;
}

const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^[0-9a-fA-F:.]+$/;

/**
 * Fields shared by create and update. Name and allow-list are declared in each subclass: an
 * inherited @IsOptional would make them optional on create too (class-validator merges rules).
 */
class PbxProfileFieldsDto {
  @ApiPropertyOptional({ description: 'token the PBX sends (header x-callback-token or query token); null removes it', nullable: true })
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsString() @MinLength(16) @MaxLength(200) callbackToken?: string | null;

  @ApiPropertyOptional({ description: 'the PBX auth key, token {chave} (for asterisk-ari: user:password)', nullable: true })
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsString() @MinLength(1) @MaxLength(500) chave?: string | null;

  @ApiPropertyOptional({ description: 'the PBX host (name or IP) outbound requests may reach although private: only private-network addresses (by default 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7); loopback and link-local only if the deployment allows them', nullable: true })
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsString() @MaxLength(253) @Matches(HOST_RE, { message: 'pbxHost must be a host name or an IP address' })
  pbxHost?: string | null;

  @IsOptional() @ValidateNested() @Type(() => Click2CallDto) click2call?: Click2CallDto;
  @IsOptional() @ValidateNested() @Type(() => RecordingDto) recording?: RecordingDto;
}

export class UpdatePbxProfileDto extends PbxProfileFieldsDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @MinLength(1) @MaxLength(100) name?: string;

  @ApiPropertyOptional({ type: [String], example: ['203.0.113.0/24', '198.51.100.7'], description: 'addresses allowed to call the callbacks' })
  @IsOptional() @IsArray() @ArrayMaxSize(100) @IsString({ each: true }) allowedCidrs?: string[];
}

export class CreatePbxProfileDto extends PbxProfileFieldsDto {
  @ApiProperty() @IsString() @MinLength(1) @MaxLength(100) name!: string;

  @ApiProperty({ type: [String], example: ['203.0.113.0/24', '198.51.100.7'], description: 'addresses allowed to call the callbacks' })
  @IsArray() @ArrayMaxSize(100) @IsString({ each: true }) allowedCidrs!: string[];

  @ApiPropertyOptional({ enum: PRESETS, description: 'generic-http or asterisk-ari fill the templates from baseUrl' })
  @IsOptional() @IsIn(PRESETS) preset?: Preset;

  @ApiPropertyOptional({ example: 'http://10.0.0.5:8088' })
  @ValidateIf((d: CreatePbxProfileDto) => d.preset !== undefined && d.preset !== 'custom')
  @IsString() @Matches(/^https?:\/\/[^\s{}]+$/, { message: 'baseUrl must be an http(s) URL without tokens' })
  baseUrl?: string;

  @ApiPropertyOptional({ example: 'from-internal' }) @IsOptional() @IsString() @MaxLength(80) ariContext?: string;
  @ApiPropertyOptional({ example: 'PJSIP/{ramal}' }) @IsOptional() @IsString() @MaxLength(80) ariEndpoint?: string;
}

export class PbxProfileView {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: PRESETS }) preset!: Preset;
  @ApiProperty({ type: [String] }) allowedCidrs!: string[];
  @ApiProperty({ nullable: true, description: 'masked' }) callbackToken!: string | null;
  @ApiProperty({ nullable: true, description: 'masked' }) chave!: string | null;
  @ApiProperty({ nullable: true }) pbxHost!: string | null;
  @ApiProperty({ nullable: true }) click2call!: Click2CallDto | null;
  @ApiProperty({ nullable: true }) recording!: RecordingDto | null;
  @ApiProperty({ description: 'callback paths the PBX calls' }) callbacks!: { answered: string; ended: string };
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;
}
