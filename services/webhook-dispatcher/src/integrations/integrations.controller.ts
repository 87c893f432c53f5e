import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { CreateIntegrationDto, IdParam, UpdateIntegrationDto, type IntegrationView } from './dto/integration.dto';
import { IntegrationsService } from './integrations.service';

/** Integrations admins configure: HTTP requests sent when events match, with secrets and reply templates. */
@ApiTags('integrations')
@ApiBearerAuth()
@Controller('integrations')
export class IntegrationsController {
  constructor(private readonly integrations: IntegrationsService) {}

  @Post()
  @RequirePermission('integrations:manage')
  @ApiOperation({ summary: 'Create an integration; the answer carries the signing secret, shown only this once' })
  create(@CurrentPrincipal() p: Principal, @Body() dto: CreateIntegrationDto): Promise<IntegrationView & { signingSecret: string }> {
    return this.integrations.create(p, tenantIdOf(p), dto);
  }

  @Get()
  @RequirePermission('integrations:read')
  @ApiOperation({ summary: "The tenant's integrations (secret values masked)" })
  list(@CurrentPrincipal() p: Principal): Promise<IntegrationView[]> {
    return this.integrations.list(tenantIdOf(p));
  }

  @Get(':id')
  @RequirePermission('integrations:read')
  @ApiOperation({ summary: 'One integration (secret values masked)' })
  get(@CurrentPrincipal() p: Principal, @Param() params: IdParam): Promise<IntegrationView> {
    return this.integrations.get(tenantIdOf(p), params.id);
  }

  @Patch(':id')
  @RequirePermission('integrations:manage')
  @ApiOperation({ summary: 'Change an integration; secrets are merged (null removes one)' })
  update(@CurrentPrincipal() p: Principal, @Param() params: IdParam, @Body() dto: UpdateIntegrationDto): Promise<IntegrationView> {
    return this.integrations.update(p, tenantIdOf(p), params.id, dto);
  }

  @Post(':id/enable')
  @HttpCode(200)
  @RequirePermission('integrations:manage')
  @ApiOperation({ summary: 'Enable an integration' })
  enable(@CurrentPrincipal() p: Principal, @Param() params: IdParam): Promise<IntegrationView> {
    return this.integrations.setEnabled(p, tenantIdOf(p), params.id, true);
  }

  @Post(':id/disable')
  @HttpCode(200)
  @RequirePermission('integrations:manage')
  @ApiOperation({ summary: 'Disable an integration (matching events no longer create deliveries)' })
  disable(@CurrentPrincipal() p: Principal, @Param() params: IdParam): Promise<IntegrationView> {
    return this.integrations.setEnabled(p, tenantIdOf(p), params.id, false);
  }

  @Post(':id/rotate-signing-secret')
  @HttpCode(200)
  @RequirePermission('integrations:manage')
  @ApiOperation({ summary: 'New signing secret (shown once); the previous one keeps signing alongside for 24 hours' })
  rotate(@CurrentPrincipal() p: Principal, @Param() params: IdParam): Promise<{ signingSecret: string; previousExpiresAt: string }> {
    return this.integrations.rotateSigningSecret(p, tenantIdOf(p), params.id);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('integrations:manage')
  @ApiOperation({ summary: 'Delete an integration with its deliveries' })
  async remove(@CurrentPrincipal() p: Principal, @Param() params: IdParam): Promise<void> {
    await this.integrations.remove(p, tenantIdOf(p), params.id);
  }
}
