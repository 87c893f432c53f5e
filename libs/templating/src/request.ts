import { buildFromBracketKeys } from './bracket-keys';
import { PATH_SOURCE, lookupPath } from './path';
import { escapeUrlComponent, HEADER_INVALID, type Escaping, type MissingTokenRule } from './render';
import { renderTemplate } from './template';
import { TemplateError } from './template-error';
import { renderUrl } from './url-template';

export interface RequestTemplate {
  method: string;
  url: string;
  /** list of headers, or text with one `Name: value` per line */
  headers?: Array<{ name: string; value: string }> | string;
  query?: Array<{ key: string; value: string }>;
  body?:
    | { kind: 'keyvalue'; pairs: Array<{ key: string; value: string }> }
    | { kind: 'raw'; contentType: string; template: string }
    | { kind: 'form'; pairs: Array<{ key: string; value: string }> };
}

export interface RenderedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  contentType?: string;
  /** the JSON document sent, for keyvalue bodies and JSON raw bodies */
  builtJson?: unknown;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const WHOLE_TOKEN = new RegExp(`^\\{(${PATH_SOURCE})\\}$`, 'u');

/** Parses `Name: value` lines (blank lines skipped, values trimmed). */
export function parseHeaderLines(text: string): Array<{ name: string; value: string }> {
  const headers: Array<{ name: string; value: string }> = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new TemplateError(`header line ${i + 1} is not "Name: value"`);
    const name = line.slice(0, colon).trim();
    if (!TOKEN.test(name)) throw new TemplateError(`header line ${i + 1} has an invalid name`);
    headers.push({ name, value: line.slice(colon + 1).trim() });
  });
  return headers;
}

/** Escaping for a raw body, chosen from its media type. */
export function escapingForContentType(contentType: string): Escaping {
  const type = contentType.split(';')[0].trim().toLowerCase();
  // text/json: an older name for JSON some systems still ask for; left as text, its values went in unescaped.
  if (type === 'application/json' || type === 'text/json' || type.endsWith('+json')) return 'json';
  if (type === 'application/xml' || type === 'text/xml' || type.endsWith('+xml')) return 'xml';
  if (type === 'application/x-www-form-urlencoded') return 'form';
  return 'none';
}

/**
 * Renders a whole request: URL (host literal, tokens percent-encoded), extra query pairs, headers
 * (CR/LF refused), and a body escaped for its format.
 */
export function renderRequest(
  t: RequestTemplate,
  context: unknown,
  opts: { missing?: MissingTokenRule } = {},
): RenderedRequest {
  const missing = opts.missing ?? 'error';
  const method = t.method.trim().toUpperCase();
  if (!TOKEN.test(method)) throw new TemplateError('invalid HTTP method');

  let url = renderUrl(t.url, context, missing);
  if (!/^https?:\/\//i.test(url))
    throw new TemplateError('request URL must be an absolute http or https URL');
  if (t.query?.length) url = appendQuery(url, t.query, context, missing);

  const headers: Record<string, string> = {};
  const lower = new Map<string, string>();
  const list = typeof t.headers === 'string' ? parseHeaderLines(t.headers) : (t.headers ?? []);
  for (const h of list) {
    const name = h.name.trim();
    if (!TOKEN.test(name)) throw new TemplateError('invalid header name');
    const value = renderTemplate(h.value, context, { escape: 'header', missing }).trim();
    // Token values are checked by the 'header' escaping; this catches what the template itself holds.
    if (HEADER_INVALID.test(value)) throw new TemplateError(`header ${name} contains CR, LF or characters not allowed in a header`);
    const existing = lower.get(name.toLowerCase());
    if (existing) headers[existing] = `${headers[existing]}, ${value}`;
    else {
      lower.set(name.toLowerCase(), name);
      headers[name] = value;
    }
  }

  const rendered: RenderedRequest = { method, url, headers };
  if (t.body) Object.assign(rendered, renderBody(t.body, context, missing));
  if (rendered.contentType) {
    if (/[\r\n]/.test(rendered.contentType)) throw new TemplateError('content type contains CR or LF');
    if (!lower.has('content-type')) headers['Content-Type'] = rendered.contentType;
  }
  return rendered;
}

function appendQuery(
  url: string,
  query: NonNullable<RequestTemplate['query']>,
  context: unknown,
  missing: MissingTokenRule,
): string {
  const hashAt = url.indexOf('#');
  const base = hashAt < 0 ? url : url.slice(0, hashAt);
  const hash = hashAt < 0 ? '' : url.slice(hashAt);
  const pairs = query.map(({ key, value }) => {
    const k = renderTemplate(key, context, { missing });
    const v = renderTemplate(value, context, { missing });
    return `${escapeUrlComponent(k, key)}=${escapeUrlComponent(v, value)}`;
  });
  const sep = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&';
  return `${base}${sep}${pairs.join('&')}${hash}`;
}

function renderBody(
  body: NonNullable<RequestTemplate['body']>,
  context: unknown,
  missing: MissingTokenRule,
): Pick<RenderedRequest, 'body' | 'contentType' | 'builtJson'> {
  switch (body.kind) {
    case 'keyvalue': {
      const built = buildFromBracketKeys(
        body.pairs.map(({ key, value }) => ({ key, value: keyValue(value, context, missing) })),
      );
      return { body: JSON.stringify(built), contentType: 'application/json', builtJson: built };
    }
    case 'form': {
      const params = new URLSearchParams();
      for (const { key, value } of body.pairs) {
        params.append(key, renderTemplate(value, context, { missing }));
      }
      return { body: params.toString(), contentType: 'application/x-www-form-urlencoded' };
    }
    case 'raw': {
      const escape = escapingForContentType(body.contentType);
      const text = renderTemplate(body.template, context, { escape, missing });
      if (escape !== 'json') return { body: text, contentType: body.contentType };
      try {
        return { body: text, contentType: body.contentType, builtJson: JSON.parse(text) };
      } catch {
        throw new TemplateError('rendered JSON body does not parse; check the template');
      }
    }
  }
}

/** A value that is exactly one token keeps the value's type (number, object, …); otherwise text. */
function keyValue(template: string, context: unknown, missing: MissingTokenRule): unknown {
  const whole = WHOLE_TOKEN.exec(template);
  if (!whole) return renderTemplate(template, context, { missing });
  const value = lookupPath(context, whole[1]);
  if (value !== undefined) return value;
  if (missing === 'error') throw new TemplateError(`no value for token {${whole[1]}}`, whole[1]);
  return missing === 'keep' ? template : '';
}
