import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiTags, ApiTooManyRequestsResponse } from '@nestjs/swagger';
import { ApiKeyGuard, CurrentPrincipal, RequirePermission, tenantIdOf, type Principal } from '@elo/auth';
import { ProblemException, SERVICE_CONFIG } from '@elo/platform';
import type { Request, Response } from 'express';
import type { MessageStatusConfig } from '../config/message-status.config';
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
  /** Streams open on this replica, by API key. */
  private readonly open = new Map<string, number>();

  constructor(
    private readonly live: LiveFeed,
    private readonly keys: ApiKeyGuard,
    @Inject(SERVICE_CONFIG) private readonly limits: Pick<MessageStatusConfig, 'STREAM_MAX_PER_KEY' | 'STREAM_MAX_BUFFERED_BYTES'>,
  ) {}

  @Get('stream')
  @RequirePermission('dashboard:read')
  @ApiOperation({
    summary: 'Live status changes (text/event-stream): events `status` and `integration_failure`, JSON data',
    description: '`ready` first (`{"live": bool}`), then `state` (`{"live": false}`) when this replica stops hearing changes '
      + 'and `{"live": true}` when it hears them again: changes in between are not streamed, so re-read then. A client that '
      + 'does not read is dropped once STREAM_MAX_BUFFERED_BYTES wait for it (reconnect and re-read).',
  })
  @ApiProduces('text/event-stream')
  @ApiTooManyRequestsResponse({ description: 'the API key already holds STREAM_MAX_PER_KEY streams open on this replica' })
  stream(@CurrentPrincipal() p: Principal, @Req() req: Request, @Res() res: Response): void {
    const tenantId = tenantIdOf(p);
    const opened = this.open.get(p.keyId) ?? 0;
    if (opened >= this.limits.STREAM_MAX_PER_KEY) {
      throw new ProblemException(429, `this API key already has ${opened} streams open (at most ${this.limits.STREAM_MAX_PER_KEY}); close one first`);
    }
    this.open.set(p.keyId, opened + 1);
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.write(`retry: 2000\nevent: ready\ndata: ${JSON.stringify({ live: this.live.connected })}\n\n`);
    // A client that does not read leaves what is written to it in this process's memory: past the limit it is
    // dropped (its connection destroyed, as nothing more can reach it), and it reconnects and reads again.
    const write = (text: string) => {
      if (closed) return;
      res.write(text);
      if (res.writableLength > this.limits.STREAM_MAX_BUFFERED_BYTES) {
        close();
        res.destroy();
      }
    };
    const unsubscribe = this.live.subscribe(tenantId, {
      change: (c) => write(`event: ${c.kind}\ndata: ${JSON.stringify(c)}\n\n`),
      // Changes made while the replica's feed is down are never streamed: the client re-reads on `live: true`.
      state: (live) => write(`event: state\ndata: ${JSON.stringify({ live })}\n\n`),
      end: () => finish(),
    });
    const keepalive = setInterval(() => write(': keepalive\n\n'), KEEPALIVE_MS);
    // A key revoked (or past its rotation's grace) stops what it is already receiving.
    const unwatch = this.keys.watchKey(p.keyId, () => finish(`event: revoked\ndata: ${JSON.stringify({ reason: 'the API key was revoked' })}\n\n`));
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(keepalive);
      unsubscribe();
      unwatch();
      const left = this.open.get(p.keyId)! - 1;
      if (left > 0) this.open.set(p.keyId, left);
      else this.open.delete(p.keyId);
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
