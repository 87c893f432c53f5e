import { IsInt, IsString, Min, registerDecorator, validateSync } from 'class-validator';
import { memoiseValidationMetadata } from './validation-cache';

class Base {
  @IsString() name!: string;
}

class Child extends Base {
  @IsInt() @Min(1) count!: number;
}

const child = (name: unknown, count: unknown) => Object.assign(new Child(), { name, count });
const failing = (o: object) => validateSync(o).map((e) => e.property).sort();

describe('memoised validation metadata', () => {
  beforeAll(() => memoiseValidationMetadata());

  it('validates own and inherited rules the same on every call', () => {
    for (let i = 0; i < 3; i++) {
      expect(failing(child('a', 2))).toEqual([]);
      expect(failing(child(1, 0))).toEqual(['count', 'name']);
    }
  });

  it('takes a rule registered after a class was first validated', () => {
    class Late {
      code!: string;
    }
    expect(failing(Object.assign(new Late(), { code: 'x' }))).toEqual([]);
    registerDecorator({
      target: Late,
      propertyName: 'code',
      validator: { validate: (v: unknown) => typeof v === 'string' && v.length > 3 },
    });
    expect(failing(Object.assign(new Late(), { code: 'x' }))).toEqual(['code']);
  });

  it('keeps groups apart', () => {
    class Grouped {
      @IsString({ groups: ['strict'] }) tag!: unknown;
    }
    const o = Object.assign(new Grouped(), { tag: 5 });
    expect(validateSync(o, { groups: ['strict'] }).map((e) => e.property)).toEqual(['tag']);
    expect(validateSync(o, { groups: ['lenient'], forbidUnknownValues: false })).toEqual([]);
  });
});
