import { XMLParser } from 'fast-xml-parser';
import { renderTemplate } from '@elo/templating';

export type SoapVersion = '1.1' | '1.2';

const ENVELOPE_NS: Record<SoapVersion, string> = {
  '1.1': 'http://schemas.xmlsoap.org/soap/envelope/',
  '1.2': 'http://www.w3.org/2003/05/soap-envelope',
};

/**
 * Refuses documents with a DTD or entity declarations (no external entities, no entity expansion), and
 * documents with NUL characters, which XML 1.0 never allows: UTF-16 or UTF-32 bytes read as UTF-8 would
 * otherwise hide a DOCTYPE from the check (the parser would not expand it either, but say so plainly).
 */
export function assertNoDtd(xml: string): void {
  if (/<!DOCTYPE/i.test(xml) || /<!ENTITY/i.test(xml)) throw new Error('XML with DOCTYPE or ENTITY declarations is refused');
  if (xml.includes('\u0000')) throw new Error('XML with NUL characters (UTF-16 or UTF-32?) is refused: send UTF-8');
}

/**
 * Parses untrusted XML: DTDs refused, the parser's entity processing off, namespace prefixes removed (kept, with
 * the `xmlns` attributes, when asked: see parseWsdl).
 * Text is then decoded (the five predefined entities and character references only) and typed with care.
 */
export function parseXml(xml: string, opts: { keepPrefixes?: boolean } = {}): Record<string, unknown> {
  assertNoDtd(xml);
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    removeNSPrefix: !opts.keepPrefixes,
    processEntities: false,
    parseTagValue: false,
    trimValues: true,
  });
  return typed(parser.parse(xml), false) as Record<string, unknown>;
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeXmlText(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(?:(lt|gt|amp|quot|apos)|#(\d{1,7})|#x([0-9a-fA-F]{1,6}));/g, (m, name?: string, dec?: string, hex?: string) => {
    if (name) return PREDEFINED[name];
    const cp = dec ? Number(dec) : parseInt(hex ?? '', 16);
    return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
  });
}

/**
 * Element text becomes true/false or a number only when it reads back exactly, so a CPF or CEP with a
 * leading zero, an amount like "1.50" or a long protocol number stay the strings the system sent.
 * Attributes stay strings.
 */
function typed(v: unknown, attribute: boolean): unknown {
  if (typeof v === 'string') {
    const s = decodeXmlText(v);
    if (attribute) return s;
    if (s === 'true' || s === 'false') return s === 'true';
    if (/^-?\d+(\.\d+)?$/.test(s) && String(Number(s)) === s) return Number(s);
    return s;
  }
  if (Array.isArray(v)) return v.map((x) => typed(x, attribute));
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, typed(x, k.startsWith('@'))]));
  }
  return v;
}

const NAME = /^[A-Za-z_][\w.-]*$/;

/**
 * A SOAP envelope calling `element` (in `namespace`) with each parameter rendered (XML-escaped) from `ctx`.
 * A parameter is in the element's namespace only when `qualified` says so (the schema's elementFormDefault or
 * the element's own form); otherwise it has no namespace, the XSD default for local elements.
 */
export function buildEnvelope(opts: {
  version: SoapVersion;
  namespace: string;
  element: string;
  params: Array<{ name: string; value: string }>;
  context: unknown;
  qualified?: (param: string) => boolean;
}): string {
  if (!NAME.test(opts.element)) throw new Error(`invalid SOAP element name ${opts.element}`);
  // An element in no namespace (a schema without targetNamespace) takes no prefix: xmlns:tns="" is not XML 1.0.
  const prefix = opts.namespace ? 'tns:' : '';
  const qualified = opts.qualified ?? (() => true);
  const children = opts.params
    .map((p) => {
      if (!NAME.test(p.name)) throw new Error(`invalid SOAP parameter name ${p.name}`);
      const name = qualified(p.name) ? `${prefix}${p.name}` : p.name;
      return `<${name}>${renderTemplate(p.value, opts.context, { escape: 'xml' })}</${name}>`;
    })
    .join('');
  const ns = opts.namespace ? ` xmlns:tns="${escapeAttr(opts.namespace)}"` : '';
  return (
    `<?xml version="1.0" encoding="utf-8"?>` +
    `<soap:Envelope xmlns:soap="${ENVELOPE_NS[opts.version]}"${ns}>` +
    `<soap:Body><${prefix}${opts.element}>${children}</${prefix}${opts.element}></soap:Body></soap:Envelope>`
  );
}

/** HTTP headers for the envelope: SOAPAction (1.1) or the action parameter of the media type (1.2). */
export function soapHeaders(version: SoapVersion, action: string): Record<string, string> {
  if (/[\r\n"]/.test(action)) throw new Error('invalid SOAP action');
  return version === '1.1'
    ? { 'Content-Type': 'text/xml; charset=utf-8', SOAPAction: `"${action}"` }
    : { 'Content-Type': `application/soap+xml; charset=utf-8${action ? `; action="${action}"` : ''}` };
}

/**
 * The SOAP Body's content as JSON, and the Fault when there is one. An answer with no Envelope and Body (an HTML
 * error page or a proxy's JSON, often with a 200) throws: taken as an empty Body, it counted as a successful call.
 */
export function parseSoapResponse(xml: string): { body: unknown; fault?: unknown } {
  const doc = parseXml(xml);
  const envelope = doc['Envelope'];
  if (!envelope || typeof envelope !== 'object' || !('Body' in envelope)) throw new Error('the answer is not a SOAP envelope');
  const body = ((envelope as Record<string, unknown>)['Body'] ?? null) as Record<string, unknown> | null;
  const fault = body && typeof body === 'object' ? body['Fault'] : undefined;
  return { body, ...(fault !== undefined ? { fault } : {}) };
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}
