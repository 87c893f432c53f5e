/**
 * Hostile XML for the SOAP paths (WSDL fetch and SOAP responses): external entities (file, HTTP,
 * parameter entities, an external DTD) and entity-expansion bombs (billion laughs, quadratic blowup).
 * `canary` is a URL a parser that resolved external entities would call. Each attack is a prolog (the
 * DOCTYPE) and what goes where the content would be; `wsdl` and `soapResponse` wrap them in a document.
 */
export interface XmlAttack {
  id: string;
  prolog: string;
  content: string;
  /** Bytes to send instead of the UTF-8 document (encodings that hide the DOCTYPE from a naive check). */
  encode?: (doc: string) => Buffer;
}

const LOLS = Array.from({ length: 9 }, (_, i) => {
  const n = i + 1;
  const ref = n === 1 ? 'lol' : `lol${n - 1}`;
  return `<!ENTITY lol${n} "${`&${ref};`.repeat(10)}">`;
}).join('');
const BILLION_LAUGHS = `<!DOCTYPE lolz [<!ENTITY lol "lol">${LOLS}]>`;

export const xmlAttacks = (canary: string): XmlAttack[] => [
  { id: 'external entity (file)', prolog: '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>', content: '&x;' },
  { id: 'external entity (HTTP)', prolog: `<!DOCTYPE d [<!ENTITY x SYSTEM "${canary}/xxe">]>`, content: '&x;' },
  { id: 'external entity (PUBLIC)', prolog: `<!DOCTYPE d [<!ENTITY x PUBLIC "-//X//Y" "${canary}/public">]>`, content: '&x;' },
  { id: 'parameter entity (out of band)', prolog: `<!DOCTYPE d [<!ENTITY % p SYSTEM "${canary}/oob.dtd"> %p;]>`, content: 'x' },
  { id: 'external DTD', prolog: `<!DOCTYPE d SYSTEM "${canary}/external.dtd">`, content: '&x;' },
  { id: 'billion laughs', prolog: BILLION_LAUGHS, content: '&lol9;' },
  { id: 'quadratic blowup', prolog: `<!DOCTYPE d [<!ENTITY a "${'A'.repeat(50_000)}">]>`, content: '&a;'.repeat(50_000) },
  { id: 'lower-case doctype', prolog: '<!doctype d [<!ENTITY x "expanded">]>', content: '&x;' },
  { id: 'entity declared without a DOCTYPE', prolog: '', content: '<!ENTITY x "expanded">&x;' },
  {
    id: 'billion laughs in UTF-16',
    prolog: BILLION_LAUGHS,
    content: '&lol9;',
    encode: (doc) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(doc.replace('encoding="utf-8"', 'encoding="utf-16"'), 'utf16le')]),
  },
];

export const wsdl = (a: XmlAttack): string =>
  `<?xml version="1.0" encoding="utf-8"?>${a.prolog}<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" targetNamespace="urn:x">` +
  `<documentation>${a.content}</documentation></definitions>`;

export const soapResponse = (a: XmlAttack): string =>
  `<?xml version="1.0" encoding="utf-8"?>${a.prolog}<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">` +
  `<s:Body><r:Res xmlns:r="urn:x"><r:msg>${a.content}</r:msg></r:Res></s:Body></s:Envelope>`;

export const bytesOf = (a: XmlAttack, doc: string): Buffer => (a.encode ? a.encode(doc) : Buffer.from(doc, 'utf8'));
