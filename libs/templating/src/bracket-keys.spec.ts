import { buildFromBracketKeys } from './bracket-keys';
import { TemplateError } from './template-error';

describe('buildFromBracketKeys', () => {
  it('nests objects and arrays', () => {
    expect(
      buildFromBracketKeys([
        { key: 'deal[name]', value: 'Fibra 500' },
        { key: 'deal[value]', value: 99.9 },
        { key: 'contacts[0][name]', value: 'Ana' },
        { key: 'contacts[0][phones][]', value: '+5511' },
        { key: 'contacts[0][phones][]', value: '+5521' },
        { key: 'contacts[1][name]', value: 'Bia' },
        { key: 'source', value: 'elo' },
      ]),
    ).toEqual({
      deal: { name: 'Fibra 500', value: 99.9 },
      contacts: [{ name: 'Ana', phones: ['+5511', '+5521'] }, { name: 'Bia' }],
      source: 'elo',
    });
  });

  it('fills array gaps with null', () => {
    expect(buildFromBracketKeys([{ key: 'a[2]', value: 'x' }])).toEqual({ a: [null, null, 'x'] });
  });

  it('keeps dangerous names as plain data', () => {
    const built = buildFromBracketKeys([
      { key: '__proto__[polluted]', value: 'yes' },
      { key: 'x[constructor][prototype]', value: 1 },
    ]);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(JSON.parse(JSON.stringify(built))).toEqual(
      JSON.parse('{"__proto__":{"polluted":"yes"},"x":{"constructor":{"prototype":1}}}'),
    );
  });

  it.each([
    [
      [
        { key: 'a', value: 1 },
        { key: 'a', value: 2 },
      ],
    ],
    [
      [
        { key: 'a', value: 1 },
        { key: 'a[b]', value: 2 },
      ],
    ],
    [
      [
        { key: 'a[b]', value: 1 },
        { key: 'a', value: 2 },
      ],
    ],
    [
      [
        { key: 'a[b]', value: 1 },
        { key: 'a[0]', value: 2 },
      ],
    ],
    [
      [
        { key: 'a[0]', value: 1 },
        { key: 'a[b]', value: 2 },
      ],
    ],
    [
      [
        { key: 'a[0]', value: 1 },
        { key: 'a[0]', value: 2 },
      ],
    ],
  ])('refuses conflicting keys %j', (pairs) => {
    expect(() => buildFromBracketKeys(pairs)).toThrow(TemplateError);
  });

  it('bounds the array items a body builds in all, not only each index: many or nested large indexes are refused', () => {
    // Each index is allowed; together they built millions of nulls (20 such keys: a 70 MB body, seconds of CPU).
    const many = Array.from({ length: 11 }, (_, i) => ({ key: `k${i}[10000]`, value: 1 }));
    expect(() => buildFromBracketKeys(many)).toThrow(TemplateError);
    expect(() => buildFromBracketKeys([{ key: `k${'[10000]'.repeat(70)}`, value: 1 }])).toThrow(TemplateError);
    expect(buildFromBracketKeys([{ key: 'a[10000]', value: 1 }, { key: 'b[0][5000]', value: 2 }])['a']).toHaveLength(10_001);
  });

  it.each(['', '[a]', 'a[b', 'a]b', 'a[b]c', 'a[[b]]', 'a[100001]'])(
    'refuses the malformed key %j',
    (key) => {
      expect(() => buildFromBracketKeys([{ key, value: 1 }])).toThrow(TemplateError);
    },
  );
});
