import { escapeUrlComponent, resolveToken, scan, toText, type MissingTokenRule } from './render';
import { TemplateError } from './template-error';

type Region = 'authority' | 'path' | 'query' | 'fragment';

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

/**
 * Renders a URL template. Scheme, credentials, host and port must be literal: a token there is a
 * TemplateError, so no value can send the request elsewhere. Tokens in path, query and fragment are
 * percent-encoded (encodeURIComponent), so a value cannot add segments, parameters or a fragment, and
 * a value that would make a whole path segment `.` or `..` is refused.
 */
export function renderUrl(template: string, context: unknown, missing: MissingTokenRule = 'error'): string {
  const parts = scan(template);
  const firstToken = parts.find((p) => p.kind === 'token');
  let literalPrefix = '';
  for (const p of parts) {
    if (p.kind === 'token') break;
    literalPrefix += p.text;
  }
  const absolute = SCHEME.test(literalPrefix);
  if (firstToken && !literalPrefix) {
    throw new TemplateError(
      `token {${firstToken.path}} cannot start a URL: the scheme and host must be written literally`,
      firstToken.path,
    );
  }
  let region: Region = 'path';
  let authorityEnd = 0;
  if (absolute) {
    const afterScheme = literalPrefix.match(SCHEME)![0].length;
    const slashes = /^[/\\]*/.exec(literalPrefix.slice(afterScheme))![0].length;
    const rest = literalPrefix.slice(afterScheme + slashes);
    const end = rest.search(/[/\\?#]/);
    if (end < 0 && firstToken) {
      throw new TemplateError(
        `token {${firstToken.path}} is in the URL's host part, which must be literal`,
        firstToken.path,
      );
    }
    authorityEnd = end < 0 ? literalPrefix.length : afterScheme + slashes + end;
    region = 'authority';
  } else if (literalPrefix.startsWith('?')) region = 'query';
  else if (literalPrefix.startsWith('#')) region = 'fragment';

  let out = '';
  let segment = '';
  let tainted = false;
  const closeSegment = () => {
    if (tainted && DOT_SEGMENT.test(segment)) {
      throw new TemplateError('a token value would make a "." or ".." path segment');
    }
    segment = '';
    tainted = false;
  };
  for (const part of parts) {
    if (part.kind === 'text') {
      for (const ch of part.text) {
        out += ch;
        if (region === 'authority') {
          if (out.length <= authorityEnd) continue;
          region = ch === '?' ? 'query' : ch === '#' ? 'fragment' : 'path';
          continue;
        }
        if (region === 'path') {
          if (ch === '/' || ch === '\\') closeSegment();
          else if (ch === '?' || ch === '#') {
            closeSegment();
            region = ch === '?' ? 'query' : 'fragment';
          } else segment += ch;
        } else if (region === 'query' && ch === '#') region = 'fragment';
      }
      continue;
    }
    if (region === 'authority') {
      throw new TemplateError(
        `token {${part.path}} is in the URL's host part, which must be literal`,
        part.path,
      );
    }
    const resolved = resolveToken(context, part, missing);
    const text =
      'keep' in resolved ? resolved.keep : escapeUrlComponent(toText(resolved.value, part.path), part.path);
    out += text;
    if (region === 'path') {
      segment += text;
      tainted = true;
    }
  }
  if (region === 'path') closeSegment();
  if (absolute) {
    let parsed: URL;
    try {
      parsed = new URL(out);
    } catch {
      throw new TemplateError('rendered URL is not valid');
    }
    const expectedHost = new URL(`${literalPrefix.slice(0, authorityEnd)}/`).host;
    if (parsed.host !== expectedHost) throw new TemplateError('rendered URL changed its host');
  }
  return out;
}
