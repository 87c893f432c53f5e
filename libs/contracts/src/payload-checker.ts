import {
  getMetadataStorage,
  isISO8601,
  isInt,
  isLatitude,
  isLongitude,
  isNumber,
  isUUID,
  maxLength,
  min,
  ValidationTypes,
} from 'class-validator';
import { memoiseValidationMetadata, validationRulesVersion } from './validation-cache';

/**
 * Checks a payload against its class without class-validator's machinery, and builds the instance
 * plainToInstance would, for the common case: a valid payload of JSON values.
 *
 * validateSync + plainToInstance cost about 13 µs and 22 kB of garbage an event (a ValidationError per
 * property, metadata lookups per key), on every publish and every delivery. The checker is compiled
 * once per class from the same rules class-validator would run (its metadata storage, same lookup
 * options) and answers only "certainly valid" or "not sure": "not sure" (a failing rule, a value that
 * is not plain JSON, a class with a rule or transform this file does not know) sends the caller back
 * to class-validator, so every verdict and every message stays class-validator's. The catalogue spec
 * holds the two to the same verdict, and the instance built here to plainToInstance's, over generated
 * payloads of every event type.
 */
export interface PayloadChecker {
  /** True only when class-validator would find no problem in plainToInstance(cls, data). */
  check(data: unknown): boolean;
  /** plainToInstance(cls, data), for data `check` accepted. */
  build(data: unknown): object;
}

type Rule = (value: unknown) => boolean;
type Class = new () => object;

interface ValidationMetadata {
  type: string;
  name?: string;
  target: Class | string;
  propertyName: string;
  constraints?: unknown[];
  constraintCls: unknown;
  each?: boolean;
  validateIf?: unknown;
}

interface ValidatorStorage {
  getTargetValidationMetadatas(
    target: Class,
    schema: string | undefined,
    always: boolean,
    strictGroups: boolean,
    groups?: string[],
  ): ValidationMetadata[];
  getTargetValidatorConstraints(cls: unknown): Array<{ name?: string; async: boolean }>;
}

/** class-transformer's decorator storage: not in its public typings, the same object its decorators fill. */
interface TransformStorage {
  findTypeMetadata(
    target: Class,
    property: string,
  ): { typeFunction?: (o?: unknown) => unknown; options?: { discriminator?: unknown } } | undefined;
  getExposedMetadatas(target: Class): unknown[];
  getExcludedMetadatas(target: Class): unknown[];
  getStrategy(target: Class): string;
  _typeMetadatas: Map<unknown, Map<string, unknown>>;
  _transformMetadatas: Map<unknown, Map<string, unknown>>;
}
memoiseValidationMetadata();

// eslint-disable-next-line @typescript-eslint/no-require-imports
const transformer = require('class-transformer/cjs/storage') as { defaultMetadataStorage: TransformStorage };
/** class-transformer's decorator storage (@Type, @Transform, @Expose, @Exclude). */
export const transformStorage = transformer.defaultMetadataStorage;

const CUSTOM = ValidationTypes.CUSTOM_VALIDATION;
const NESTED = ValidationTypes.NESTED_VALIDATION;
const CONDITIONAL = ValidationTypes.CONDITIONAL_VALIDATION;

/**
 * The rules compiled, by class-validator's name for them. Each is the library's own function or an
 * inlined copy of it (values reaching a rule are plain JSON values: see `jsonValue`).
 */
export const SUPPORTED_RULES: Record<string, (constraints: unknown[]) => Rule | undefined> = {
  isString: () => (v) => typeof v === 'string',
  isNotEmpty: () => (v) => v !== '' && v !== null && v !== undefined,
  isBoolean: () => (v) => typeof v === 'boolean',
  isArray: () => (v) => Array.isArray(v),
  isObject: () => (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
  isInt: () => (v) => isInt(v),
  isNumber:
    ([options]) =>
    (v) =>
      isNumber(v, options as object),
  min:
    ([bound]) =>
    (v) =>
      min(v, bound as number),
  maxLength: ([max]) => {
    if (typeof max !== 'number') return undefined;
    // isLength counts a surrogate pair as one character, so a string no longer in code units passes as is.
    return (v) => typeof v === 'string' && (v.length <= max || maxLength(v, max));
  },
  isIn: ([values]) => {
    if (!Array.isArray(values)) return () => false;
    if (values.every((x) => typeof x === 'string')) {
      const set = new Set<unknown>(values);
      return (v) => typeof v === 'string' && set.has(v);
    }
    return (v) => values.some((x) => x === v);
  },
  isUuid:
    ([version]) =>
    (v) =>
      isUUID(v, version as Parameters<typeof isUUID>[1]),
  isIso8601:
    ([options]) =>
    (v) =>
      isISO8601(v, options as Parameters<typeof isISO8601>[1]),
  isLatitude: () => (v) => isLatitude(v as string),
  isLongitude: () => (v) => isLongitude(v as string),
};

interface Property {
  name: string;
  optional: boolean;
  rules: Rule[];
  nested?: PayloadChecker;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function isPlainArray(v: unknown): v is unknown[] {
  return Array.isArray(v) && Object.getPrototypeOf(v) === Array.prototype;
}

/** Keys plainToInstance never copies onto an instance of `cls`: its prototype's methods and getters, and Object's. */
function skippedKeys(cls: Class): Set<string> {
  const instance = new cls() as Record<string, unknown>;
  const skipped = new Set(['__proto__', 'constructor']);
  for (let p: object | null = cls.prototype as object; p; p = Object.getPrototypeOf(p) as object | null) {
    for (const key of Object.getOwnPropertyNames(p)) {
      const own = Object.getOwnPropertyDescriptor(cls.prototype, key);
      if ((own && !own.set) || instance[key] instanceof Function) skipped.add(key);
    }
  }
  return skipped;
}

const OBJECT_SKIPPED = skippedKeys(Object);

/** A value plainToInstance copies as it is (no decorator on its key): JSON values only. */
function jsonValue(v: unknown): boolean {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'undefined':
      return true;
    case 'object':
      if (v === null) return true;
      if (isPlainArray(v)) {
        for (let i = 0; i < v.length; i++) if (i in v && !jsonValue(v[i])) return false;
        return true;
      }
      if (isPlainObject(v)) {
        for (const k in v) if (Object.prototype.hasOwnProperty.call(v, k) && !jsonValue(v[k])) return false;
        return true;
      }
      return false;
    default:
      return false;
  }
}

/** plainToInstance's copy of an undecorated JSON value: arrays compacted, Object's method names dropped. */
function copyJson(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (let i = 0; i < v.length; i++) if (i in v) out.push(copyJson(v[i]));
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v))
    if (!OBJECT_SKIPPED.has(k)) out[k] = copyJson((v as Record<string, unknown>)[k]);
  return out;
}

/** class-validator's nested validation of a value already checked to be JSON: undefined passes, arrays go element by element. */
function checkNested(checker: PayloadChecker, v: unknown): boolean {
  if (v === undefined) return true;
  if (isPlainArray(v)) {
    for (let i = 0; i < v.length; i++) if (i in v && !checkNested(checker, v[i])) return false;
    return true;
  }
  return checker.check(v);
}

function buildNested(checker: PayloadChecker, v: unknown): unknown {
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (let i = 0; i < v.length; i++) if (i in v) out.push(buildNested(checker, v[i]));
    return out;
  }
  return typeof v === 'object' && v !== null ? checker.build(v) : v;
}

function hasOwnTransforms(cls: Class): boolean {
  for (
    let c: unknown = cls;
    typeof c === 'function' && c !== Function.prototype;
    c = Object.getPrototypeOf(c)
  ) {
    if (transformStorage._transformMetadatas.get(c)?.size) return true;
  }
  return (
    transformStorage.getExposedMetadatas(cls).length > 0 ||
    transformStorage.getExcludedMetadatas(cls).length > 0
  );
}

function typedProperties(cls: Class): Set<string> {
  const names = new Set<string>();
  for (
    let c: unknown = cls;
    typeof c === 'function' && c !== Function.prototype;
    c = Object.getPrototypeOf(c)
  ) {
    for (const name of transformStorage._typeMetadatas.get(c)?.keys() ?? []) names.add(name);
  }
  return names;
}

let compiled = new Map<string, WeakMap<Class, PayloadChecker | null>>();
let compiledAt = -1;

/** The checker of `cls` (validated under `schema`, as class-validator does nested classes), or null when a rule is not supported. */
export function payloadChecker(cls: Class, schema?: string): PayloadChecker | null {
  // Compiled checkers are forgotten with class-validator's memoised rules (a rule registered since).
  if (compiledAt !== validationRulesVersion()) {
    compiled = new Map();
    compiledAt = validationRulesVersion();
  }
  let bySchema = compiled.get(schema ?? '');
  if (!bySchema) compiled.set(schema ?? '', (bySchema = new WeakMap()));
  const known = bySchema.get(cls);
  if (known !== undefined) return known;
  const storage = getMetadataStorage() as unknown as ValidatorStorage;
  // Placeholder first, so a class that nests itself compiles.
  const late: { checker: PayloadChecker | null } = { checker: null };
  // If it then turns out unsupported, its nested uses answer "not sure".
  bySchema.set(cls, { check: (d) => late.checker?.check(d) ?? false, build: (d) => late.checker!.build(d) });
  late.checker = compile(
    cls,
    storage.getTargetValidationMetadatas(cls, schema, false, false, undefined),
    storage,
  );
  bySchema.set(cls, late.checker);
  return late.checker;
}

function compile(
  cls: Class,
  metadatas: ValidationMetadata[],
  storage: ValidatorStorage,
): PayloadChecker | null {
  if (!metadatas.length || hasOwnTransforms(cls) || transformStorage.getStrategy(cls) !== 'none') return null;
  const skipped = skippedKeys(cls);
  const typed = typedProperties(cls);
  const byName = new Map<string, ValidationMetadata[]>();
  for (const m of metadatas) byName.set(m.propertyName, [...(byName.get(m.propertyName) ?? []), m]);
  const properties: Property[] = [];
  const nestedByName = new Map<string, PayloadChecker>();
  for (const [name, list] of byName) {
    if (skipped.has(name)) return null;
    const property: Property = { name, optional: false, rules: [] };
    for (const m of list) {
      if (m.validateIf !== undefined) return null;
      if (m.type === CONDITIONAL && m.name === 'isOptional') {
        property.optional = true;
      } else if (m.type === CUSTOM) {
        if (m.each) return null;
        const constraints = storage.getTargetValidatorConstraints(m.constraintCls);
        if (constraints.length !== 1 || constraints[0]!.async || constraints[0]!.name !== m.name) return null;
        const make =
          m.name !== undefined && Object.prototype.hasOwnProperty.call(SUPPORTED_RULES, m.name)
            ? SUPPORTED_RULES[m.name]
            : undefined;
        const rule = make?.(m.constraints ?? []);
        if (!rule) return null;
        property.rules.push(rule);
      } else if (m.type === NESTED && !property.nested) {
        const type = transformStorage.findTypeMetadata(cls, name);
        if (!type?.typeFunction || type.options?.discriminator) return null;
        const nestedCls = type.typeFunction() as Class;
        if (typeof nestedCls !== 'function') return null;
        const nested = payloadChecker(nestedCls, typeof m.target === 'string' ? m.target : m.target.name);
        if (!nested) return null;
        property.nested = nested;
        nestedByName.set(name, nested);
      } else {
        return null;
      }
    }
    properties.push(property);
  }
  // @Type on a property without nested validation changes what the rules see: not compiled.
  for (const name of typed) if (!nestedByName.has(name)) return null;

  const check = (value: unknown): boolean => {
    // A plain object, or an instance of the class itself (a payload reusing a validated event's part).
    if (typeof value !== 'object' || value === null) return false;
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null && proto !== cls.prototype) return false;
    const data = value as Record<string, unknown>;
    for (const key in data) {
      if (!Object.prototype.hasOwnProperty.call(data, key) || nestedByName.has(key) || skipped.has(key))
        continue;
      if (!jsonValue(data[key])) return false;
    }
    for (const p of properties) {
      const v = data[p.name];
      if (p.optional && (v === null || v === undefined)) continue;
      for (const rule of p.rules) if (!rule(v)) return false;
      if (p.nested && !checkNested(p.nested, v)) return false;
    }
    return true;
  };
  const build = (data: unknown): object => {
    const out = new cls() as Record<string, unknown>;
    const raw = data as Record<string, unknown>;
    for (const key of Object.keys(raw)) {
      if (skipped.has(key)) continue;
      const nested = nestedByName.get(key);
      out[key] = nested ? buildNested(nested, raw[key]) : copyJson(raw[key]);
    }
    return out;
  };
  return { check, build };
}
