import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { TENANT_PERMISSIONS } from '@elo/auth';
import { createLogger, PinoNestLogger } from '@elo/observability';
import { ExpressPlatform, problem, ProblemDetailsFilter, securityHeaders } from '@elo/platform';
import type { NextFunction, Request, Response } from 'express';
import { join } from 'node:path';
import { AppModule, SERVICE } from './app.module';
import { upstreams, type ConsoleConfig } from './config/console.config';
import { createProxy } from './proxy/proxy.service';
import { findWebDist } from './spa/spa.service';

/**
 * The console: security headers, `/api/<service>/…` forwarded to the five services, the built
 * single-page app with an index.html fallback, and /health. No body parsing: bodies are streamed on.
 */
export async function createConsoleApp(config: ConsoleConfig): Promise<NestExpressApplication> {
  const logger = createLogger(SERVICE, { level: config.LOG_LEVEL });
  const webDist = findWebDist(config.WEB_DIST_DIR);
  if (!webDist) logger.warn('the web app is not built: npx nx run console:build-web');
  const app = await NestFactory.create<NestExpressApplication>(AppModule.register(config, webDist), new ExpressPlatform(), {
    bodyParser: false,
    logger: new PinoNestLogger(logger),
  });
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.useGlobalFilters(new ProblemDetailsFilter(logger));
  app.use(securityHeaders);
  app.use('/api', createProxy({ upstreams: upstreams(config), bodyLimitBytes: config.BODY_LIMIT_BYTES, timeoutMs: config.UPSTREAM_TIMEOUT_MS, logger }));
  app.use('/console-config.json', (_req: Request, res: Response) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.json({
      dashboardUrl: config.DASHBOARD_URL,
      operatorUrl: config.OPERATOR_URL,
      services: Object.keys(upstreams(config)),
      // What a key may be granted (the Keys section offers these; the API still decides).
      permissions: TENANT_PERMISSIONS,
    });
  });
  if (webDist) {
    app.useStaticAssets(join(webDist, 'assets'), { prefix: '/assets/', immutable: true, maxAge: '365d', index: false });
    app.use((req: Request, res: Response, next: NextFunction) => {
      if ((req.method !== 'GET' && req.method !== 'HEAD') || req.path.startsWith('/health')) return next();
      if (req.path !== '/' && /\.[a-z0-9]+$/i.test(req.path)) {
        res.status(404).type('application/problem+json').send(JSON.stringify(problem(404, 'no such file')));
        return;
      }
      res.setHeader('Cache-Control', 'no-cache');
      res.sendFile('index.html', { root: webDist, dotfiles: 'deny' });
    });
  }
  app.enableShutdownHooks();
  return app;
}
