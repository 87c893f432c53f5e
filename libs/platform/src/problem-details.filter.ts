import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: Array<{ field?: string; message: string }>;
  [extra: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict',
  413: 'Payload Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Content', 429: 'Too Many Requests',
  500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** Builds an RFC 9457 problem body. */
export function problem(status: number, detail?: string, extra: Partial<ProblemBody> = {}): ProblemBody {
  return { type: 'about:blank', title: TITLES[status] ?? 'Error', status, ...(detail ? { detail } : {}), ...extra };
}

/** An HttpException whose response is already a problem body. */
export class ProblemException extends HttpException {
  constructor(status: number, detail: string, extra: Partial<ProblemBody> = {}) {
    super(problem(status, detail, extra), status);
  }
}

function isDatabaseOutage(err: unknown): boolean {
  const e = err as { code?: string; message?: string; name?: string };
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P03', '08006', '08001', '08003'].includes(e?.code ?? '') ||
    /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      e?.message ?? '',
    )
  );
}

/**
 * Every error leaves as application/problem+json. HttpExceptions keep their status; an unreachable
 * database is a 503 (the request stored nothing); anything else is a 500 and is logged as a bug.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<Response>();
    const req = ctx.getRequest<Request>();
    let body: ProblemBody;
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const r = exception.getResponse();
      if (typeof r === 'object' && r !== null && 'type' in r && 'status' in r) body = r as ProblemBody;
      else {
        const msg = typeof r === 'string' ? r : (r as { message?: unknown }).message;
        const errors = Array.isArray(msg) ? msg.map((m) => ({ message: String(m) })) : undefined;
        body = problem(status, Array.isArray(msg) ? 'the request is not valid' : String(msg ?? exception.message), errors ? { errors } : {});
      }
      if (status >= 500) this.logger.error({ err: exception.message, path: req.path }, 'request failed');
    } else if ((exception as { type?: string })?.type === 'entity.too.large') {
      body = problem(HttpStatus.PAYLOAD_TOO_LARGE, 'the request body is larger than this endpoint accepts');
    } else if ((exception as { type?: string })?.type === 'entity.parse.failed') {
      body = problem(HttpStatus.BAD_REQUEST, 'the request body is not valid JSON');
    } else if (isDatabaseOutage(exception)) {
      this.logger.error({ err: (exception as Error).message, path: req.path }, 'database unavailable');
      body = problem(HttpStatus.SERVICE_UNAVAILABLE, 'storage is unavailable; nothing was stored, try again later');
      res.setHeader('Retry-After', '5');
    } else {
      this.logger.error({ err: (exception as Error)?.message, stack: (exception as Error)?.stack, path: req.path }, 'unhandled error');
      body = problem(HttpStatus.INTERNAL_SERVER_ERROR, 'an unexpected error occurred');
    }
    body.instance ??= req.originalUrl?.split('?')[0];
    res.status(body.status).type('application/problem+json').send(JSON.stringify(body));
  }
}
