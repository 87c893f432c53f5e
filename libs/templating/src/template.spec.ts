import { XMLParser } from 'fast-xml-parser';
import { listTokens } from './render';
import { renderTemplate } from './template';
import { TemplateError } from './template-error';

const ctx = {
  contact: { name: 'Ana "A" <a@x>', age: 31, vip: true, tags: ['a', 'b'], none: null },
  data: { url: 'https://x.example/a?b=c' },
  n: 1.5,
};

describe('renderTemplate', () => {
  it('replaces tokens and stringifies non-strings', () => {
    expect(
      renderTemplate(
        'Hi {contact.name}, {contact.age} {contact.vip} {contact.tags} [{contact.none}] {data[url]}',
        ctx,
      ),
    ).toBe('Hi Ana "A" <a@x>, 31 true ["a","b"] [] https://x.example/a?b=c');
  });

  it('treats {{ and }} as literal braces and other braces as text', () => {
    expect(renderTemplate('{{contact.age}} = {contact.age}; {a b} {"x":1} {}', ctx)).toBe(
      '{contact.age} = 31; {a b} {"x":1} {}',
    );
  });

  describe('missing tokens', () => {
    it('errors by default, naming the token', () => {
      expect(() => renderTemplate('x {contact.email} y', ctx)).toThrow(
        expect.objectContaining({
          name: 'TemplateError',
          token: 'contact.email',
          message: expect.stringContaining('{contact.email}'),
        }),
      );
    });
    it('renders empty or keeps the token when asked', () => {
      expect(renderTemplate('x{a.b}y', ctx, { missing: 'empty' })).toBe('xy');
      expect(renderTemplate('x{a.b}y', ctx, { missing: 'keep' })).toBe('x{a.b}y');
      expect(renderTemplate('{"v":{a.b}}', ctx, { escape: 'json', missing: 'empty' })).toBe('{"v":null}');
    });
  });

  describe('json', () => {
    it('escapes inside strings and writes literals for standalone tokens', () => {
      const out = renderTemplate(
        '{"name":"{contact.name}","age":{contact.age},"vip":{contact.vip},"tags":{contact.tags},"none":{contact.none},"nested":{"t":"{contact.tags}"}}',
        ctx,
        { escape: 'json' },
      );
      expect(JSON.parse(out)).toEqual({
        name: 'Ana "A" <a@x>',
        age: 31,
        vip: true,
        tags: ['a', 'b'],
        none: null,
        nested: { t: '["a","b"]' },
      });
    });

    it('keeps closing braces of nested objects and escaped quotes in the template', () => {
      const out = renderTemplate('{"a":{"b":{"c":"q\\"{n}\\" {{lit}}"}}}', ctx, { escape: 'json' });
      expect(JSON.parse(out)).toEqual({ a: { b: { c: 'q"1.5" {lit}' } } });
    });

    it.each(['", "admin": true, "x": "', '\\', '\n\r\t', '</script>', '\u2028', '}}{{'])(
      'value %j stays inside its string',
      (v) => {
        const out = renderTemplate('{"v":"{v}","w":{v}}', { v }, { escape: 'json' });
        expect(JSON.parse(out)).toEqual({ v, w: v });
      },
    );
  });

  describe('xml', () => {
    const parser = new XMLParser({
      ignoreAttributes: false,
      trimValues: false,
      parseTagValue: false,
      parseAttributeValue: false,
      htmlEntities: true,
    });

    it('escapes text and attributes', () => {
      const v = `</x><y a='1'>&amp;"`;
      const out = renderTemplate('<r a="{v}"><x>{v}</x></r>', { v }, { escape: 'xml' });
      expect(parser.parse(out)).toEqual({ r: { '@_a': v, x: v } });
    });

    it('writes safe CDATA content', () => {
      const v = 'a]]><evil/>\r\nz';
      const out = renderTemplate('<r><![CDATA[{v}]]></r>', { v }, { escape: 'xml' });
      expect(parser.parse(out).r).toBe(v);
    });

    it('keeps CDATA content inside its section when a value ends in ] or starts with > beside the template\'s text or another token', () => {
      // A `]]>` made of a value and what follows it (the template's `>`, the next token) ended the section early.
      const cases: Array<[string, Record<string, string>]> = [
        ['<r><![CDATA[{a}>{b}]]></r>', { a: ']]', b: '<evil/>' }],
        ['<r><![CDATA[{a}{b}]]></r>', { a: ']]', b: '><evil/><![CDATA[' }],
        ['<r><![CDATA[{a}{b}]]></r>', { a: ']', b: ']><evil/><![CDATA[' }],
        ['<r><![CDATA[]]{b}]]></r>', { b: '><evil/><![CDATA[' }],
      ];
      for (const [template, values] of cases) {
        const out = renderTemplate(template, values, { escape: 'xml' });
        const literal = template.replace(/^<r><!\[CDATA\[|\]\]><\/r>$/g, '').replace(/\{(\w)\}/g, (_m, k: string) => values[k]);
        expect({ template, r: parser.parse(out).r as unknown }).toEqual({ template, r: literal });
      }
    });

    it('escapes text after a comment or processing instruction that mentions a CDATA start', () => {
      const v = '</x><admin>1</admin>';
      for (const lead of ['<!-- wrap markup in <![CDATA[ -->', '<?note <![CDATA[ ?>']) {
        const out = renderTemplate(`<r>${lead}<x>{v}</x></r>`, { v }, { escape: 'xml' });
        expect(out).toBe(`<r>${lead}<x>&lt;/x&gt;&lt;admin&gt;1&lt;/admin&gt;</x></r>`);
      }
    });

    it('refuses characters XML cannot carry', () => {
      expect(() => renderTemplate('<r>{v}</r>', { v: 'a\u0000b' }, { escape: 'xml' })).toThrow(TemplateError);
      expect(() => renderTemplate('<r>{v}</r>', { v: '\ud800' }, { escape: 'xml' })).toThrow(TemplateError);
    });
  });

  it('form-encodes', () => {
    expect(renderTemplate('a={v}&b=1', { v: 'x y&z=1+2' }, { escape: 'form' })).toBe('a=x+y%26z%3D1%2B2&b=1');
  });

  describe('header', () => {
    it('passes ordinary values', () => {
      expect(renderTemplate('Bearer {t}', { t: 'abc.def' }, { escape: 'header' })).toBe('Bearer abc.def');
    });
    it.each(['a\r\nX-Evil: 1', 'a\nb', 'a\rb', 'a\u0000b', '\u2028', 'ç中'])(
      'refuses %j without echoing it',
      (t) => {
        expect(() => renderTemplate('Bearer {t}', { t }, { escape: 'header' })).toThrow(
          expect.objectContaining({ token: 't', message: expect.not.stringContaining('Evil') }),
        );
      },
    );
  });

  it('lists tokens once, in order', () => {
    expect(listTokens('{b} {a.c} {{x}} {b} {data[url]} {"k":1}')).toEqual(['b', 'a.c', 'data[url]']);
  });
});
