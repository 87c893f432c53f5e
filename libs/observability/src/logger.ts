import type { LoggerService } from '@nestjs/common';
import pino, { type DestinationStream, type Logger } from 'pino';
import { currentCorrelationId } from './correlation';

/** Keys whose values are secrets wherever they appear (any depth, any case variant listed). */
export const SECRET_KEYS = [
  'authorization', 'Authorization', 'cookie', 'set-cookie', 'x-hub-signature-256', 'x-telegram-bot-api-secret-token',
  'webhook-signature', 'x-api-key', 'password', 'secret', 'token', 'accessToken', 'access_token', 'appSecret',
  'app_secret', 'apiKey', 'api_key', 'refreshToken', 'refresh_token', 'clientSecret', 'client_secret', 'chave',
  'privateKey', 'signingSecret', 'verifyToken', 'secretToken', 'credentials', 'key',
];

const paths = SECRET_KEYS.flatMap((k) => {
  const p = /^[A-Za-z_$][\w$]*$/.test(k) ? k : `["${k}"]`;
  const sep = p.startsWith('[') ? '' : '.';
  return [p, `*${sep}${p}`, `*.*${sep}${p}`, `*.*.*${sep}${p}`, `headers${sep}${p}`, `req.headers${sep}${p}`];
});

const STRING_SECRETS: Array<[RegExp, string]> = [
  [/(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]'],
  [/\belo_[A-Za-z0-9]{4,}_[A-Za-z0-9]{8,}\b/g, 'elo_[redacted]'],
  [/\b(sk|pk|rk)_(live|test)_[A-Za-z0-9]+/g, '$1_$2_[redacted]'],
  [/([?&](?:token|key|secret|password|access_token|api_key|apikey|chave|sig|signature)=)[^&\s#]+/gi, '$1[redacted]'],
];

/** Masks secrets that travel inside strings (error messages, URLs). */
export function redactString(s: string): string {
  return STRING_SECRETS.reduce((acc, [re, rep]) => acc.replace(re, rep), s);
}

export function createLogger(service: string, opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
      base: { service },
      redact: { paths, censor: '[redacted]' },
      mixin: () => {
        const correlationId = currentCorrelationId();
        return correlationId ? { correlationId } : {};
      },
      formatters: { level: (label) => ({ level: label }) },
      hooks: {
        // Strings passed as messages can carry secrets too (URLs with tokens, "Bearer …").
        logMethod(args, method) {
          const masked = args.map((a) => (typeof a === 'string' ? redactString(a) : a)) as typeof args;
          return method.apply(this, masked);
        },
      },
    },
    opts.destination,
  );
}

/** Nest's own log lines, through pino. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string) {
    this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string) {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string) {
    this.logger.trace({ context }, String(message));
  }
}
