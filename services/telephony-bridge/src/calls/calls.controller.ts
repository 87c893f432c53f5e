import { pipeline } from 'node:stream/promises';
import { Body, Controller, Get, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOperation, ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { createLogger } from '@elo/observability';
import { ProblemException } from '@elo/platform';
import type { Request, Response } from 'express';
import { parseByteRange, sliceBytes } from './byte-range';
import { isValidCallId } from './call-id';
import { Click2CallService } from './click2call.service';
import { CallStartedView, Click2CallDto } from './dto/click2call.dto';
import { RecordingsService } from './recordings.service';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

@ApiTags('calls')
@ApiBearerAuth()
@Controller('calls')
export class CallsController {
  private readonly logger = createLogger('telephony-bridge').child({ component: 'calls' });

  constructor(
    private readonly click2call: Click2CallService,
    private readonly recordings: RecordingsService,
  ) {}

  @Post()
  @RequirePermission('telephony:call')
  @ApiOperation({ summary: 'Click2Call: the PBX rings the extension, then dials the customer; publishes telephony.call.started' })
  @ApiCreatedResponse({ type: CallStartedView })
  call(@CurrentPrincipal() p: Principal, @Body() dto: Click2CallDto): Promise<CallStartedView> {
    return this.click2call.call(tenantIdOf(p), dto);
  }

  @Get(':callId/recording')
  @RequirePermission('telephony:recordings')
  @ApiOperation({ summary: 'The call recording (audio/wav), streamed from the PBX as it arrives; one byte range (Range) answered 206' })
  @ApiQuery({ name: 'profileId', required: false })
  @ApiProduces('audio/wav')
  async recording(
    @CurrentPrincipal() p: Principal,
    @Param('callId') callId: string,
    @Query('profileId') profileId: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const tenantId = tenantIdOf(p);
    if (!isValidCallId(callId)) {
      throw new ProblemException(400, 'callId: must be 1-128 letters, digits, ".", "_", ":" or "-" without ".." (e.g. 1537276453.47245539)');
    }
    if (profileId !== undefined && !UUID_RE.test(profileId)) throw new ProblemException(400, 'profileId: must be a UUID');
    const rec = await this.recordings.open(tenantId, callId, profileId);
    const size = rec.contentLength;
    // Ranges only of a recording whose size the PBX declared (the end of an open or suffix range is counted
    // from it); with no validator to compare, an If-Range never matches and the whole WAV goes out.
    const range = size === undefined || req.headers['if-range'] !== undefined ? undefined : parseByteRange(req.headers.range, size);
    res.setHeader('Accept-Ranges', size === undefined ? 'none' : 'bytes');
    if (range === 'unsatisfiable') {
      rec.abort();
      res.setHeader('Content-Range', `bytes */${size}`);
      throw new ProblemException(416, `range not satisfiable: the recording is ${size} bytes`);
    }
    res.status(range ? 206 : 200);
    res.setHeader('Content-Type', 'audio/wav');
    res.setHeader('Content-Disposition', `attachment; filename="${callId}.wav"`);
    res.setHeader('Cache-Control', 'private, no-store');
    if (range) {
      res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
      res.setHeader('Content-Length', String(range.end - range.start + 1));
    } else if (size !== undefined) res.setHeader('Content-Length', String(size));
    req.on('close', () => {
      if (!res.writableFinished) rec.abort();
    });
    try {
      // The PBX is read from the start (the RIFF/WAVE check needs it) up to the range's end, bytes before it dropped.
      await (range ? pipeline(rec.body, (source: AsyncIterable<Buffer>) => sliceBytes(source, range), res) : pipeline(rec.body, res));
    } catch (err) {
      // Headers are gone: the only honest signal left is a cut connection (no chunked terminator / short body).
      this.logger.warn({ callId, err: (err as Error).message }, 'recording stream broke off');
      res.destroy();
    } finally {
      // A range that ends before the recording does leaves the rest unread: release the PBX connection.
      rec.abort();
    }
  }
}
