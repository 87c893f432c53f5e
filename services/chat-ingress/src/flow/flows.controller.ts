import { Body, Controller, Get, Param, ParseIntPipe, Put, UsePipes } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal as AuthPrincipal } from '@elo/auth';
import { ProblemException, StorableInput } from '@elo/platform';
import { FlowsService } from './flows.service';

type Principal = AuthPrincipal;

@ApiTags('bot flow')
@Controller('flow')
// Text with U+0000 or a lone surrogate is kept with U+FFFD in its place (PostgreSQL refuses them: a 500), as in conversations.
@UsePipes(StorableInput)
export class FlowsController {
  constructor(private readonly flows: FlowsService) {}

  @Put()
  @RequirePermission('channels:manage')
  @ApiOperation({ summary: 'Save the tenant\'s bot flow as a new version (conversations already inside keep theirs).' })
  @ApiBody({ schema: { type: 'object', required: ['start', 'steps'], properties: { start: { type: 'string' }, steps: { type: 'object', additionalProperties: { type: 'object', description: 'message | menu | question | integration | viability | transfer | close' } } } } })
  save(@CurrentPrincipal() p: Principal, @Body() body: unknown) {
    return this.flows.save(tenantIdOf(p), body);
  }

  @Get()
  @RequirePermission('channels:manage')
  async latest(@CurrentPrincipal() p: Principal) {
    const v = await this.flows.latest(tenantIdOf(p));
    if (!v) throw new ProblemException(404, 'this tenant has no bot flow yet');
    return v;
  }

  @Get('versions')
  @RequirePermission('channels:manage')
  versions(@CurrentPrincipal() p: Principal) {
    return this.flows.list(tenantIdOf(p));
  }

  @Get('versions/:version')
  @RequirePermission('channels:manage')
  version(@CurrentPrincipal() p: Principal, @Param('version', ParseIntPipe) version: number) {
    return this.flows.version(tenantIdOf(p), version);
  }
}
