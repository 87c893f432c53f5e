import type { LoggerService } from '@nestjs/common';
import pino, { type DestinationStream, type Logger } from 'pino';
import { currentCorrelationId } from './correlation';
import { redactString, redactValue } from './redaction';

export interface CreateLoggerOptions {
  /** Defaults to LOG_LEVEL, else `info`. */
  level?: string;
  /** Where lines go (default stdout); tests pass a memory stream. */
  destination?: DestinationStream;
}

/**
 * JSON logs with a `service` field, the current correlation id on every line, and secrets masked:
 * secret-named fields at any depth and in any spelling, plus secrets inside strings (messages, URLs,
 * error messages and stacks).
 */
export function createLogger(service: string, opts: CreateLoggerOptions = {}): Logger {
  const logger = pino(
    {
      level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
      base: { service },
      mixin: () => {
        const correlationId = currentCorrelationId();
        return correlationId ? { correlationId } : {};
      },
      formatters: {
        level: (label) => ({ level: label }),
        bindings: (bindings) => redactValue(bindings) as Record<string, unknown>,
        log: (obj) => redactValue(obj) as Record<string, unknown>,
      },
      hooks: {
        // The message and its interpolation arguments can carry secrets too.
        logMethod(args, method) {
          const masked = args.map((a, i) =>
            typeof a === 'string' ? redactString(a) : i === 0 ? a : redactValue(a),
          ) as unknown[];
          // Logging an error without a message makes pino use error.message, unredacted: supply it.
          const first = masked[0] as { err?: unknown; msg?: unknown } | undefined;
          const err = first instanceof Error ? first : first?.err;
          if (err instanceof Error && typeof masked[1] !== 'string' && first?.msg === undefined) {
            masked.splice(1, 0, redactString(err.message));
          }
          return method.apply(this, masked as typeof args);
        },
      },
    },
    opts.destination,
  );
  // Pino applies the bindings formatter to the root only; children inherit this `child` (prototype chain).
  const child = logger.child;
  logger.child = function (this: Logger, bindings, options) {
    return child.call(this, redactValue(bindings) as typeof bindings, options);
  } as typeof logger.child;
  return logger;
}

type Level = 'info' | 'error' | 'warn' | 'debug' | 'trace' | 'fatal';

/** Nest's own log lines (bootstrap, route mapping, uncaught exceptions), through pino. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params, true);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params, true);
  }

  /** Nest calls `(message, context)` and, for errors, `(message, stack, context)`. */
  private write(level: Level, message: unknown, params: unknown[], mayHaveStack = false): void {
    const rest = [...params];
    const context = rest.length > 0 && typeof rest[rest.length - 1] === 'string' ? (rest.pop() as string) : undefined;
    const fields: Record<string, unknown> = {};
    if (context) fields.context = context;
    if (mayHaveStack && typeof rest[0] === 'string') fields.stack = rest.shift();
    // A lone string "context" that is really a stack (Nest's error(message, stack)).
    if (mayHaveStack && !fields.stack && context && /\n\s+at /.test(context)) {
      fields.stack = context;
      delete fields.context;
    }
    if (rest.length > 0) fields.details = rest;
    if (message instanceof Error) this.logger[level]({ ...fields, err: message }, message.message);
    else if (message !== null && typeof message === 'object') this.logger[level]({ ...fields, ...(message as object) });
    else this.logger[level](fields, String(message));
  }
}
