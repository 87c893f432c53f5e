import { Body, Controller, Get, HttpCode, Param, Patch, Post, ParseUUIDPipe, UsePipes } from '@nestjs/common';
import { ProblemException, StorableInput } from '@elo/platform';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal as AuthPrincipal } from '@elo/auth';
import { ChannelsService, type ChannelView } from './channels.service';
import { CreateChannelDto, UpdateChannelDto } from './dto/channel.dto';
import { TokenCheckService } from '../tokens/token-check.service';
import { TelegramWebhookService } from './telegram-webhook.service';

type Principal = AuthPrincipal;

@ApiTags('channels')
@Controller('channels')
// Text with U+0000 or a lone surrogate is kept with U+FFFD in its place (PostgreSQL refuses them: a 500), as in conversations.
@UsePipes(StorableInput)
export class ChannelsController {
  constructor(
    private readonly channels: ChannelsService,
    private readonly tokens: TokenCheckService,
    private readonly telegram: TelegramWebhookService,
  ) {}

  @Post()
  @RequirePermission('channels:manage')
  @ApiOperation({
    summary: 'Create a channel; the answer shows generated secrets (verify token, Telegram secret, signing secret) once. '
      + 'A Telegram channel\'s webhook is registered with setWebhook at once; the outcome is in webhookRegistration (a failure does not fail the creation).',
  })
  async create(@CurrentPrincipal() p: Principal, @Body() dto: CreateChannelDto): Promise<ChannelView> {
    const tenantId = tenantIdOf(p);
    const created = await this.channels.create(tenantId, p.keyId, dto);
    if (created.provider !== 'telegram') return created;
    await this.telegram.register(await this.channels.require(tenantId, created.id));
    const { secrets, verifyToken } = created;
    return { ...(await this.channels.view(await this.channels.require(tenantId, created.id))), verifyToken, secrets };
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
  @ApiOperation({ summary: 'Update a channel; a Telegram channel whose bot token or secret token changed is registered again (setWebhook).' })
  async update(@CurrentPrincipal() p: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() dto: UpdateChannelDto): Promise<ChannelView> {
    const view = await this.channels.update(tenantIdOf(p), p.keyId, id, dto);
    if (view.provider !== 'telegram' || !(dto.credentials?.accessToken || dto.credentials?.telegramSecretToken)) return view;
    return this.registerWebhook(p, id);
  }

  @Post(':id/register-webhook')
  @HttpCode(200)
  @RequirePermission('channels:manage')
  @ApiOperation({
    summary: 'Telegram: register the channel\'s webhook URL and secret token with the Bot API (setWebhook) now; the outcome is in webhookRegistration. '
      + 'Other providers: 422 (their webhook URL and verify token are pasted into the provider\'s dashboard).',
  })
  async registerWebhook(@CurrentPrincipal() p: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<ChannelView> {
    const c = await this.channels.require(tenantIdOf(p), id);
    if (c.provider !== 'telegram') {
      throw new ProblemException(422, `${c.provider} webhooks are not registered by Elo: paste webhookUrl and the verify token into the provider's dashboard`);
    }
    await this.telegram.register(c);
    return this.channels.view(await this.channels.require(c.tenantId, c.id));
  }

  @Post(':id/verify-token')
  @HttpCode(200)
  @RequirePermission('channels:manage')
  @ApiOperation({
    summary: 'WhatsApp, Messenger, Instagram: generate a new verify token for the Meta handshake, shown once in the answer (verifyToken and '
      + 'secrets.verifyToken) and masked everywhere else; the old token stops matching at once. Telegram and generic channels have none: 422.',
  })
  rotateVerifyToken(@CurrentPrincipal() p: Principal, @Param('id', ParseUUIDPipe) id: string): Promise<ChannelView> {
    return this.channels.rotateVerifyToken(tenantIdOf(p), p.keyId, id);
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
