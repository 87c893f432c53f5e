import { BadRequestException } from '@nestjs/common';
import { IsObject, IsOptional, IsString } from 'class-validator';
import { givenFields, validationPipe } from './validation';

class Body {
  @IsOptional() @IsString() name?: string;
  @IsOptional() @IsObject() attributes?: Record<string, unknown>;
}

const run = (raw: string) => validationPipe().transform(JSON.parse(raw), { type: 'body', metatype: Body });
const refusal = async (raw: string) => {
  try {
    await run(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(BadRequestException);
    return (err as BadRequestException).getResponse();
  }
  throw new Error('not refused');
};

describe('validationPipe', () => {
  it('refuses a key Nest would delete unseen (__proto__, prototype, constructor), naming where it is', async () => {
    expect(await refusal('{"attributes":{"__proto__":"x","plano":"novo"}}')).toMatchObject({
      status: 400, detail: 'attributes.__proto__: __proto__ is not a field name this API takes',
      errors: [{ field: 'attributes.__proto__', message: '__proto__ is not a field name this API takes' }],
    });
    expect(await refusal('{"attributes":{"list":[{"ok":1},{"constructor":"y"}]}}')).toMatchObject({ detail: 'attributes.list[1].constructor: constructor is not a field name this API takes' });
    expect(await refusal('{"prototype":{}}')).toMatchObject({ detail: 'prototype: prototype is not a field name this API takes' });
  });

  it('refuses a body nested deeper than 64 levels with a 400 naming where, and takes one nested 64 deep', async () => {
    // Walked recursively (here, then by Nest and class-transformer), 1,500 levels of `[` ran out of stack: a 500.
    const deep = (n: number) => `{"attributes":{"list":${'['.repeat(n)}${']'.repeat(n)}}}`;
    const refused = (await refusal(deep(5_000))) as { status: number; detail: string; errors: Array<{ field: string; message: string }> };
    expect(refused).toMatchObject({ status: 400, errors: [{ message: 'nested deeper than 64 levels' }] });
    expect(refused.detail).toMatch(/^attributes\.list(\[0\])+: nested deeper than 64 levels$/);
    expect(await refusal(deep(64))).toMatchObject({ status: 400, errors: [{ message: 'nested deeper than 64 levels' }] });
    await expect(run(deep(63))).resolves.toEqual(JSON.parse(deep(63)));
  });

  it('takes a body without such keys, nested objects and arrays included', async () => {
    await expect(run('{"name":"Bia","attributes":{"plano":"novo","list":[{"a":"constructor"}]}}')).resolves.toEqual({ name: 'Bia', attributes: { plano: 'novo', list: [{ a: 'constructor' }] } });
  });
});

describe('givenFields', () => {
  class Patch {
    a?: string;
    b?: number | null;
    c?: boolean;
  }
  it('keeps what the body gave (null included), not the fields a DTO holds as undefined', () => {
    const dto = Object.assign(new Patch(), { a: 'x', b: null });
    expect(Object.keys(dto)).toEqual(expect.arrayContaining(['a', 'b']));
    expect(givenFields(dto)).toEqual({ a: 'x', b: null });
    expect({ a: 'old', b: 1, c: true, ...givenFields(dto) }).toEqual({ a: 'x', b: null, c: true });
    expect(givenFields(undefined)).toEqual({});
  });
});
