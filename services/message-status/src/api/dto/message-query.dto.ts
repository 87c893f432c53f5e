import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { MESSAGE_STATES, PROVIDERS, type MessageState } from '@elo/contracts';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsISO8601, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min } from 'class-validator';

/**
 * The ISO 8601 times PostgreSQL reads as timestamptz: a calendar date (year 1 on), optionally with a time (hours
 * and minutes at least; a fraction after a dot) and an offset. Other forms IsISO8601 allows (`2026`, `2026-W01`,
 * `2026-01-05T10`, a comma fraction, year 0) made the query fail: a 500 instead of a 400.
 */
const TIMESTAMP = /^(?!0000)\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;
const TIMESTAMP_MESSAGE = '$property must be a date (YYYY-MM-DD), optionally with a time (THH:MM[:SS[.ffffff]]) and an offset (Z or ±HH:MM)';
/** An instant a range is given by (strict: no 30 February). */
const IsTimestamp = (): PropertyDecorator => (target, key) => {
  IsISO8601({ strict: true })(target, key);
  Matches(TIMESTAMP, { message: TIMESTAMP_MESSAGE })(target, key);
};

/** Time range and channel filter shared by every read. */
export class RangeQuery {
  @ApiPropertyOptional({ description: 'Only messages created at or after this instant (RFC 3339).' })
  @IsOptional() @IsTimestamp() from?: string;

  @ApiPropertyOptional({ description: 'Only messages created before this instant (RFC 3339).' })
  @IsOptional() @IsTimestamp() to?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional() @IsUUID() channelId?: string;

  @ApiPropertyOptional({ enum: PROVIDERS })
  @IsOptional() @IsIn(PROVIDERS) provider?: string;
}

export class ListMessagesQuery extends RangeQuery {
  @ApiPropertyOptional({ enum: MESSAGE_STATES })
  @IsOptional() @IsIn(MESSAGE_STATES) status?: MessageState;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional() @IsUUID() conversationId?: string;

  @ApiPropertyOptional({ description: 'Only failed messages with this classified reason.' })
  @IsOptional() @IsString() @MaxLength(64) reason?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 200, default: 50 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(200) limit?: number;

  @ApiPropertyOptional({ description: 'The `nextCursor` of the previous page.' })
  @IsOptional() @IsString() @MaxLength(200) cursor?: string;
}

export const BUCKETS = ['minute', 'hour', 'day'] as const;

export class StatsQuery extends RangeQuery {
  @ApiPropertyOptional({ enum: BUCKETS, default: 'minute' })
  @IsOptional() @IsIn(BUCKETS) bucket?: (typeof BUCKETS)[number];
}

export class FailuresQuery extends RangeQuery {
  @ApiPropertyOptional({ description: 'Only failures that happened at or after this instant (RFC 3339): when the message failed, not when it was created.' })
  @IsOptional() @IsTimestamp() declare from?: string;

  @ApiPropertyOptional({ description: 'Only failures that happened before this instant (RFC 3339).' })
  @IsOptional() @IsTimestamp() declare to?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 20, default: 5, description: 'Latest examples per reason.' })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(20) examples?: number;
}

export class MessageIdParam {
  @ApiProperty({ format: 'uuid' })
  @IsUUID() id!: string;
}

