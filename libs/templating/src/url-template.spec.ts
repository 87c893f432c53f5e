import { TemplateError } from './template-error';
import { renderUrl } from './url-template';

describe('renderUrl', () => {
  it('encodes tokens in path, query and fragment', () => {
    expect(
      renderUrl('https://api.example.com/v1/contacts/{id}/notes?q={q}&x=1#{f}', {
        id: 'a/b?c',
        q: 'x&y=z #',
        f: '#/',
      }),
    ).toBe('https://api.example.com/v1/contacts/a%2Fb%3Fc/notes?q=x%26y%3Dz%20%23&x=1#%23%2F');
  });

  it.each([
    ['https://{host}/x', 'host'],
    ['https://api.{domain}/x', 'domain'],
    ['https://api.example.com{path}', 'path'],
    ['https://{user}@api.example.com/x', 'user'],
    ['https://api.example.com:{port}/x', 'port'],
    ['{base}/hook', 'base'],
    ['{scheme}://api.example.com/', 'scheme'],
    ['http:{rest}', 'rest'],
  ])('refuses a token in scheme/host of %s', (template, token) => {
    expect(() =>
      renderUrl(template, {
        host: 'x',
        domain: 'x',
        path: 'x',
        user: 'x',
        port: '1',
        base: 'x',
        scheme: 'x',
        rest: 'x',
      }),
    ).toThrow(expect.objectContaining({ name: 'TemplateError', token }));
  });

  it.each(['..', '.', '%2e%2E', '.%2E'])('refuses a value making the dot segment %j', (id) => {
    expect(() => renderUrl('https://api.example.com/a/{id}/b', { id: decodeURIComponent(id) })).toThrow(
      TemplateError,
    );
  });

  it('allows dots that are not whole segments', () => {
    expect(renderUrl('https://api.example.com/a/x{id}/b?p={id}', { id: '..' })).toBe(
      'https://api.example.com/a/x../b?p=..',
    );
  });

  it.each(['/../admin', '?admin=1', '#x', '@evil.com', '\\evil', '\t\n'])(
    'value %j cannot change structure',
    (v) => {
      const url = new URL(renderUrl('https://api.example.com/items/{v}?q={v}', { v }));
      expect(url.host).toBe('api.example.com');
      expect(url.pathname.split('/')).toHaveLength(3);
      expect(decodeURIComponent(url.pathname.split('/')[2])).toBe(v);
      expect(url.searchParams.get('q')).toBe(v);
      expect([...url.searchParams.keys()]).toEqual(['q']);
      expect(url.hash).toBe('');
    },
  );

  it('renders relative templates', () => {
    expect(renderUrl('/items/{id}', { id: 'a b' })).toBe('/items/a%20b');
    expect(renderUrl('?q={id}', { id: 'a&b' })).toBe('?q=a%26b');
  });

  it('applies the missing rule', () => {
    expect(() => renderUrl('https://a.example/{x}', {})).toThrow(expect.objectContaining({ token: 'x' }));
    expect(renderUrl('https://a.example/{x}', {}, 'empty')).toBe('https://a.example/');
  });
});
