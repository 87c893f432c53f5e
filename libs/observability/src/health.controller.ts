import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { metricsRegistry } from './metrics';
import { Public } from './public.decorator';
import { ReadinessChecks } from './readiness';

/** Liveness, readiness and Prometheus metrics; public (no API key), left out of the OpenAPI document. */
@ApiExcludeController()
@Public()
@Controller()
export class HealthController {
  constructor(private readonly readiness: ReadinessChecks) {}

  /** The process answers; says nothing about dependencies (a broker outage must not restart pods). */
  @Get('health/live')
  live() {
    return { status: 'ok' };
  }

  @Get('health/ready')
  async ready(@Res() res: Response): Promise<void> {
    const checks = await this.readiness.run();
    const failed = checks.filter((r) => !r.ok);
    res.setHeader('Cache-Control', 'no-store');
    if (failed.length === 0) {
      res.status(200).json({ status: 'ready', checks });
      return;
    }
    res
      .status(503)
      .type('application/problem+json')
      .send(
        JSON.stringify({
          type: 'about:blank',
          title: 'Service Unavailable',
          status: 503,
          detail: `not ready: ${failed.map((f) => `${f.name} (${f.error})`).join(', ')}`,
          failed: failed.map((f) => f.name),
          checks,
        }),
      );
  }

  @Get('metrics')
  @Header('Content-Type', metricsRegistry.contentType)
  @Header('Cache-Control', 'no-store')
  metrics(): Promise<string> {
    return metricsRegistry.metrics();
  }
}
