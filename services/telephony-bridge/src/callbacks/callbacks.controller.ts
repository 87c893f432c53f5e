import { createHash, timingSafeEqual } from 'node:crypto';
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { createLogger, Public } from '@elo/observability';
import { ProblemException, SERVICE_CONFIG } from '@elo/platform';
import type { Request } from 'express';
import type { RawBodyRequest } from '@elo/platform';
import type { TelephonyBridgeConfig } from '../config/telephony-bridge.config';
import { ProfilesService, type PbxProfile } from '../profiles/profiles.service';
import { parseAnswered, parseEnded, type FieldError } from './callback-params';
import { CallbacksService, type CallbackOutcome } from './callbacks.service';
import { numbersAsWritten } from '../calls/call-id';
import { CidrList, sourceAddress } from './source-address';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function sameToken(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function badRequest(errors: FieldError[]): never {
  throw new ProblemException(400, errors.map((e) => `${e.field}: ${e.message}`).join('; '), { errors });
}

/**
 * What PBXs and dialers call. No API key (they cannot send one): the profile's address allow-list
 * and, when set, its callback token guard each call; nothing is stored or published otherwise.
 */
@ApiTags('pbx-callbacks')
@Public()
@Controller('telephony')
export class CallbacksController {
  private readonly logger = createLogger('telephony-bridge').child({ component: 'callbacks' });
  private readonly trustedProxies: CidrList;

  constructor(
    private readonly profiles: ProfilesService,
    private readonly callbacks: CallbacksService,
    @Inject(SERVICE_CONFIG) config: TelephonyBridgeConfig,
  ) {
    this.trustedProxies = CidrList.fromCsv(config.TELEPHONY_TRUSTED_PROXIES);
  }

  @Get(':profile/answered')
  @ApiOperation({ summary: 'Call answered (dialer delivered a call to an operator): pops the customer, publishes telephony.call.answered' })
  @ApiQuery({ name: 'cid', description: 'PBX call id, e.g. 1537276453.47245539' })
  @ApiQuery({ name: 'ramal', description: 'operator extension' })
  @ApiQuery({ name: 'num', description: 'customer phone; empty, or anonymous, private, restricted, unavailable or unknown, when the caller withheld it' })
  @ApiQuery({ name: 'pid', required: false, description: 'contact id in the CRM' })
  @ApiQuery({ name: 'empresaId', required: false })
  @ApiOkResponse({ schema: { properties: { callId: { type: 'string' }, duplicate: { type: 'boolean' } } } })
  answeredGet(@Param('profile') id: string, @Query() q: Record<string, unknown>, @Req() req: Request): Promise<CallbackOutcome> {
    return this.answered(id, q, req);
  }

  @Post(':profile/answered')
  @HttpCode(200)
  @ApiOperation({ summary: 'Call answered, as a JSON (or form) body with the same fields' })
  answeredPost(@Param('profile') id: string, @Body() body: Record<string, unknown>, @Req() req: Request): Promise<CallbackOutcome> {
    return this.answered(id, { ...(req.query as Record<string, unknown>), ...asObject(body, req) }, req);
  }

  @Get(':profile/ended')
  @ApiOperation({ summary: 'Call ended: publishes telephony.call.ended (cid, duration seconds, disposition)' })
  @ApiQuery({ name: 'cid' })
  @ApiQuery({ name: 'duration', required: false, description: 'seconds, whole or decimal (125, 12.5; rounded), or [hh:]mm:ss (00:02:05, 2:05); at most 7 days' })
  @ApiQuery({ name: 'disposition', required: false })
  @ApiQuery({ name: 'ramal', required: false })
  endedGet(@Param('profile') id: string, @Query() q: Record<string, unknown>, @Req() req: Request): Promise<CallbackOutcome> {
    return this.ended(id, q, req);
  }

  @Post(':profile/ended')
  @HttpCode(200)
  @ApiOperation({ summary: 'Call ended, as a JSON (or form) body' })
  endedPost(@Param('profile') id: string, @Body() body: Record<string, unknown>, @Req() req: Request): Promise<CallbackOutcome> {
    return this.ended(id, { ...(req.query as Record<string, unknown>), ...asObject(body, req) }, req);
  }

  private async answered(id: string, q: Record<string, unknown>, req: Request): Promise<CallbackOutcome> {
    const { profile, source } = await this.admit(id, q, req);
    const { params, errors } = parseAnswered(q);
    if (!params) badRequest(errors);
    return this.callbacks.answered(profile, source, params);
  }

  private async ended(id: string, q: Record<string, unknown>, req: Request): Promise<CallbackOutcome> {
    const { profile, source } = await this.admit(id, q, req);
    const { params, errors } = parseEnded(q);
    if (!params) badRequest(errors);
    return this.callbacks.ended(profile, source, params);
  }

  /** The profile, when the caller's address is allowed and its token (if the profile has one) matches. */
  private async admit(id: string, q: Record<string, unknown>, req: Request): Promise<{ profile: PbxProfile; source: string }> {
    const profile = UUID_RE.test(id) ? await this.profiles.findForCallback(id) : undefined;
    if (!profile) throw new ProblemException(404, 'no such PBX profile');
    const source = sourceAddress(req, this.trustedProxies);
    if (!new CidrList(profile.allowedCidrs).contains(source)) {
      this.logger.warn({ profileId: profile.id, source }, 'callback refused: source address not allowed');
      throw new ProblemException(403, `source address ${source || 'unknown'} is not allowed to call this PBX profile`);
    }
    const expected = this.profiles.callbackToken(profile);
    if (expected) {
      const header = req.headers['x-callback-token'];
      const presented = typeof header === 'string' ? header : typeof q.token === 'string' ? q.token : '';
      if (!presented || !sameToken(presented, expected)) {
        this.logger.warn({ profileId: profile.id, source }, 'callback refused: the callback token was absent or did not match');
        throw new ProblemException(403, 'the callback token is missing or wrong');
      }
    }
    delete q.token;
    return { profile, source };
  }
}

/**
 * The callback's fields. A JSON body is read again from its bytes with every number as the text it was written
 * as: some PBXs send call ids as JSON numbers, and a number loses digits (1537276453.47245539 reads as
 * 1537276453.4724555, 1537276453.10 as 1537276453.1), so the answered and ended callbacks of one call, or its
 * recording's name, would not match. Every field is read as text anyway (callback-params.ts).
 */
function asObject(body: unknown, req: RawBodyRequest): Record<string, unknown> {
  // What the body parser reads as JSON (application/json and application/*+json), an empty body (fields in the
  // query) and a leading byte-order mark included.
  const raw = req.is(['json', '+json']) && req.rawBody ? req.rawBody.toString('utf8').replace(/^\uFEFF/, '') : '';
  const json = raw.trim() ? numbersAsWritten(raw) : body;
  return json && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
}
