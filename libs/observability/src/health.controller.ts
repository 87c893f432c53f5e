import { Controller, Get, Header, Inject, Optional, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { metricsRegistry } from './metrics';
import { Public } from './public.decorator';

export interface ReadinessCheck {
  name: string;
  /** Throws when the dependency is not usable. */
  check(): Promise<void>;
}

/** Each library that adds a dependency provides one check under this token (see ObservabilityModule). */
export const READINESS_CHECKS = Symbol('READINESS_CHECKS');
export const EXTRA_READINESS_CHECKS = Symbol('EXTRA_READINESS_CHECKS');

@ApiExcludeController()
@Public()
@Controller()
export class HealthController {
  constructor(@Optional() @Inject(EXTRA_READINESS_CHECKS) private readonly checks: ReadinessCheck[] = []) {}

  @Get('health/live')
  live() {
    return { status: 'ok' };
  }

  @Get('health/ready')
  async ready(@Res() res: Response) {
    const results = await Promise.all(
      this.checks.map(async (c) => {
        try {
          await Promise.race([
            c.check(),
            new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), 2_000).unref()),
          ]);
          return { name: c.name, ok: true };
        } catch (err) {
          return { name: c.name, ok: false, error: (err as Error).message };
        }
      }),
    );
    const failed = results.filter((r) => !r.ok);
    if (failed.length === 0) {
      res.status(200).json({ status: 'ready', checks: results });
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
          checks: results,
        }),
      );
  }

  @Get('metrics')
  @Header('Content-Type', metricsRegistry.contentType)
  metrics() {
    return metricsRegistry.metrics();
  }
}
