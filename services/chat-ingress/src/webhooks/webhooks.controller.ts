import { Controller, Get, Header, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Provider } from '@elo/contracts';
import { Public } from '@elo/observability';
import { ProblemException, type RawBodyRequest } from '@elo/platform';
import { VERIFY_TOKEN_PROVIDERS, type ChannelRecord } from '../channels/channel.types';
import { ChannelsService } from '../channels/channels.service';
import { TelegramBusinessService } from '../channels/telegram-business.service';
import { GenericWebhookDto } from './dto/generic-webhook.dto';
import { IngestService, type IngestResult } from './ingest.service';
import { normaliseGeneric } from './normalise-generic';
import { normaliseMessaging, normaliseWhatsApp } from './normalise-meta';
import { normaliseTelegram } from './normalise-telegram';
import type { Normalised } from './normalised';
import { safeEqual, verifyMetaSignature, verifyStandardWebhook } from './signatures';

/**
 * Provider webhooks. Each is verified (signature or secret) before anything is stored, then stored in
 * one transaction with its events; 200 means it is durable.
 */
@ApiTags('webhooks')
@Public()
@Controller('webhooks')
export class WebhooksController {
  constructor(
    private readonly channels: ChannelsService,
    private readonly ingest: IngestService,
    private readonly business: TelegramBusinessService,
  ) {}

  @Get(':provider/:channelId')
  @Header('content-type', 'text/plain; charset=utf-8')
  @ApiOperation({ summary: 'Meta verification handshake (hub.mode=subscribe, hub.verify_token, hub.challenge).' })
  async handshake(@Param('provider') provider: string, @Param('channelId') channelId: string, @Query() q: Record<string, string>): Promise<string> {
    const channel = await this.channel(provider, channelId);
    if (!VERIFY_TOKEN_PROVIDERS.has(channel.provider)) throw new ProblemException(404, 'this provider has no verification handshake');
    if (q['hub.mode'] !== 'subscribe' || typeof q['hub.verify_token'] !== 'string' || !safeEqual(q['hub.verify_token'], channel.verifyToken)) {
      throw new ProblemException(403, 'verify token does not match');
    }
    const challenge = q['hub.challenge'];
    if (typeof challenge !== 'string' || !challenge) throw new ProblemException(400, 'hub.challenge is missing');
    return challenge;
  }

  @Post('generic/:channelId')
  @HttpCode(200)
  @ApiBody({ type: GenericWebhookDto })
  @ApiOperation({ summary: 'Generic channel: chat events in Elo\'s documented schema, signed with Standard Webhooks.' })
  generic(@Param('channelId') channelId: string, @Req() req: RawBodyRequest): Promise<IngestResult> {
    return this.receive('generic', channelId, req);
  }

  @Post(':provider/:channelId')
  @HttpCode(200)
  @ApiOperation({ summary: 'Provider webhook (whatsapp, messenger, instagram: X-Hub-Signature-256; telegram: X-Telegram-Bot-Api-Secret-Token).' })
  provider(@Param('provider') provider: string, @Param('channelId') channelId: string, @Req() req: RawBodyRequest): Promise<IngestResult> {
    return this.receive(provider, channelId, req);
  }

  private async receive(provider: string, channelId: string, req: RawBodyRequest): Promise<IngestResult> {
    const channel = await this.channel(provider, channelId);
    const raw = req.rawBody;
    if (!this.verified(channel, req, raw)) throw new ProblemException(401, 'signature or secret token is missing or wrong');
    if (!raw || raw.length === 0) throw new ProblemException(400, 'the request body is empty');
    const body = typeof req.body === 'object' && req.body !== null && !Buffer.isBuffer(req.body) ? (req.body as unknown) : parse(raw);
    const normalised = this.normalise(channel.provider, body);
    // A Telegram Business connection's change (no message) is kept before the answer, like everything a webhook brings.
    if (normalised.businessConnection) await this.business.record(channel, normalised.businessConnection);
    return this.ingest.ingest({ channel, raw: raw.toString('utf8'), normalised });
  }

  private verified(channel: ChannelRecord, req: RawBodyRequest, raw: Buffer | undefined): boolean {
    if (!raw) return false;
    switch (channel.provider) {
      case 'telegram': {
        const given = req.headers['x-telegram-bot-api-secret-token'];
        const want = channel.credentials.telegramSecretToken;
        return typeof given === 'string' && !!want && safeEqual(given, want);
      }
      case 'generic':
        return verifyStandardWebhook(raw, req.headers, channel.credentials.signingSecret);
      default:
        return verifyMetaSignature(raw, header(req, 'x-hub-signature-256'), channel.credentials.appSecret);
    }
  }

  private normalise(provider: Provider, body: unknown): Normalised {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ProblemException(400, 'the request body must be a JSON object');
    switch (provider) {
      case 'whatsapp':
        return normaliseWhatsApp(body);
      case 'messenger':
      case 'instagram':
        return normaliseMessaging(body);
      case 'telegram':
        return normaliseTelegram(body);
      case 'generic': {
        const n = normaliseGeneric(body);
        if ('error' in n) throw new ProblemException(400, n.error);
        return n;
      }
    }
  }

  private async channel(provider: string, channelId: string): Promise<ChannelRecord> {
    const c = await this.channels.resolve(channelId);
    if (!c || c.provider !== provider || c.status !== 'active') throw new ProblemException(404, 'no active channel at this URL');
    return c;
  }
}

function header(req: RawBodyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function parse(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ProblemException(400, 'the request body is not valid JSON');
  }
}
