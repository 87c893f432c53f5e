import type { INestApplication } from '@nestjs/common';
import { json, urlencoded, text, type NextFunction, type Request, type Response } from 'express';
import { problem } from './problem-details.filter';
import { RateLimiter, type RateLimitOptions } from './rate-limit';

export type RawBodyRequest = Request & { rawBody?: Buffer };

const keepRaw = (req: Request, _res: Response, buf: Buffer) => {
  (req as RawBodyRequest).rawBody = buf;
};

/** Security headers on every response (pages get a strict same-origin CSP). */
export function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  res.setHeader('Permissions-Policy', 'camera=(), microphone=(), payment=()');
  res.setHeader(
    'Content-Security-Policy',
    "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  );
  res.removeHeader('X-Powered-By');
  next();
}

/** Turns body-parser failures (too large, bad JSON, bad charset) into problem+json 4xx answers. */
function bodyErrors(err: unknown, req: Request, res: Response, next: NextFunction): void {
  const e = err as { type?: string; status?: number; message?: string };
  if (!e?.type) return next(err);
  const status = e.type === 'entity.too.large' ? 413 : e.status && e.status < 500 ? e.status : 400;
  const detail =
    e.type === 'entity.too.large'
      ? 'the request body is larger than this endpoint accepts'
      : e.type === 'entity.parse.failed'
        ? 'the request body is not valid JSON'
        : (e.message ?? 'the request body could not be read');
  res
    .status(status)
    .type('application/problem+json')
    .send(JSON.stringify(problem(status, detail, { instance: req.originalUrl.split('?')[0] })));
}

/**
 * Rate limits first (per API key, or per source for keyless requests like webhooks), then body
 * parsing with the raw bytes kept (webhook signatures are over the raw body) and a size limit on
 * every endpoint.
 */
export function configureHttp(app: INestApplication, bodyLimitBytes: number, rateLimits: RateLimitOptions): void {
  // No ETag: Express hashed every JSON answer (POSTs included) for a conditional GET no client of the
  // API makes; the console's static files keep theirs (serve-static sets its own).
  (app.getHttpAdapter().getInstance() as { set(setting: string, value: unknown): unknown }).set('etag', false);
  app.use(securityHeaders);
  app.use(new RateLimiter(rateLimits).middleware());
  app.use(json({ limit: bodyLimitBytes, verify: keepRaw, type: ['application/json', 'application/*+json'] }));
  app.use(urlencoded({ limit: bodyLimitBytes, extended: false, verify: keepRaw }));
  app.use(text({ limit: bodyLimitBytes, verify: keepRaw, type: ['text/*', 'application/xml'] }));
  app.use(bodyErrors);
}
