import { Controller, Get, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOperation, ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ApiKeyGuard, CurrentPrincipal, presentedKey, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { createLogger, Public } from '@elo/observability';
import { ProblemException } from '@elo/platform';
import type { Request, Response } from 'express';
import { RAMAL_RE } from '../calls/call-id';
import { PopHub, type OperatorEvent } from './pop-hub.service';
import { StreamTokens } from './stream-tokens.service';

const KEEPALIVE_MS = 15_000;
const log = createLogger('telephony-bridge').child({ component: 'operator-events' });
const PERMISSION = 'telephony:call';

function checkRamal(ramal: string): string {
  if (!RAMAL_RE.test(ramal)) throw new ProblemException(400, 'ramal: must be 1-32 letters, digits, _, -, * or #');
  return ramal;
}

/** What a screen is sent of a pop: not the tenant, nor an end's answer time (it only tells older calls from newer). */
function screenData(pop: OperatorEvent): Record<string, unknown> {
  if (pop.event === 'ended') {
    const { tenantId: _t, event: _e, answeredAt: _a, ...data } = pop;
    return data;
  }
  const { tenantId: _t, event: _e, ...data } = pop;
  return data;
}

@ApiTags('screen-pop')
@Controller('operators')
export class OperatorEventsController {
  constructor(
    private readonly hub: PopHub,
    private readonly tokens: StreamTokens,
    private readonly guard: ApiKeyGuard,
  ) {}

  @Post(':ramal/stream-tokens')
  @RequirePermission(PERMISSION)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'A short-lived token to open the extension\'s event stream from a browser (EventSource)' })
  @ApiCreatedResponse({ schema: { properties: { token: { type: 'string' }, expiresAt: { type: 'string' }, url: { type: 'string' } } } })
  issue(@CurrentPrincipal() p: Principal, @Param('ramal') ramal: string): { token: string; expiresAt: string; url: string } {
    const tenantId = tenantIdOf(p);
    const r = checkRamal(ramal);
    const t = this.tokens.issue(tenantId, r, p.keyId);
    return { ...t, url: `/operators/${encodeURIComponent(r)}/events?token=${encodeURIComponent(t.token)}` };
  }

  /**
   * Public as far as the global guard goes: it authenticates itself, with an API key in a header
   * (permission telephony:call) or a stream token in the query (or, reconnecting, the resume token in Last-Event-ID).
   */
  @Get(':ramal/events')
  @Public()
  @ApiBearerAuth()
  @ApiQuery({ name: 'token', required: false, description: 'stream token from POST /operators/{ramal}/stream-tokens' })
  @ApiOperation({
    summary: 'Screen pop (text/event-stream): event `answered` with the call delivered to this extension (on connecting, first the extension\'s latest call: `answered` if in progress, `ended` if over), `ended` when it ends',
  })
  @ApiProduces('text/event-stream')
  async events(@Param('ramal') ramal: string, @Query('token') token: string | undefined, @Req() req: Request, @Res() res: Response): Promise<void> {
    const r = checkRamal(ramal);
    const { tenantId, keyId, byToken } = await this.authenticate(req, res, r, token);
    // A stream opened with a token sends a fresh resume token as the id of each event and keepalive (instead of the
    // call id): the EventSource sends the last one back in Last-Event-ID when it reconnects, its token expired by then.
    const resumeId = () => (byToken ? `id: ${this.tokens.resumeToken(tenantId, r, keyId)}\n` : '');
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    req.socket.setNoDelay(true);
    res.write(`retry: 2000\n${resumeId()}event: ready\ndata: ${JSON.stringify({ ramal: r, live: this.hub.connected })}\n\n`);
    // A pop that shows nothing new against the last one sent (the same call in the same state, or an answer of the call
    // from before its end went out) is not sent: one a replica's look-up (this stream's, or its catch-up) found committed
    // reaches it again by the NOTIFY of the replica that took the callback, which comes some time after the commit. It
    // went out twice, or the answer after the end and the screen showed an ended call as in progress. An answer after
    // the end is a call handed back to this extension after a transfer: it goes out.
    // Nor is the answer of a call answered before one the stream has sent (the extension's calls in the order
    // PopHub.latest takes them, by their recorded answer time): another replica's NOTIFY of an older call, arriving
    // after the newer call went out (by the look-up, or its own pop), replaced the newer call on the screen. Ends of
    // other calls still go out: a screen that does not show that call keeps the one it shows.
    let last: { callId: string; event: string; at: number } | undefined;
    let newestAnswer = -Infinity;
    const send = (pop: OperatorEvent) => {
      if (res.destroyed || res.writableEnded) return;
      const event = pop.event ?? 'answered';
      const at = Date.parse(pop.event === 'ended' ? pop.endedAt : pop.answeredAt);
      const answeredAt = pop.answeredAt === undefined ? undefined : Date.parse(pop.answeredAt);
      if (event === 'answered' && answeredAt !== undefined && answeredAt < newestAnswer) return;
      if (last?.callId === pop.callId && (last.event === event || (last.event === 'ended' && !(at > last.at)))) return;
      last = { callId: pop.callId, event, at };
      if (answeredAt !== undefined && answeredAt > newestAnswer) newestAnswer = answeredAt;
      res.write(`${resumeId() || `id: ${pop.callId}\n`}event: ${event}\ndata: ${JSON.stringify(screenData(pop))}\n\n`);
    };
    // The extension's latest call comes first: `answered` if it is in progress, `ended` if it is over.
    // Pops that arrive while it is looked up wait and follow it, through the same checks: a later state of
    // that call or a call answered since goes out after it, and a pop of what the look-up found, or of an
    // older call, does not. A screen never ends on a stale call.
    const arrived: OperatorEvent[] = [];
    let looking = true;
    const unsubscribe = this.hub.subscribe(tenantId, r, (pop) => (looking ? arrived.push(pop) : send(pop)));
    // An id without data dispatches no event: the EventSource only keeps the id.
    const keepalive = setInterval(() => res.write(byToken ? `${resumeId()}\n` : ': keepalive\n\n'), KEEPALIVE_MS);
    // The key (or the key a stream token was issued to) revoked: the screen stops getting this extension's calls.
    const unwatch = this.guard.watchKey(keyId, () => {
      // What writes to the stream stops first: the response closes only once its end is flushed, and a pop or
      // keepalive written in between (after the end) was an uncaught error that took the process down.
      close();
      if (!res.writableEnded) res.end(`event: revoked\ndata: ${JSON.stringify({ reason: 'the API key was revoked' })}\n\n`);
    });
    const close = () => {
      clearInterval(keepalive);
      unsubscribe();
      unwatch();
    };
    req.on('close', close);
    res.on('close', close);
    // A client that left while the key was looked up closed before these listeners were attached, and
    // `close` is not emitted twice: without this its subscription and keepalive timer would stay for good.
    if (req.socket.destroyed) return close();
    const latest = await this.hub.latest(tenantId, r).catch((err: Error) => {
      log.warn({ err: err.message, ramal: r }, "could not look up the extension's latest call; the stream goes on with live pops only");
      return undefined;
    });
    looking = false;
    if (latest) send(latest);
    for (const pop of arrived) send(pop);
  }

  private async authenticate(
    req: Request,
    res: Response,
    ramal: string,
    token: string | undefined,
  ): Promise<{ tenantId: string; keyId: string; byToken: boolean }> {
    const key = presentedKey(req);
    if (key) {
      const p = await this.guard.authenticate(key);
      if (!p) {
        res.setHeader('WWW-Authenticate', 'Bearer');
        throw new ProblemException(401, 'the API key is not valid or was revoked');
      }
      if (!p.permissions.includes(PERMISSION)) throw new ProblemException(403, `the API key lacks the permission ${PERMISSION}`);
      return { tenantId: tenantIdOf(p), keyId: p.keyId, byToken: false };
    }
    const resume = req.header('last-event-id');
    if (token || resume) {
      // An EventSource reconnecting presents its URL's token again, expired by then, and the resume token it was sent.
      const claims = (token && this.tokens.verify(token, ramal)) || (resume && this.tokens.verifyResume(resume, ramal)) || undefined;
      if (!claims) throw new ProblemException(401, 'the stream token (or the resume token in Last-Event-ID) is not valid, expired, or for another extension');
      // The key it was issued to, revoked since: watching it (below) would end the stream only after the
      // extension's latest call had gone out.
      if (!(await this.guard.keyUsable(claims.keyId))) throw new ProblemException(401, 'the API key the stream token was issued to was revoked');
      return { ...claims, byToken: true };
    }
    res.setHeader('WWW-Authenticate', 'Bearer');
    throw new ProblemException(401, 'an API key (Authorization: Bearer <key>) or a stream token (?token=) is required');
  }
}
