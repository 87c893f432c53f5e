import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { ProblemException } from '@elo/platform';
import { geocoderProblem, GeocoderService } from '../geocoder/geocoder.service';
import { CheckHistoryService, type ChecksPage } from './check-history.service';
import { CheckDto, checkBody, ChecksQuery } from './check.dto';
import { ChecksService } from './checks.service';

@ApiTags('viability')
@Controller('viability')
export class CheckController {
  constructor(
    private readonly checks: ChecksService,
    private readonly geocoder: GeocoderService,
    private readonly history: CheckHistoryService,
  ) {}

  @Get('checks')
  @RequirePermission('viability:manage')
  @ApiOperation({
    summary: "The tenant's recorded checks, newest first, filtered by outcome, how they came and time; cursor-paginated",
    description: 'Every check is recorded, from HTTP, a chat location or a FindME link. `status=not_viable` or `not_found` lists where customers '
      + 'asked and the network does not serve yet. `nextCursor`, when not null, is the `cursor` of the next page (it keeps the filters).',
  })
  list(@CurrentPrincipal() p: Principal, @Query() q: ChecksQuery): Promise<ChecksPage> {
    return this.history.list(tenantIdOf(p), q);
  }

  @Post()
  @HttpCode(200)
  @RequirePermission('viability:check')
  @ApiOperation({
    summary: 'Can we serve this point (lat, lng) or address? viable / not_viable (network near, nothing eligible) / not_found, with the chosen box, alternatives and refused boxes',
  })
  // The body is validated by checkBody (CheckDto's rules, with a shortcut for plain coordinates), not by the global pipe.
  @ApiBody({ type: CheckDto })
  async check(@CurrentPrincipal() p: Principal, @Body() body: unknown) {
    const dto = await checkBody(body);
    const tenantId = tenantIdOf(p);
    // checkBody gives either numeric coordinates (which win over an address sent with them) or an address.
    if (dto.lat !== undefined && dto.lng !== undefined) return this.checks.run(tenantId, { lat: dto.lat, lng: dto.lng, via: 'coordinates' });
    if (!this.geocoder.configured) throw new ProblemException(422, 'address lookup is not configured here; send lat and lng');
    try {
      return await this.checks.runAddress(undefined, tenantId, dto.address!, {});
    } catch (err) {
      throw geocoderProblem(err);
    }
  }
}
