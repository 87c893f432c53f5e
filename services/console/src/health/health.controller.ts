import { Controller, Get, HttpCode, Inject, ServiceUnavailableException } from '@nestjs/common';
import { problem } from '@elo/platform';
import { WEB_DIST } from '../tokens';

@Controller('health')
export class HealthController {
  constructor(@Inject(WEB_DIST) private readonly webDist: string | undefined) {}

  @Get('live')
  @HttpCode(200)
  live(): { status: string } {
    return { status: 'ok' };
  }

  /** Ready when the single-page app is there to serve (upstreams are checked by their own probes). */
  @Get('ready')
  @HttpCode(200)
  ready(): { status: string } {
    if (!this.webDist) throw new ServiceUnavailableException(problem(503, 'the console web app is not built (see services/console/web)'));
    return { status: 'ready' };
  }
}
