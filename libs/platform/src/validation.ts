import { BadRequestException, Injectable, ValidationPipe, type ArgumentMetadata, type PipeTransform, type ValidationError } from '@nestjs/common';
import { storable } from '@elo/persistence';
import { IsISO8601, isISO8601, Matches } from 'class-validator';
import { problem } from './problem-details.filter';

function flatten(errors: ValidationError[], prefix = ''): Array<{ field: string; message: string }> {
  return errors.flatMap((e) => {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/** The keys Nest's pipe deletes from a value before validating it (its guard against prototype pollution). */
const UNSAFE_KEYS = new Set(['__proto__', 'prototype', 'constructor']);

/**
 * How deep a body may nest objects and arrays. Deeper, the recursive walks of a value (below, then Nest's and
 * class-transformer's) ran out of stack: 5 KB of `[` was a 500, logged as a bug, on every endpoint taking a body.
 */
const MAX_NESTING = 64;

function refuse(at: string, message: string): never {
  throw new BadRequestException(problem(400, `${at}: ${message}`, { errors: [{ field: at, message }] }));
}

/** Refuses (400) an own key of `value` named as an UNSAFE_KEY, at any depth, and nesting deeper than MAX_NESTING. */
function refuseUnsafe(value: unknown, path: string, depth: number): void {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return;
  if (depth > MAX_NESTING) refuse(path, `nested deeper than ${MAX_NESTING} levels`);
  for (const [k, v] of Object.entries(value)) {
    const at = Array.isArray(value) ? `${path}[${k}]` : path ? `${path}.${k}` : k;
    if (!Array.isArray(value) && UNSAFE_KEYS.has(k)) refuse(at, `${k} is not a field name this API takes`);
    refuseUnsafe(v, at, depth + 1);
  }
}

/**
 * Nest's pipe deletes `__proto__`, `prototype` and `constructor` keys and validates the rest, so such a key
 * (JSON makes it an own key: a contact attribute, a header, a template field) vanished under a 200. Here it is
 * a 400 naming it, and nothing changes; so is a value nested deeper than MAX_NESTING.
 */
class RefusingValidationPipe extends ValidationPipe {
  protected override stripProtoKeys(value: unknown): void {
    refuseUnsafe(value, '', 0);
    super.stripProtoKeys(value);
  }
}

/**
 * For a controller whose text people type is kept as given, as far as PostgreSQL can (`@UsePipes(StorableInput)`): its
 * body, query and route parameters with U+0000 and lone surrogates as U+FFFD (`storable`), after validation. Text
 * columns refuse U+0000 and jsonb refuses both: a 500 otherwise.
 */
@Injectable()
export class StorableInput implements PipeTransform {
  transform(value: unknown, meta: ArgumentMetadata): unknown {
    return meta.type === 'custom' ? value : storable(value);
  }
}

/** DTO validation whose 400 says, per field, what is wrong. Unknown fields are refused. */
export function validationPipe(): ValidationPipe {
  return new RefusingValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    exceptionFactory: (errors) => {
      const list = flatten(errors);
      return new BadRequestException(
        problem(400, list.map((e) => `${e.field}: ${e.message}`).join('; '), { errors: list }),
      );
    },
  });
}

/**
 * The ISO 8601 times PostgreSQL reads as timestamptz: a calendar date (year 1 on), optionally with a time (hours
 * and minutes at least; a fraction after a dot) and an offset (up to ±15:59, PostgreSQL's limit). Other forms ISO
 * 8601 allows (`2026`, `2026-W01`, `2026-01-05T10`, a comma fraction, year 0, an offset of +16:00 or more) made a
 * query that took them fail: a 500 instead of a 400.
 */
const TIMESTAMP = /^(?!0000)\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-](?:0\d|1[0-5])(?::?\d{2})?)?)?$/i;
const TIMESTAMP_MESSAGE = '$property must be a date (YYYY-MM-DD), optionally with a time (THH:MM[:SS[.ffffff]]) and an offset (Z or ±HH:MM, at most ±15:59)';

/** Whether `v` is an instant PostgreSQL reads as given (strict ISO 8601: no 30 February). */
export const isTimestamp = (v: string): boolean => isISO8601(v, { strict: true }) && TIMESTAMP.test(v);

/** A query's instant (a range's from or to): see isTimestamp. */
export const IsTimestamp = (): PropertyDecorator => (target, key) => {
  IsISO8601({ strict: true }, { message: TIMESTAMP_MESSAGE })(target, key);
  Matches(TIMESTAMP, { message: TIMESTAMP_MESSAGE })(target, key);
};

/**
 * The fields of a DTO its body gave (null included). A DTO has every declared field as an own property (ES2022
 * class fields), those the body did not send as undefined: spread over stored values they reset them, so a PATCH of
 * one setting wrote every other one back to its default.
 */
export function givenFields<T extends object>(dto: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(dto ?? {}).filter((e) => e[1] !== undefined)) as Partial<T>;
}
