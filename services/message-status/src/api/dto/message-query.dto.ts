import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { MESSAGE_STATES, PROVIDERS, type MessageState } from '@elo/contracts';
import { Type } from 'class-transformer';
import { IsTimestamp } from '@elo/platform';
import { IsIn, IsInt, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min } from 'class-validator';

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
  // No U+0000: PostgreSQL refuses it even in a query's parameter (a 500 otherwise); no reason holds one.
  // eslint-disable-next-line no-control-regex -- U+0000 is what it refuses
  @IsOptional() @IsString() @MaxLength(64) @Matches(/^[^\u0000]*$/, { message: 'reason cannot hold the NUL character (U+0000)' }) reason?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 200, default: 50 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(200) limit?: number;

  @ApiPropertyOptional({ description: 'The `nextCursor` of the previous page; it keeps the filters of the first page (the same ones may be given again, others not).' })
  @IsOptional() @IsString() @MaxLength(1000) cursor?: string;
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

  @ApiPropertyOptional({
    enum: ['exclude', 'include'], default: 'exclude',
    description: 'Integration failures a later success of the same delivery resolved: left off the board unless `include` (then each example says when, `resolvedAt`).',
  })
  @IsOptional() @IsIn(['exclude', 'include']) resolved?: 'exclude' | 'include';
}

export class MessageIdParam {
  @ApiProperty({ format: 'uuid' })
  @IsUUID() id!: string;
}

