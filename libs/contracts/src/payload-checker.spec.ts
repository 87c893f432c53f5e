import 'reflect-metadata';
import fc from 'fast-check';
import { plainToInstance, Transform, Type } from 'class-transformer';
import {
  getMetadataStorage,
  IsDefined,
  IsEmail,
  IsIn,
  IsInt,
  isInt,
  isISO8601,
  IsISO8601,
  isLatitude,
  IsLatitude,
  isLongitude,
  IsLongitude,
  IsNotEmpty,
  isNumber,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  isUUID,
  IsUUID,
  maxLength,
  MaxLength,
  min,
  Min,
  ValidateIf,
  ValidateNested,
  validateSync,
} from 'class-validator';
import { EVENT_CATALOGUE, EVENT_TYPES } from './events/catalogue';
import { payloadChecker, SUPPORTED_RULES, transformStorage } from './payload-checker';
import { flattenValidationErrors, payloadProblems } from './validate';

type Class = new () => object;

// class-transformer's @Type storage, to generate nested payloads.
const typeStorage = transformStorage as unknown as {
  findTypeMetadata(c: Class, p: string): { typeFunction(): Class } | undefined;
};

interface Rule {
  type: string;
  name?: string;
  propertyName: string;
  constraints?: unknown[];
}
const rulesOf = (cls: Class) =>
  (
    getMetadataStorage() as unknown as { getTargetValidationMetadatas(...a: unknown[]): Rule[] }
  ).getTargetValidationMetadatas(cls, undefined, false, false, undefined);

/** What validation said before the checker: plainToInstance + validateSync, or the error it threw. */
function classValidator(cls: Class, data: unknown): { problems: string[] | 'threw'; instance?: object } {
  try {
    const instance = plainToInstance(cls, data) as object;
    return { problems: flattenValidationErrors(validateSync(instance, { forbidUnknownValues: true }), 'data'), instance };
  } catch {
    return { problems: 'threw' };
  }
}

// Values that are wrong for most rules, or on their edge.
const odd = fc.constantFrom<unknown>(
  null,
  undefined,
  0,
  -1,
  1.5,
  -0,
  1e21,
  Number.MAX_SAFE_INTEGER + 2,
  '',
  ' ',
  'x',
  '0',
  'true',
  true,
  false,
  {},
  [],
  [{}],
  [null],
  { a: 1 },
  ['a'],
  '2026-12-03T14:00:00Z',
  '2026-13-40',
  '6f1c1a8e-4f0b-4c9a-9c1e-2b7d1f3e5a6b',
  '6F1C1A8E-4F0B-4C9A-9C1E-2B7D1F3E5A6B',
  '6f1c1a8e4f0b4c9a9c1e2b7d1f3e5a6b',
  'whatsapp',
  'sent',
  '90',
  '-180.5',
  90.0000001,
  -90,
  180,
  '😀'.repeat(20),
  'a'.repeat(21),
);

function stringOfLength(max: number): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ maxLength: max }),
    fc.constantFrom(
      'a'.repeat(max),
      'a'.repeat(max + 1),
      '😀'.repeat(max),
      '😀'.repeat(max + 1),
      '\uFE0F'.repeat(max + 1),
    ),
  );
}

/**
 * Values for one property, from its rules: `good` ones meant to pass, and (when mutating) values on the
 * rule's edge, of the wrong type, or any JSON at all.
 */
function propertyArbitrary(
  cls: Class,
  name: string,
  rules: Rule[],
  depth: number,
  mutate: boolean,
): fc.Arbitrary<unknown> {
  const names = new Set(rules.map((r) => r.name ?? r.type));
  const constraint = (n: string) => rules.find((r) => r.name === n)?.constraints?.[0];
  let good: fc.Arbitrary<unknown>;
  let edge: fc.Arbitrary<unknown> = odd;
  if (rules.some((r) => r.type === 'nestedValidation')) {
    const nested = typeStorage.findTypeMetadata(cls, name)!.typeFunction();
    const one = payloadArbitrary(nested, depth + 1, mutate);
    good = names.has('isArray') ? fc.array(one, { maxLength: 3 }) : one;
    edge = fc.oneof(
      fc.array(one, { maxLength: 2 }),
      fc.array(fc.array(one, { maxLength: 2 }), { maxLength: 2 }),
      fc.constant([]),
      odd,
    );
  } else if (names.has('isUuid')) {
    good = fc.uuid();
    edge = fc.oneof(
      fc.uuid().map((u) => u.toUpperCase()),
      fc.uuid().map((u) => u.slice(1)),
      fc.uuid().map((u) => u.replace(/-/g, '')),
    );
  } else if (names.has('isIso8601')) {
    good = fc
      .date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true })
      .map((d) => d.toISOString());
    edge = fc.constantFrom(
      '2026-12-03',
      '2026-12-03T14:00:00+03:00',
      '2026-02-30T00:00:00Z',
      '2026-12-03 14:00',
      '2026-W49',
      'x',
    );
  } else if (names.has('isIn')) {
    good = fc.constantFrom(...(constraint('isIn') as unknown[]));
    edge = fc.constantFrom('other', 'SENT', ' sent', '');
  } else if (names.has('isInt')) {
    good = fc.integer({ min: names.has('min') ? (constraint('min') as number) : -5, max: 100_000 });
    edge = fc.constantFrom(0, -1, 2.5, -0, '1', 1e21);
  } else if (names.has('isNumber')) {
    good = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer());
    edge = fc.constantFrom(-0, 1e308, '1', Number.MIN_VALUE);
  } else if (names.has('isBoolean')) {
    good = fc.boolean();
    edge = fc.constantFrom('true', 0, 1);
  } else if (names.has('isLatitude')) {
    good = fc.integer({ min: -90e6, max: 90e6 }).map((n) => n / 1e6);
    edge = fc.oneof(
      fc.double({ min: -91, max: 91, noNaN: true }),
      fc.constantFrom('45.5', '91', '-90.0', 90, -90, 90.0000001),
    );
  } else if (names.has('isLongitude')) {
    good = fc.integer({ min: -180e6, max: 180e6 }).map((n) => n / 1e6);
    edge = fc.oneof(
      fc.double({ min: -181, max: 181, noNaN: true }),
      fc.constantFrom('120.25', '-181', 180, -180.0000001),
    );
  } else if (names.has('isObject')) {
    good = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });
    edge = fc.oneof(
      fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 2 }),
      fc.constant({ toString: 'x', __lookupGetter__: [1] }),
      odd,
    );
  } else if (names.has('isArray')) {
    good = fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 });
    edge = fc.oneof(
      fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
      odd,
    );
  } else if (names.has('maxLength')) {
    const max = constraint('maxLength') as number;
    good = fc.string({ maxLength: max, minLength: names.has('isNotEmpty') ? 1 : 0 });
    edge = stringOfLength(max);
  } else if (names.has('isString')) {
    good = fc.string({ minLength: names.has('isNotEmpty') ? 1 : 0 });
    edge = fc.constantFrom('', ' ', 1, null);
  } else {
    good = fc.jsonValue({ maxDepth: 2 });
  }
  if (!mutate) return good;
  return fc.oneof(
    { weight: 10, arbitrary: good },
    { weight: 2, arbitrary: edge },
    { weight: 1, arbitrary: odd },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  );
}

const EXTRA_KEYS = [
  'extra',
  'toString',
  'constructor',
  '__proto__',
  'hasOwnProperty',
  'valueOf',
  'phone',
  'kind',
];

/**
 * A payload of `cls`: each property from its rules, optional ones sometimes left out. Mutated ones
 * may also miss required keys, carry wrong values and unknown keys; unmutated ones are meant to pass.
 */
function payloadArbitrary(cls: Class, depth = 0, mutate = true): fc.Arbitrary<Record<string, unknown>> {
  if (depth > 3) return fc.constant({});
  const byName = new Map<string, Rule[]>();
  for (const r of rulesOf(cls)) byName.set(r.propertyName, [...(byName.get(r.propertyName) ?? []), r]);
  const props: Record<string, fc.Arbitrary<unknown>> = {};
  const required: string[] = [];
  for (const [name, rules] of byName) {
    props[name] = propertyArbitrary(cls, name, rules, depth, mutate);
    if (!rules.some((r) => r.name === 'isOptional')) required.push(name);
  }
  if (!mutate) return fc.record(props, { requiredKeys: required });
  const base = fc.oneof(
    { weight: 8, arbitrary: fc.record(props, { requiredKeys: required }) },
    { weight: 1, arbitrary: fc.record(props, { requiredKeys: [] }) },
  );
  const extras = fc.dictionary(fc.constantFrom(...EXTRA_KEYS), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 });
  return fc
    .tuple(base, fc.oneof({ weight: 4, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: extras }))
    .map(([p, extra]) => {
      const out = { ...p };
      // Own keys even for __proto__, as JSON.parse makes them.
      for (const [k, v] of Object.entries(extra))
        Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      return out;
    });
}

const wholeData = fc.constantFrom<unknown>(null, undefined, 'x', 1, [], [{}], true);

describe('compiled payload checker', () => {
  it('compiles every payload class of the catalogue', () => {
    const notCompiled = EVENT_TYPES.filter((t) => !payloadChecker(EVENT_CATALOGUE[t].payload as Class));
    expect(notCompiled).toEqual([]);
  });

  describe.each(EVENT_TYPES)('%s', (type) => {
    const cls = EVENT_CATALOGUE[type].payload as Class;

    it('agrees with class-validator, and builds what plainToInstance builds, on generated payloads', () => {
      const checker = payloadChecker(cls)!;
      let valid = 0;
      let invalid = 0;
      fc.assert(
        fc.property(
          fc.oneof(
            { weight: 10, arbitrary: payloadArbitrary(cls, 0, false) },
            { weight: 20, arbitrary: payloadArbitrary(cls) },
            { weight: 1, arbitrary: wholeData },
          ),
          (data) => {
            // JSON round trip: what a consumer parses off the wire (and what a producer's payload becomes).
            const wire = data === undefined ? undefined : (JSON.parse(JSON.stringify(data)) as unknown);
            for (const d of [data, wire]) {
              const expected = classValidator(cls, d);
              const ok = checker.check(d);
              expect(ok).toBe(expected.problems !== 'threw' && expected.problems.length === 0);
              // The instance plainToInstance made, given again (a producer reusing a consumed event's payload).
              if (
                expected.instance &&
                typeof expected.instance === 'object' &&
                !Array.isArray(expected.instance)
              ) {
                const again = classValidator(cls, expected.instance);
                expect(checker.check(expected.instance)).toBe(
                  again.problems !== 'threw' && again.problems.length === 0,
                );
                if (checker.check(expected.instance))
                  expect(checker.build(expected.instance)).toStrictEqual(again.instance);
              }
              if (ok) {
                valid++;
                expect(checker.build(d)).toStrictEqual(expected.instance);
                expect(payloadProblems(type, d)).toEqual([]);
              } else {
                invalid++;
                if (expected.problems !== 'threw')
                  expect(payloadProblems(type, d)).toEqual(expected.problems);
              }
            }
          },
        ),
        { numRuns: 400 },
      );
      // Both verdicts were exercised, so the agreement above means something.
      expect(valid).toBeGreaterThan(150);
      expect(invalid).toBeGreaterThan(150);
    });
  });

  it('never calls valid what class-validator would refuse, for values JSON cannot carry', () => {
    const weird = fc.constantFrom<unknown>(
      new Date(0),
      new Set(['a']),
      new Map([['a', 1]]),
      Object.assign(Object.create(null) as object, { a: 1 }),
      new String('x'),
      // eslint-disable-next-line no-sparse-arrays
      [1, , 2],
      () => 1,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Buffer.from('x'),
      Symbol('x'),
      10n,
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...EVENT_TYPES),
        fc.string({ minLength: 1, maxLength: 12 }),
        weird,
        (type, key, value) => {
          const cls = EVENT_CATALOGUE[type].payload as Class;
          const rules = rulesOf(cls);
          const target = rules[Math.abs(key.charCodeAt(0)) % rules.length]!.propertyName;
          const base = fc.sample(payloadArbitrary(cls, 0, false), { numRuns: 1, seed: key.length })[0]!;
          for (const data of [
            { ...base, [target]: value },
            { ...base, [key]: value },
          ]) {
            if (!payloadChecker(cls)!.check(data)) continue;
            const expected = classValidator(cls, data);
            expect(expected.problems).toEqual([]);
            expect(payloadChecker(cls)!.build(data)).toStrictEqual(expected.instance);
          }
        },
      ),
      { numRuns: 600 },
    );
  });

  describe("rules, each against class-validator's own function", () => {
    const values: unknown[] = [
      undefined,
      null,
      '',
      ' ',
      'x',
      'abc',
      '😀😀',
      '\uFE0F\uFE0F\uFE0F',
      0,
      -0,
      1,
      -1,
      1.5,
      90,
      -90,
      90.1,
      180,
      181,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      2 ** 53,
      true,
      false,
      {},
      [],
      [1],
      { a: 1 },
      '45.5',
      '181',
      '2026-12-03',
      '2026-12-03T14:00:00Z',
      'not a date',
      '6f1c1a8e-4f0b-4c9a-9c1e-2b7d1f3e5a6b',
      '00000000-0000-0000-0000-000000000000',
      'sent',
      'other',
    ];
    const cases: Array<[string, unknown[], (v: unknown) => boolean]> = [
      ['isString', [], (v) => typeof v === 'string'],
      ['isNotEmpty', [], (v) => v !== '' && v !== null && v !== undefined],
      ['isBoolean', [], (v) => typeof v === 'boolean'],
      ['isArray', [], (v) => Array.isArray(v)],
      ['isObject', [], (v) => v != null && typeof v === 'object' && !Array.isArray(v)],
      ['isInt', [], (v) => isInt(v)],
      ['isNumber', [{}], (v) => isNumber(v, {})],
      [
        'isNumber',
        [{ allowNaN: true, allowInfinity: true }],
        (v) => isNumber(v, { allowNaN: true, allowInfinity: true }),
      ],
      ['min', [0], (v) => min(v, 0)],
      ['min', [1], (v) => min(v, 1)],
      ['maxLength', [2], (v) => maxLength(v, 2)],
      ['maxLength', [0], (v) => maxLength(v, 0)],
      ['isIn', [['sent', 'read']], (v) => v === 'sent' || v === 'read'],
      ['isIn', [[0, 'sent', null]], (v) => v === 0 || v === 'sent' || v === null],
      ['isUuid', [undefined], (v) => isUUID(v)],
      ['isUuid', ['4'], (v) => isUUID(v, '4')],
      ['isIso8601', [undefined], (v) => isISO8601(v)],
      ['isIso8601', [{ strict: true }], (v) => isISO8601(v, { strict: true })],
      ['isLatitude', [], (v) => isLatitude(v as string)],
      ['isLongitude', [], (v) => isLongitude(v as string)],
    ];
    it.each(cases)('%s %j', (name, constraints, reference) => {
      const rule = SUPPORTED_RULES[name]!(constraints)!;
      for (const v of values) expect([v, rule(v)]).toEqual([v, reference(v)]);
    });

    it('covers every rule the catalogue uses', () => {
      const used = new Set<string>();
      const visit = (cls: Class, seen = new Set<Class>()) => {
        if (seen.has(cls)) return;
        seen.add(cls);
        for (const r of rulesOf(cls)) {
          if (r.type === 'customValidation') used.add(r.name!);
          if (r.type === 'nestedValidation')
            visit(typeStorage.findTypeMetadata(cls, r.propertyName)!.typeFunction(), seen);
        }
      };
      for (const t of EVENT_TYPES) visit(EVENT_CATALOGUE[t].payload as Class);
      expect([...used].filter((n) => !cases.some(([c]) => c === n))).toEqual([]);
    });
  });

  describe('a class with something the checker does not know stays with class-validator', () => {
    class Inner {
      @IsString() name!: string;
    }
    class WithEmail {
      @IsEmail() email!: string;
    }
    class WithDefined {
      @IsDefined() a!: string;
    }
    class WithValidateIf {
      @ValidateIf((o: { b?: string }) => o.b !== undefined) @IsString() a!: string;
    }
    class WithEach {
      @IsString({ each: true }) tags!: string[];
    }
    class WithTransform {
      @Transform(({ value }) => String(value)) @IsString() a!: string;
    }
    class WithTypeOnly {
      @Type(() => Date) @IsObject() at!: Date;
    }
    class WithNestedUnsupported {
      @ValidateNested() @Type(() => WithEmail) inner!: WithEmail;
    }
    class WithNestedNoType {
      @ValidateNested() inner!: Inner;
    }
    it.each([
      WithEmail,
      WithDefined,
      WithValidateIf,
      WithEach,
      WithTransform,
      WithTypeOnly,
      WithNestedUnsupported,
      WithNestedNoType,
    ])('%p', (cls) => {
      expect(payloadChecker(cls as Class)).toBeNull();
    });

    it('while a class of supported rules compiles', () => {
      class Supported {
        @IsUUID() id!: string;
        @IsOptional() @IsISO8601() at?: string;
        @IsIn(['a']) kind!: string;
        @IsInt() @Min(0) n!: number;
        @IsNumber() x!: number;
        @IsLatitude() lat!: number;
        @IsLongitude() lng!: number;
        @IsString() @IsNotEmpty() @MaxLength(3) s!: string;
        @ValidateNested() @Type(() => Inner) inner!: Inner;
      }
      const checker = payloadChecker(Supported)!;
      const ok = {
        id: '6f1c1a8e-4f0b-4c9a-9c1e-2b7d1f3e5a6b',
        kind: 'a',
        n: 0,
        x: 1.5,
        lat: 1,
        lng: 2,
        s: 'abc',
        inner: { name: 'n' },
      };
      expect(checker.check(ok)).toBe(true);
      expect(checker.build(ok)).toStrictEqual(plainToInstance(Supported, ok));
      expect(checker.build(ok)).toBeInstanceOf(Supported);
      expect((checker.build(ok) as Supported).inner).toBeInstanceOf(Inner);
      expect(checker.check({ ...ok, s: 'abcd' })).toBe(false);
      expect(checker.check({ ...ok, inner: { name: 1 } })).toBe(false);
      expect(checker.check({ ...ok, inner: [{ name: 'a' }, { name: 'b' }] })).toBe(true);
      expect(checker.check({ ...ok, inner: null })).toBe(false);
    });
  });
});
