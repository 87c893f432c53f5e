import { mayNeedStorable, returnedRows, storable } from './storable';

describe('storable', () => {
  it('U+0000 becomes U+FFFD in every string and key; dates and numbers stay', () => {
    const at = new Date(1763800000000);
    expect(storable({ text: 'a\u0000b', list: ['\u0000', 1, null], ['k\u0000']: { at } })).toEqual({ text: 'a\uFFFDb', list: ['\uFFFD', 1, null], ['k\uFFFD']: { at } });
  });

  it('lone surrogates become U+FFFD (PostgreSQL jsonb refuses them); pairs (emoji) stay', () => {
    expect(storable({ text: 'a\ud800b', tail: 'x\udfff', pair: '\ud83d\ude00', ['k\udc00']: 1 })).toEqual({ text: 'a\uFFFDb', tail: 'x\uFFFD', pair: '😀', ['k\uFFFD']: 1 });
    expect(mayNeedStorable(JSON.stringify({ t: 'a\ud800' }))).toBe(true);
    expect(mayNeedStorable('{"t":"\\uDBFF"}')).toBe(true);
    expect(mayNeedStorable('{"t":"\\u0000"}')).toBe(true);
    expect(mayNeedStorable(JSON.stringify({ t: 'olá 😀 \u00e9' }))).toBe(false);
  });
});

describe('returnedRows', () => {
  it('takes the rows out of what TypeORM answers an UPDATE … RETURNING with, and keeps rows given alone', () => {
    expect(returnedRows([[{ id: 1 }], 1])).toEqual([{ id: 1 }]);
    expect(returnedRows([[], 0])).toEqual([]);
    expect(returnedRows([{ id: 1 }, { id: 2 }])).toEqual([{ id: 1 }, { id: 2 }]);
  });
});
