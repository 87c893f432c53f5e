import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, isUUID, Max, MaxLength, Min, ValidateBy, ValidateNested } from 'class-validator';

/** `{ "<channel uuid>": true | false | null }`, at most 1,000 channels. */
const IsChannelSwitches = () =>
  ValidateBy({
    name: 'isChannelSwitches',
    validator: {
      validate: (v: unknown) =>
        !!v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length <= 1_000 &&
        Object.entries(v as Record<string, unknown>).every(([k, x]) => isUUID(k) && (x === true || x === false || x === null)),
      defaultMessage: () => 'chatLocationChannels must map channel ids (UUIDs) to true, false or null (at most 1,000)',
    },
  });

/** What a reply template may name; any other `{…}` would reach the customer as typed. */
const PLACEHOLDERS = ['{box}', '{distance}'];
const unknownPlaceholders = (v: unknown) => (typeof v === 'string' ? (v.match(/\{[^{}]+\}/g) ?? []).filter((p) => !PLACEHOLDERS.includes(p)) : []);

/** A reply template whose `{…}` are all placeholders the reply fills in (`{caixa}` was sent to customers as it was). */
const IsReplyTemplate = () =>
  ValidateBy({
    name: 'isReplyTemplate',
    validator: {
      validate: (v: unknown) => unknownPlaceholders(v).length === 0,
      defaultMessage: (a) => `$property names ${[...new Set(unknownPlaceholders(a?.value))].join(', ')}, which the reply does not fill in: the placeholders are ${PLACEHOLDERS.join(' and ')}`,
    },
  });

export class RepliesDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(1000) @IsReplyTemplate() viable?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(1000) @IsReplyTemplate() not_viable?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(1000) @IsReplyTemplate() not_found?: string;
}

export class SettingsDto {
  @ApiPropertyOptional({ description: 'Maximum drop distance in metres (default 150)' })
  @IsOptional() @IsInt() @Min(1) @Max(5000) maxDropMeters?: number;
  @ApiPropertyOptional({ enum: ['radius', 'pole'] }) @IsOptional() @IsIn(['radius', 'pole']) mode?: 'radius' | 'pole';
  @ApiPropertyOptional({ description: 'Check location messages customers send in the chat, and reply' })
  @IsOptional() @IsBoolean() chatLocationChecks?: boolean;
  @ApiPropertyOptional({
    description: 'Per channel id: true or false overrides chatLocationChecks for that channel; null removes the override',
    example: { '0b9f4c2e-6a51-4f1e-9d7c-3f8a2b1c0d4e': true },
  })
  @IsOptional() @IsChannelSwitches() chatLocationChannels?: Record<string, boolean | null>;
  @ApiPropertyOptional({ type: RepliesDto, description: 'Reply templates per outcome; {box} and {distance} are filled in' })
  @IsOptional() @ValidateNested() @Type(() => RepliesDto) replies?: RepliesDto;
}
