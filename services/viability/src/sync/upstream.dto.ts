import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsNotEmpty, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';

/** The tenant's network-documentation system. */
export class UpstreamDto {
  @ApiProperty({ example: 'https://ozmap.example.com/api/v2', description: 'Boxes are paged from <baseUrl>/boxes, poles from <baseUrl>/poles' })
  // No U+0000: PostgreSQL text refuses it (a 500 otherwise).
  // eslint-disable-next-line no-control-regex -- U+0000 is what it refuses
  @Matches(/^https?:\/\/[^\s?#\u0000]+$/, { message: 'baseUrl must be an http(s) URL without query or fragment' })
  @MaxLength(2000)
  baseUrl!: string;

  @ApiProperty({ description: 'Sent in the Authorization header (as "Bearer <token>", or verbatim when it has its own scheme); stored encrypted, never returned' })
  @IsString() @IsNotEmpty() @MaxLength(4000)
  token!: string;

  @ApiPropertyOptional({ description: 'Sync on the schedule (default true)' }) @IsOptional() @IsBoolean() enabled?: boolean;
  @ApiPropertyOptional({ description: 'Minutes between scheduled syncs (default 60)' }) @IsOptional() @IsInt() @Min(1) @Max(10_080) intervalMinutes?: number;
  @ApiPropertyOptional({ description: 'The upstream is the source of truth: after a complete sync, boxes and poles it no longer lists are deleted (default false)' })
  @IsOptional() @IsBoolean() prune?: boolean;
  @ApiPropertyOptional({ description: 'Items asked per page (default 500)' }) @IsOptional() @IsInt() @Min(1) @Max(5_000) pageSize?: number;
}
