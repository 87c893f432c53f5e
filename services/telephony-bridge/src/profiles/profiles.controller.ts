import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { CreatePbxProfileDto, PbxProfileView, UpdatePbxProfileDto } from './dto/pbx-profile.dto';
import { describePresets, type PresetDescription } from './pbx-presets';
import { ProfilesService } from './profiles.service';

const uuid = new ParseUUIDPipe({ version: '4' });

@ApiTags('pbx-profiles')
@ApiBearerAuth()
@RequirePermission('telephony:manage')
@Controller('pbx-profiles')
export class ProfilesController {
  constructor(private readonly profiles: ProfilesService) {}

  @Post()
  @ApiOperation({ summary: 'Create a PBX profile (preset generic-http / asterisk-ari, or custom templates)' })
  @ApiCreatedResponse({ type: PbxProfileView })
  create(@CurrentPrincipal() p: Principal, @Body() dto: CreatePbxProfileDto): Promise<PbxProfileView> {
    return this.profiles.create(tenantIdOf(p), p.keyId, dto);
  }

  @Get()
  @ApiOkResponse({ type: [PbxProfileView] })
  list(@CurrentPrincipal() p: Principal): Promise<PbxProfileView[]> {
    return this.profiles.list(tenantIdOf(p));
  }

  @Get(':id')
  @ApiOkResponse({ type: PbxProfileView })
  get(@CurrentPrincipal() p: Principal, @Param('id', uuid) id: string): Promise<PbxProfileView> {
    return this.profiles.get(tenantIdOf(p), id);
  }

  @Patch(':id')
  @ApiOkResponse({ type: PbxProfileView })
  update(@CurrentPrincipal() p: Principal, @Param('id', uuid) id: string, @Body() dto: UpdatePbxProfileDto): Promise<PbxProfileView> {
    return this.profiles.update(tenantIdOf(p), p.keyId, id, dto);
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@CurrentPrincipal() p: Principal, @Param('id', uuid) id: string): Promise<void> {
    await this.profiles.remove(tenantIdOf(p), p.keyId, id);
  }
}

@ApiTags('pbx-profiles')
@ApiBearerAuth()
@RequirePermission('telephony:manage')
@Controller('telephony')
export class PresetsController {
  @Get('presets')
  @ApiOperation({ summary: 'The ready-made PBX presets (generic HTTP PBX, Asterisk ARI originate) and the templates they fill in' })
  presets(): PresetDescription[] {
    return describePresets();
  }
}
