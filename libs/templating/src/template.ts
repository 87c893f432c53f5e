import { renderParts, scan, type RenderOptions } from './render';
import { renderUrl } from './url-template';

/**
 * Renders `{path}` tokens from `context`, escaping each value for where it lands:
 * - 'url': percent-encoding; an absolute URL's scheme and host must be literal
 * - 'json': inside a JSON string → string content; standing alone → a JSON literal of the value
 * - 'xml': entity-escaped text (CDATA-aware) - 'form': x-www-form-urlencoded - 'header': CR/LF refused
 * - 'none': text as is
 */
export function renderTemplate(template: string, context: unknown, opts: RenderOptions = {}): string {
  const escape = opts.escape ?? 'none';
  const missing = opts.missing ?? 'error';
  if (escape === 'url') return renderUrl(template, context, missing);
  const mode = escape === 'json' ? 'json' : escape === 'xml' ? 'xml' : 'text';
  return renderParts(scan(template, mode), context, escape, missing);
}
