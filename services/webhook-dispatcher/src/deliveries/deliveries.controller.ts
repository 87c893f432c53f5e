import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { DeliveriesQuery, IdParam, SampleEventDto } from '../integrations/dto/integration.dto';
import { DeliveriesService } from './deliveries.service';

/** Preview and test an integration; list its deliveries, their attempts; resend one. */
@ApiTags('deliveries')
@ApiBearerAuth()
@Controller()
export class DeliveriesController {
  constructor(private readonly deliveries: DeliveriesService) {}

  @Post('integrations/:id/preview')
  @HttpCode(200)
  @RequirePermission('integrations:read')
  @ApiOperation({ summary: 'Render the request for a sample event without sending it (secrets masked; builtJson shown)' })
  preview(@CurrentPrincipal() p: Principal, @Param() params: IdParam, @Body() sample: SampleEventDto): Promise<unknown> {
    return this.deliveries.preview(tenantIdOf(p), params.id, sample);
  }

  @Post('integrations/:id/test')
  @HttpCode(200)
  @RequirePermission('integrations:manage')
  @ApiOperation({ summary: 'Render and send the request now; returns the request as sent (secrets masked), the response and the duration' })
  test(@CurrentPrincipal() p: Principal, @Param() params: IdParam, @Body() sample: SampleEventDto): Promise<unknown> {
    return this.deliveries.test(tenantIdOf(p), params.id, sample);
  }

  @Get('integrations/:id/deliveries')
  @RequirePermission('integrations:read')
  @ApiOperation({ summary: "An integration's deliveries, newest first, filtered by outcome and time range" })
  list(@CurrentPrincipal() p: Principal, @Param() params: IdParam, @Query() q: DeliveriesQuery): Promise<unknown[]> {
    return this.deliveries.list(tenantIdOf(p), params.id, q);
  }

  @Get('deliveries/:id/attempts')
  @RequirePermission('integrations:read')
  @ApiOperation({ summary: "Every attempt of a delivery: request (secrets masked), response, duration, error class" })
  attempts(@CurrentPrincipal() p: Principal, @Param() params: IdParam): Promise<unknown[]> {
    return this.deliveries.attempts(tenantIdOf(p), params.id);
  }

  @Post('deliveries/:id/resend')
  @HttpCode(202)
  @RequirePermission('integrations:manage')
  @ApiOperation({ summary: 'Send a finished delivery again (same webhook-id), with a fresh retry schedule' })
  resend(@CurrentPrincipal() p: Principal, @Param() params: IdParam): Promise<{ id: string; outcome: string }> {
    return this.deliveries.resend(tenantIdOf(p), params.id);
  }
}
