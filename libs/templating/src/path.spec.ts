import { lookupPath, parsePath } from './path';
import { TemplateError } from './template-error';

describe('lookupPath', () => {
  const ctx = {
    contact: { name: 'Ana', 'first-name': 'A' },
    data: { url: 'https://x', 'a.b': 1, 'first name': 'spaced' },
    contacts: [{ name: 'Bia' }, { name: 'Caio' }],
    a: { b: [0, 1, { c: 'deep' }] },
    zero: 0,
    nothing: null,
    map: new Map([['k', 'v']]),
  };

  it.each([
    ['contact.name', 'Ana'],
    ['contact.first-name', 'A'],
    ['data[url]', 'https://x'],
    ['data["a.b"]', 1],
    ["data['a.b']", 1],
    ['data[first name]', 'spaced'],
    ['contacts[0][name]', 'Bia'],
    ['contacts[1].name', 'Caio'],
    ['contacts.1.name', 'Caio'],
    ['a.b[2].c', 'deep'],
    ['zero', 0],
    ['nothing', null],
    ['map[k]', 'v'],
  ])('%s → %p', (path, expected) => {
    expect(lookupPath(ctx, path)).toEqual(expected);
  });

  it.each([
    'missing',
    'contact.missing',
    'contacts[5].name',
    'contacts[x]',
    'zero.x',
    'nothing.x',
    'contact.name.length',
  ])('%s is undefined', (path) => {
    expect(lookupPath(ctx, path)).toBeUndefined();
  });

  it('follows own properties only', () => {
    expect(lookupPath(ctx, 'contact.constructor')).toBeUndefined();
    expect(lookupPath(ctx, 'contact.__proto__')).toBeUndefined();
    expect(lookupPath({}, 'toString')).toBeUndefined();
    expect(lookupPath(ctx, 'contacts.length')).toBeUndefined();
  });

  it.each(['', 'a..b', '.a', 'a[', 'a]', 'a b', 'a[b]c', '{a}'])('refuses the invalid path %j', (path) => {
    expect(() => lookupPath(ctx, path)).toThrow(TemplateError);
  });

  it('parses segments', () => {
    expect(parsePath('a.b[2]["c.d"][e f]')).toEqual(['a', 'b', '2', 'c.d', 'e f']);
  });
});
