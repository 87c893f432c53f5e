import { Controller, Get, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { ApiKeyGuard, CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import type { Request, Response } from 'express';
import { LiveFeed } from '../live/live-feed.service';

const KEEPALIVE_MS = 15_000;

/**
 * Server-Sent Events of the tenant's status changes and integration failures. Browsers read it with
 * fetch streaming, so the API key travels in a header, never in the URL.
 */
@ApiTags('messages')
@ApiBearerAuth()
@Controller()
export class StreamController {
  constructor(
    private readonly live: LiveFeed,
    private readonly keys: ApiKeyGuard,
  ) {}

  @Get('stream')
  @RequirePermission('dashboard:read')
  @ApiOperation({
    summary: 'Live status changes (text/event-stream): events `status` and `integration_failure`, JSON data',
    description: '`ready` first (`{"live": bool}`), then `state` (`{"live": false}`) when this replica stops hearing changes '
      + 'and `{"live": true}` when it hears them again: changes in between are not streamed, so re-read then.',
  })
  @ApiProduces('text/event-stream')
  stream(@CurrentPrincipal() p: Principal, @Req() req: Request, @Res() res: Response): void {
    const tenantId = tenantIdOf(p);
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.write(`retry: 2000\nevent: ready\ndata: ${JSON.stringify({ live: this.live.connected })}\n\n`);
    const unsubscribe = this.live.subscribe(tenantId, {
      change: (c) => res.write(`event: ${c.kind}\ndata: ${JSON.stringify(c)}\n\n`),
      // Changes made while the replica's feed is down are never streamed: the client re-reads on `live: true`.
      state: (live) => res.write(`event: state\ndata: ${JSON.stringify({ live })}\n\n`),
      end: () => finish(),
    });
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    // A key revoked (or past its rotation's grace) stops what it is already receiving.
    const unwatch = this.keys.watchKey(p.keyId, () => finish(`event: revoked\ndata: ${JSON.stringify({ reason: 'the API key was revoked' })}\n\n`));
    const close = () => {
      clearInterval(keepalive);
      unsubscribe();
      unwatch();
    };
    // Ending stops what writes to the stream at once: the response closes only once its end is flushed, and
    // a change or keepalive written in between (after the end) was an uncaught error that took the process down.
    const finish = (last?: string) => {
      close();
      if (!res.writableEnded) res.end(last);
    };
    req.on('close', close);
    res.on('close', close);
  }
}
