import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { ParkedEvents } from '@elo/messaging';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsInt, IsOptional, IsUUID, Max, Min } from 'class-validator';

class ListParkedQuery {
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) limit?: number;
}

class ReplayParkedDto {
  /** Event ids to replay; omit to replay every parked event. */
  @IsOptional() @IsArray() @ArrayMaxSize(10_000) @IsUUID('all', { each: true }) eventIds?: string[];
}

/**
 * The service's parking lot: events that exhausted their retries. Operators list and replay them, each
 * tenant its own events only (the lot is shared; an event holds its tenant's customers' data).
 */
@ApiTags('operations')
@ApiBearerAuth()
@Controller('ops/parked-events')
export class ParkedEventsController {
  constructor(private readonly parked: ParkedEvents) {}

  @Get()
  @RequirePermission('ops:manage')
  @ApiOperation({ summary: "List the tenant's parked events (without removing them)" })
  list(@CurrentPrincipal() p: Principal, @Query() q: ListParkedQuery) {
    return this.parked.list(q.limit ?? 100, tenantIdOf(p));
  }

  @Post('replay')
  @HttpCode(200)
  @RequirePermission('ops:manage')
  @ApiOperation({ summary: "Send the tenant's parked events back to the service queue" })
  async replay(@CurrentPrincipal() p: Principal, @Body() dto: ReplayParkedDto) {
    return { replayed: await this.parked.replay(dto.eventIds, tenantIdOf(p)) };
  }
}
