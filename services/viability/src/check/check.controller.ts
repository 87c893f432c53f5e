import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { CheckDto } from './check.dto';
import { ChecksService } from './checks.service';

@ApiTags('viability')
@Controller('viability')
export class CheckController {
  constructor(private readonly checks: ChecksService) {}

  @Post()
  @HttpCode(200)
  @RequirePermission('viability:check')
  @ApiOperation({
    summary: 'Can we serve this point? viable / not_viable (network near, nothing eligible) / not_found, with the chosen box, alternatives and refused boxes',
  })
  check(@CurrentPrincipal() p: Principal, @Body() dto: CheckDto) {
    return this.checks.run(tenantIdOf(p), { lat: dto.lat, lng: dto.lng, via: 'coordinates' });
  }
}
