import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { DeliveriesQuery, IdParam, PageQuery, SampleEventDto } from '../integrations/dto/integration.dto';
import { DeliveriesService, type Page } from './deliveries.service';

const NEXT_CURSOR_HEADER = {
  'X-Next-Cursor': { description: 'The `cursor` of the next page; absent on the last page', schema: { type: 'string' } },
};

/** The page's items as the body (the shape clients already read) and the next cursor as a header. */
function paged(res: Response, page: Page): unknown[] {
  if (page.nextCursor) res.setHeader('X-Next-Cursor', page.nextCursor);
  return page.items;
}

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
  @ApiOperation({
    summary: "An integration's deliveries, newest first (stable order), filtered by outcome and time range; cursor-paginated",
    description: 'The body is one page (an array). When more follow, the `X-Next-Cursor` header carries the cursor of the next page: '
      + 'pass it as `cursor` (the filters of the first page are kept in it). No header: last page.',
  })
  @ApiOkResponse({ description: 'One page of deliveries', headers: NEXT_CURSOR_HEADER })
  async list(
    @CurrentPrincipal() p: Principal, @Param() params: IdParam, @Query() q: DeliveriesQuery, @Res({ passthrough: true }) res: Response,
  ): Promise<unknown[]> {
    return paged(res, await this.deliveries.list(tenantIdOf(p), params.id, q));
  }

  @Get('deliveries/:id/attempts')
  @RequirePermission('integrations:read')
  @ApiOperation({
    summary: 'Every attempt of a delivery, first to last: request (secrets masked), response, duration, error class; cursor-paginated',
    description: 'The body is one page (an array); the `X-Next-Cursor` header, when present, is the `cursor` of the next page.',
  })
  @ApiOkResponse({ description: 'One page of attempts', headers: NEXT_CURSOR_HEADER })
  async attempts(
    @CurrentPrincipal() p: Principal, @Param() params: IdParam, @Query() q: PageQuery, @Res({ passthrough: true }) res: Response,
  ): Promise<unknown[]> {
    return paged(res, await this.deliveries.attempts(tenantIdOf(p), params.id, q));
  }

  @Post('deliveries/:id/resend')
  @HttpCode(202)
  @RequirePermission('integrations:manage')
  @ApiOperation({ summary: 'Send a finished delivery again (same webhook-id), with a fresh retry schedule' })
  resend(@CurrentPrincipal() p: Principal, @Param() params: IdParam): Promise<{ id: string; outcome: string }> {
    return this.deliveries.resend(tenantIdOf(p), params.id);
  }
}
