import fc from 'fast-check';
import { XMLParser } from 'fast-xml-parser';
import { renderRequest } from './request';
import { renderTemplate } from './template';
import { TemplateError } from './template-error';

// Property-based proof that no value can break out of the place it is written to.
const RUNS = { numRuns: 400 };
// 'binary' includes lone surrogates and every control character.
const anyString = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.string());
const hostile = fc.oneof(
  anyString,
  fc.constantFrom(
    '"',
    "'",
    '\\',
    '[',
    ']',
    '{',
    '}',
    '{{',
    '}}',
    '\n',
    '\r\n',
    '</x><y>',
    ']]>',
    '?a=b&c',
    '#',
    '/../',
    '..',
    '.',
    '%2e',
    '&amp;',
  ),
  fc
    .array(
      fc.constantFrom(
        '"',
        '<',
        '>',
        '&',
        '/',
        '..',
        '?',
        '#',
        '=',
        '&',
        '\r',
        '\n',
        '[',
        ']',
        '{',
        '}',
        '%',
        '+',
        ' ',
      ),
    )
    .map((a) => a.join('')),
);

function mustBeTemplateError(fn: () => void): boolean {
  try {
    fn();
  } catch (err) {
    if (err instanceof TemplateError) return true;
    throw err;
  }
  return false;
}

const LONE_SURROGATE = /\p{Cs}/u;
const XML_INVALID = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

describe('escaping properties', () => {
  it('JSON: a string value round-trips, in a string and standing alone', () => {
    fc.assert(
      fc.property(hostile, (v) => {
        const out = renderTemplate('{"s":"{v}","a":{v},"n":{"deep":["{v}"]}}', { v }, { escape: 'json' });
        expect(JSON.parse(out)).toEqual({ s: v, a: v, n: { deep: [v] } });
      }),
      RUNS,
    );
  });

  it('JSON: any JSON value standing alone renders as that JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const out = renderTemplate('{"a":{v}}', { v }, { escape: 'json' });
        expect(JSON.parse(out)).toEqual(JSON.parse(JSON.stringify({ a: v })));
      }),
      RUNS,
    );
  });

  it('XML: text, attribute and CDATA parse back to the value (or the value is refused as non-XML)', () => {
    const parser = new XMLParser({
      ignoreAttributes: false,
      trimValues: false,
      parseTagValue: false,
      parseAttributeValue: false,
      htmlEntities: true,
      cdataPropName: false,
    });
    fc.assert(
      fc.property(hostile, (v) => {
        const render = () =>
          renderTemplate('<r a="{v}"><t>{v}</t><c><![CDATA[{v}]]></c></r>', { v }, { escape: 'xml' });
        if (XML_INVALID.test(v)) {
          expect(mustBeTemplateError(render)).toBe(true);
          return;
        }
        const parsed = parser.parse(render()) as { r: { '@_a': string; t: string; c: string } };
        expect(Object.keys(parsed)).toEqual(['r']);
        expect(Object.keys(parsed.r).sort()).toEqual(['@_a', 'c', 't']);
        expect(parsed.r['@_a']).toBe(v);
        expect(parsed.r.t).toBe(v);
        expect(parsed.r.c).toBe(v);
      }),
      RUNS,
    );
  });

  it('URL: host and segment count are unchanged and segments decode back', () => {
    fc.assert(
      fc.property(hostile, (v) => {
        const render = () =>
          renderTemplate('https://api.example.com/items/{v}/tail?q={v}&x=1#frag', { v }, { escape: 'url' });
        if (LONE_SURROGATE.test(v) || v === '.' || v === '..') {
          expect(mustBeTemplateError(render)).toBe(true);
          return;
        }
        const url = new URL(render());
        expect(url.host).toBe('api.example.com');
        const segments = url.pathname.split('/');
        expect(segments).toHaveLength(4);
        expect(segments[1]).toBe('items');
        expect(decodeURIComponent(segments[2])).toBe(v);
        expect(segments[3]).toBe('tail');
        expect([...url.searchParams.keys()]).toEqual(['q', 'x']);
        expect(url.searchParams.get('q')).toBe(v);
        expect(url.hash).toBe('#frag');
      }),
      RUNS,
    );
  });

  it('form: fields round-trip through URLSearchParams', () => {
    fc.assert(
      fc.property(hostile, hostile, (v, w) => {
        const render = () => renderTemplate('a={v}&b={w}', { v, w }, { escape: 'form' });
        if (LONE_SURROGATE.test(v) || LONE_SURROGATE.test(w)) {
          expect(mustBeTemplateError(render)).toBe(true);
          return;
        }
        const params = new URLSearchParams(render());
        expect([...params.keys()]).toEqual(['a', 'b']);
        expect(params.get('a')).toBe(v);
        expect(params.get('b')).toBe(w);
      }),
      RUNS,
    );
  });

  it('header: any value carrying CR or LF is refused', () => {
    fc.assert(
      fc.property(anyString, fc.constantFrom('\r', '\n', '\r\n'), anyString, (a, nl, b) => {
        expect(
          mustBeTemplateError(() => renderTemplate('X {v}', { v: `${a}${nl}${b}` }, { escape: 'header' })),
        ).toBe(true);
        expect(
          mustBeTemplateError(() =>
            renderRequest(
              { method: 'GET', url: 'https://x.example/', headers: [{ name: 'X-V', value: '{v}' }] },
              { v: `${a}${nl}${b}` },
            ),
          ),
        ).toBe(true);
      }),
      RUNS,
    );
  });

  it('keyvalue bodies: values land unchanged in the built JSON', () => {
    fc.assert(
      fc.property(hostile, (v) => {
        const r = renderRequest(
          {
            method: 'POST',
            url: 'https://x.example/',
            body: {
              kind: 'keyvalue',
              pairs: [
                { key: 'a[b]', value: '{v}' },
                { key: 'a[c]', value: 'pre {v}' },
              ],
            },
          },
          { v },
        );
        expect(JSON.parse(r.body!)).toEqual({ a: { b: v, c: `pre ${v}` } });
      }),
      RUNS,
    );
  });
});
