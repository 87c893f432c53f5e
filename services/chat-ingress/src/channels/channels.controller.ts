import { Body, Controller, Get, HttpCode, Param, Patch, Post, ParseUUIDPipe } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal as AuthPrincipal } from '@elo/auth';
import { ChannelsService, type ChannelView } from './channels.service';
import { CreateChannelDto, UpdateChannelDto } from './dto/channel.dto';
import { TokenCheckService } from '../tokens/token-check.service';

type Principal = AuthPrincipal;

@ApiTags('channels')
@Controller('channels')
export class ChannelsController {
  constructor(
    private readonly channels: ChannelsService,
    private readonly tokens: TokenCheckService,
  ) {}

  @Post()
  @RequirePermission('channels:manage')
  @ApiOperation({ summary: 'Create a channel; the answer shows generated secrets (verify token, Telegram secret, signing secret) once.' })
  create(@CurrentPrincipal() p: Principal, @Body() dto: CreateChannelDto): Promise<ChannelView> {
    return this.channels.create(tenantIdOf(p), p.keyId, dto);
  }

  @Get()
  @RequirePermission('channels:manage')
  list(@CurrentPrincipal() p: Principal): Promise<ChannelView[]> {
    return this.channels.list(tenantIdOf(p));
  }

  @Get(':id')
  @RequirePermission('channels:manage')
  async get(@CurrentPrincipal() p: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<ChannelView> {
    return this.channels.view(await this.channels.require(tenantIdOf(p), id));
  }

  @Patch(':id')
  @RequirePermission('channels:manage')
  update(@CurrentPrincipal() p: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() dto: UpdateChannelDto): Promise<ChannelView> {
    return this.channels.update(tenantIdOf(p), p.keyId, id, dto);
  }

  @Post(':id/disable')
  @HttpCode(200)
  @RequirePermission('channels:manage')
  disable(@CurrentPrincipal() p: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<ChannelView> {
    return this.channels.update(tenantIdOf(p), p.keyId, id, { status: 'disabled' });
  }

  @Post(':id/enable')
  @HttpCode(200)
  @RequirePermission('channels:manage')
  enable(@CurrentPrincipal() p: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<ChannelView> {
    return this.channels.update(tenantIdOf(p), p.keyId, id, { status: 'active' });
  }

  @Post(':id/refresh-token')
  @HttpCode(200)
  @RequirePermission('channels:manage')
  @ApiOperation({ summary: 'Refresh (when refresh credentials exist) and check the provider token now.' })
  async refresh(@CurrentPrincipal() p: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<ChannelView> {
    const c = await this.channels.require(tenantIdOf(p), id);
    await this.tokens.checkChannel(c, { refresh: true });
    return this.channels.view((await this.channels.get(c.tenantId, c.id))!);
  }
}
