import type { INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { authMigrations, ReencryptionService } from '@elo/auth';
import { correlationMiddleware, createLogger, PinoNestLogger } from '@elo/observability';
import { runSchemaMigrations } from '@elo/persistence';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import type { BaseServiceConfig } from './config';
import { ExpressPlatform } from './express-platform';
import { configureHttp } from './http-setup';
import { ProblemDetailsFilter } from './problem-details.filter';
import { validationPipe } from './validation';

export interface BuildAppOptions {
  service: string;
  title: string;
  config: BaseServiceConfig;
  logger?: Logger;
}

/** Creates a service's Nest app with everything every service shares; the caller listens. */
export async function buildServiceApp(module: Type<unknown> | ReturnType<typeof Object>, o: BuildAppOptions): Promise<INestApplication> {
  const logger = o.logger ?? createLogger(o.service, { level: o.config.LOG_LEVEL });
  // Tenants and API keys live in the shared `auth` schema; whoever boots first creates it.
  await runSchemaMigrations(o.config.DATABASE_URL, 'auth', authMigrations);
  const app = await NestFactory.create(module as Type<unknown>, new ExpressPlatform(), {
    bodyParser: false,
    logger: new PinoNestLogger(logger),
    abortOnError: false,
  });
  configureHttp(app, o.config.BODY_LIMIT_BYTES, {
    perKeyPerMinute: o.config.RATE_LIMIT_PER_KEY_PER_MINUTE,
    perSourcePerMinute: o.config.RATE_LIMIT_PER_SOURCE_PER_MINUTE,
  });
  app.use(correlationMiddleware);
  app.useGlobalPipes(validationPipe());
  app.useGlobalFilters(new ProblemDetailsFilter(logger));
  const doc = SwaggerModule.createDocument(
    app,
    new DocumentBuilder().setTitle(o.title).setVersion('1').addBearerAuth().build(),
  );
  SwaggerModule.setup('docs', app, doc, { jsonDocumentUrl: 'docs/openapi.json' });
  app.enableShutdownHooks();
  return app;
}

/**
 * `main.js --reencrypt` (`npx nx run <service>:reencrypt`): re-seals the service's registered SecretBox
 * columns under the active key, prints the report and exits (1 when some value could not be opened).
 * The app's providers are built but never started: no HTTP, no consumers, no relay, no schedulers.
 */
export async function runReencryption(module: Type<unknown> | ReturnType<typeof Object>, o: BuildAppOptions): Promise<never> {
  const logger = o.logger ?? createLogger(o.service, { level: o.config.LOG_LEVEL });
  try {
    const app = await NestFactory.create(module as Type<unknown>, { bodyParser: false, logger: new PinoNestLogger(logger), abortOnError: false });
    const report = await app.get(ReencryptionService, { strict: false }).run();
    await app.get(DataSource, { strict: false }).destroy();
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    process.exit(report.columns.some((c) => c.failed > 0) ? 1 : 0);
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, `${o.service} re-encryption failed`);
    process.exit(1);
  }
}

/** main.ts of every service: build, listen, log where. Exits with the reason when boot fails. */
export async function runService(
  module: Type<unknown> | ReturnType<typeof Object>,
  o: BuildAppOptions,
): Promise<INestApplication> {
  if (process.argv.includes('--reencrypt')) return runReencryption(module, o);
  const logger = o.logger ?? createLogger(o.service, { level: o.config.LOG_LEVEL });
  try {
    const app = await buildServiceApp(module, { ...o, logger });
    await app.listen(o.config.PORT, '0.0.0.0');
    logger.info({ url: `http://127.0.0.1:${o.config.PORT}`, docs: `http://127.0.0.1:${o.config.PORT}/docs` }, `${o.service} listening`);
    return app;
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, `${o.service} failed to start`);
    process.exit(1);
  }
}
