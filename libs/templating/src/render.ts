import { lookupPath, PATH_SOURCE } from './path';
import { TemplateError } from './template-error';

export type Escaping = 'none' | 'url' | 'json' | 'xml' | 'form' | 'header';
export type MissingTokenRule = 'empty' | 'error' | 'keep';

export interface RenderOptions {
  escape?: Escaping;
  /** What a token without a value becomes; default 'error' (TemplateError naming the token). */
  missing?: MissingTokenRule;
}

/** Where a token sits, which decides how its value is written. */
export type TokenContext = 'text' | 'json-string' | 'json-value' | 'xml-cdata';

export type Part =
  { kind: 'text'; text: string } | { kind: 'token'; path: string; raw: string; context: TokenContext };

const TOKEN_RE = new RegExp(`\\{(${PATH_SOURCE})\\}`, 'uy');

function tokenAt(template: string, i: number): { path: string; raw: string } | undefined {
  TOKEN_RE.lastIndex = i;
  const m = TOKEN_RE.exec(template);
  return m ? { path: m[1], raw: m[0] } : undefined;
}

/**
 * Splits a template into literal text and tokens. `{path}` is a token; `{{` and `}}` are literal
 * braces; any other brace is literal. In 'json' mode the scanner follows JSON strings: outside them
 * braces are structure (so `}}` closing two objects stays as is) and a token is a whole JSON value;
 * inside them a token is string content. In 'xml' mode tokens inside CDATA sections are marked.
 */
export function scan(template: string, mode: 'text' | 'json' | 'xml' = 'text'): Part[] {
  const parts: Part[] = [];
  let buf = '';
  const flush = () => {
    if (buf) parts.push({ kind: 'text', text: buf });
    buf = '';
  };
  let inString = false;
  let inCdata = false;
  // The end of the comment or processing instruction being read: `<![CDATA[` inside one opens nothing.
  let markupEnd: '-->' | '?>' | undefined;
  for (let i = 0; i < template.length;) {
    const ch = template[i];
    if (mode === 'json' && !inString) {
      if (ch === '"') inString = true;
      const tok = ch === '{' ? tokenAt(template, i) : undefined;
      if (tok) {
        flush();
        parts.push({ kind: 'token', ...tok, context: 'json-value' });
        i += tok.raw.length;
      } else {
        buf += ch;
        i++;
      }
      continue;
    }
    if (mode === 'json' && inString) {
      if (ch === '\\') {
        buf += template.slice(i, i + 2);
        i += 2;
        continue;
      }
      if (ch === '"') inString = false;
    }
    if (mode === 'xml') {
      if (markupEnd) {
        if (template.startsWith(markupEnd, i)) markupEnd = undefined;
      } else if (!inCdata && template.startsWith('<!--', i)) markupEnd = '-->';
      else if (!inCdata && template.startsWith('<?', i)) markupEnd = '?>';
      else if (!inCdata && template.startsWith('<![CDATA[', i)) inCdata = true;
      else if (inCdata && template.startsWith(']]>', i)) inCdata = false;
    }
    if (template.startsWith('{{', i) || template.startsWith('}}', i)) {
      buf += ch;
      i += 2;
      continue;
    }
    const tok = ch === '{' ? tokenAt(template, i) : undefined;
    if (tok) {
      flush();
      const context: TokenContext = mode === 'json' ? 'json-string' : inCdata ? 'xml-cdata' : 'text';
      parts.push({ kind: 'token', ...tok, context });
      i += tok.raw.length;
      continue;
    }
    buf += ch;
    i++;
  }
  flush();
  return parts;
}

/** Paths of the tokens in a template, each once, in order of first use. */
export function listTokens(template: string): string[] {
  const seen = new Set<string>();
  for (const p of scan(template)) if (p.kind === 'token') seen.add(p.path);
  return [...seen];
}

/** Text form of a value: strings as is, numbers/booleans stringified, objects as JSON, null as ''. */
export function toText(value: unknown, token: string): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'object':
      if (value === null) return '';
      if (value instanceof Date) return value.toISOString();
      return toJson(value, token);
    default:
      throw new TemplateError(`value for {${token}} cannot be rendered (${typeof value})`, token);
  }
}

function toJson(value: unknown, token: string): string {
  try {
    if (typeof value === 'bigint') return value.toString();
    return JSON.stringify(value) ?? 'null';
  } catch {
    throw new TemplateError(`value for {${token}} cannot be written as JSON`, token);
  }
}

const LONE_SURROGATE = /\p{Cs}/u;
// XML 1.0 Char production; everything else (NUL, most C0 controls, U+FFFE/FFFF, lone surrogates) cannot appear at all.
const XML_INVALID = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
/** A character no header field value may hold (values: visible ASCII, space, tab, obs-text; no CR, LF, NUL or other controls). */
export const HEADER_INVALID = /[^\t\x20-\x7e\x80-\xff]/;

const XML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};

function wellFormed(text: string, token: string, where: string): string {
  if (LONE_SURROGATE.test(text))
    throw new TemplateError(`value for {${token}} is not valid Unicode for ${where}`, token);
  return text;
}

export function escapeUrlComponent(text: string, token: string): string {
  return encodeURIComponent(wellFormed(text, token, 'a URL'));
}

export function escapeForm(text: string, token: string): string {
  return new URLSearchParams([['', wellFormed(text, token, 'a form field')]]).toString().slice(1);
}

export function escapeXml(text: string, token: string): string {
  if (XML_INVALID.test(text))
    throw new TemplateError(`value for {${token}} holds characters XML cannot carry`, token);
  // Tabs and line breaks as references: they survive attribute-value and line-end normalisation.
  return text.replace(/[&<>"'\t\n\r]/g, (c) => XML_ESCAPES[c]);
}

function escapeCdata(text: string, token: string): string {
  if (XML_INVALID.test(text))
    throw new TemplateError(`value for {${token}} holds characters XML cannot carry`, token);
  // `]]>` would end the section; CR would be normalised away: step outside CDATA for both. A `]` ending the value
  // or a `>` starting it would make `]]>` with what stands beside it (the template's text, another token's value):
  // the section is closed after the one and reopened before the other.
  return text
    .replace(/]]>/g, ']]]]><![CDATA[>')
    .replace(/\r/g, ']]>&#13;<![CDATA[')
    .replace(/^>/, ']]><![CDATA[>')
    .replace(/]$/, ']]]><![CDATA[');
}

export function escapeHeader(text: string, token: string): string {
  if (HEADER_INVALID.test(text)) {
    throw new TemplateError(
      `value for {${token}} contains CR, LF or characters not allowed in a header`,
      token,
    );
  }
  return text;
}

/** Writes one value where its token stands. */
export function escapeValue(value: unknown, token: string, context: TokenContext, escape: Escaping): string {
  if (context === 'json-value') return toJson(value, token);
  const text = toText(value, token);
  if (context === 'json-string') return JSON.stringify(text).slice(1, -1);
  if (context === 'xml-cdata') return escapeCdata(text, token);
  switch (escape) {
    case 'none':
    case 'json':
      return text;
    case 'url':
      return escapeUrlComponent(text, token);
    case 'form':
      return escapeForm(text, token);
    case 'xml':
      return escapeXml(text, token);
    case 'header':
      return escapeHeader(text, token);
  }
}

/** The value of a token, or what the missing rule says; undefined means "write the raw token". */
export function resolveToken(
  context: unknown,
  part: Extract<Part, { kind: 'token' }>,
  missing: MissingTokenRule,
): { value: unknown } | { keep: string } {
  const value = lookupPath(context, part.path);
  if (value !== undefined) return { value };
  if (missing === 'error') throw new TemplateError(`no value for token {${part.path}}`, part.path);
  if (missing === 'keep') return { keep: part.raw };
  return { value: part.context === 'json-value' ? null : '' };
}

export function renderParts(
  parts: Part[],
  context: unknown,
  escape: Escaping,
  missing: MissingTokenRule,
): string {
  let out = '';
  for (const part of parts) {
    if (part.kind === 'text') {
      out += part.text;
      continue;
    }
    const resolved = resolveToken(context, part, missing);
    out += 'keep' in resolved ? resolved.keep : escapeValue(resolved.value, part.path, part.context, escape);
  }
  return out;
}
