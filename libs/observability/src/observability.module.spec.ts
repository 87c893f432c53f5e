import {
  CanActivate, Controller, ForbiddenException, Get, INestApplication, Injectable, Module, Param,
} from '@nestjs/common';
import { APP_GUARD, NestFactory, Reflector } from '@nestjs/core';
import request from 'supertest';
import type { ExecutionContext } from '@nestjs/common';
import { IS_PUBLIC_KEY } from './public.decorator';
import { ObservabilityModule } from './observability.module';
import { READINESS_CHECKS, ReadinessChecks, type ReadinessCheck } from './readiness';
import { busMetrics, metricsRegistry } from './metrics';

const state = { postgresUp: true };

@Injectable()
class PostgresCheck implements ReadinessCheck {
  readonly name = 'postgres';
  async check() {
    if (!state.postgresUp) throw new Error('connect ECONNREFUSED postgres://elo:pw-secret@db:5432/elo');
  }
}
@Module({ providers: [PostgresCheck, { provide: READINESS_CHECKS, useExisting: PostgresCheck }] })
class FakePersistenceModule {}

@Module({
  providers: [{ provide: READINESS_CHECKS, useValue: { name: 'rabbitmq', check: async () => undefined } }],
})
class FakeMessagingModule {}

@Injectable()
class TokenCheck implements ReadinessCheck {
  readonly name = 'by-token';
  async check() {}
}
@Module({ providers: [TokenCheck], exports: [TokenCheck] })
class TokenModule {}

/** Stands in for @elo/auth's guard: public routes pass, everything else is refused. */
@Injectable()
class DenyGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}
  canActivate(ctx: ExecutionContext): boolean {
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, [ctx.getHandler(), ctx.getClass()])) return true;
    throw new ForbiddenException();
  }
}

@Controller('things')
class ThingsController {
  @Get(':id')
  get(@Param('id') id: string) {
    return { id };
  }
}

describe('ObservabilityModule', () => {
  let app: INestApplication;

  beforeAll(async () => {
    @Module({
      imports: [
        FakePersistenceModule,
        FakeMessagingModule,
        TokenModule,
        ObservabilityModule.forRoot({
          service: 'obs-test',
          readinessTokens: [TokenCheck],
          readiness: [{ name: 'literal', check: async () => undefined }],
        }),
      ],
      controllers: [ThingsController],
      providers: [{ provide: APP_GUARD, useClass: DenyGuard }],
    })
    class AppModule {}
    app = await NestFactory.create(AppModule, { logger: false });
    await app.init();
  });

  afterAll(() => app.close());

  it('GET /health/live is public and ok', async () => {
    await request(app.getHttpServer()).get('/health/live').expect(200, { status: 'ok' });
  });

  it('collects checks from READINESS_CHECKS providers in several modules, tokens and literals', () => {
    expect(app.get(ReadinessChecks).all().map((c) => c.name).sort()).toEqual(['by-token', 'literal', 'postgres', 'rabbitmq']);
  });

  it('GET /health/ready answers 200 when every check passes', async () => {
    state.postgresUp = true;
    const res = await request(app.getHttpServer()).get('/health/ready').expect(200);
    expect(res.body.status).toBe('ready');
    expect(res.body.checks).toHaveLength(4);
  });

  it('GET /health/ready answers 503 problem+json naming the failed dependency, secrets masked', async () => {
    state.postgresUp = false;
    const res = await request(app.getHttpServer()).get('/health/ready').expect(503);
    state.postgresUp = true;
    expect(res.headers['content-type']).toContain('application/problem+json');
    const body = JSON.parse(res.text) as { status: number; failed: string[]; detail: string };
    expect(body.status).toBe(503);
    expect(body.failed).toEqual(['postgres']);
    expect(body.detail).toContain('postgres');
    expect(res.text).not.toContain('pw-secret');
  });

  it('a check that hangs fails by timeout', async () => {
    const checks = app.get(ReadinessChecks);
    const hanging: ReadinessCheck = { name: 'hangs', check: () => new Promise<void>(() => undefined) };
    const before = checks.timeoutMs;
    checks.timeoutMs = 50;
    checks.register(hanging);
    try {
      const res = await checks.run();
      expect(res.find((r) => r.name === 'hangs')).toMatchObject({ ok: false, error: expect.stringContaining('timed out') });
    } finally {
      checks.timeoutMs = before;
      (checks.all() as ReadinessCheck[]).splice(checks.all().indexOf(hanging), 1);
    }
  });

  it('GET /metrics serves Prometheus text with the bus and HTTP metrics, labelled by route pattern', async () => {
    busMetrics.published.inc({ type: 'chat.message.received' });
    busMetrics.consumed.inc({ type: 'chat.message.received', outcome: 'duplicate' });
    busMetrics.outboxBacklog.set(7);
    await request(app.getHttpServer()).get('/things/123').expect(403);
    await request(app.getHttpServer()).get('/things/456').expect(403);
    await request(app.getHttpServer()).get('/nowhere/at/all').expect(404);
    const res = await request(app.getHttpServer()).get('/metrics').expect(200);
    expect(res.headers['content-type']).toContain('text/plain');
    for (const name of [
      'elo_http_request_duration_seconds', 'elo_events_published_total', 'elo_events_consumed_total',
      'elo_events_retried_total', 'elo_events_parked_total', 'elo_outbox_backlog', 'elo_outbox_oldest_age_seconds',
      'process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds',
    ]) {
      expect(res.text).toContain(name);
    }
    expect(res.text).toMatch(/elo_http_request_duration_seconds_count\{[^}]*route="\/things\/:id"[^}]*status="403"[^}]*\} 2/);
    expect(res.text).toMatch(/elo_http_request_duration_seconds_count\{[^}]*route="unmatched"[^}]*status="404"/);
    expect(res.text).not.toContain('/things/123');
    expect(res.text).toMatch(/elo_outbox_backlog\{service="obs-test"\} 7/);
    expect(res.text).toMatch(/elo_events_consumed_total\{type="chat.message.received",outcome="duplicate",service="obs-test"\} 1/);
  });

  it('uses one registry for the process', () => {
    expect(metricsRegistry.getSingleMetric('elo_events_parked_total')).toBe(busMetrics.parked);
  });
});
