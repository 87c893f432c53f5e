import { Injectable } from '@nestjs/common';
import { HttpEgress } from '@elo/http-egress';
import { parseXml, type SoapVersion } from './soap-envelope';

export interface WsdlOperation {
  /** Endpoint address from the service's port for the chosen SOAP version. */
  endpoint: string;
  soapAction: string;
  /** The request element's namespace (schema targetNamespace, else the WSDL's). */
  namespace: string;
  /** The request element's local name (document/literal part element, else the operation name). */
  element: string;
}

/** The WSDL's server answered something other than 200: worth retrying on the schedule, unlike an unusable WSDL. */
export class WsdlUnavailableError extends Error {
  constructor(readonly status: number) {
    super(`WSDL fetch answered HTTP ${status}`);
    this.name = 'WsdlUnavailableError';
  }
}

const CACHE_MS = 10 * 60 * 1000;
const MAX_CACHED = 500;

/** Fetches WSDLs through HttpEgress, parses them with no DTD or entities, caches them for ten minutes. */
@Injectable()
export class WsdlService {
  private readonly cache = new Map<string, { at: number; doc: Record<string, unknown> }>();

  constructor(private readonly egress: HttpEgress) {}

  async operation(wsdlUrl: string, operation: string, version: SoapVersion, timeoutMs: number): Promise<WsdlOperation> {
    const doc = await this.load(wsdlUrl, timeoutMs);
    return findOperation(doc, operation, version);
  }

  /** Every operation the WSDL offers, with the parameters of its request element (for the console's picker). */
  async operations(wsdlUrl: string, timeoutMs: number): Promise<WsdlOperationSummary[]> {
    return listOperations(await this.load(wsdlUrl, timeoutMs));
  }

  private async load(url: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const hit = this.cache.get(url);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.doc;
    const res = await this.egress.request({ method: 'GET', url, timeoutMs, followRedirects: 0, maxResponseBytes: 2 * 1024 * 1024 });
    if (res.status !== 200) throw new WsdlUnavailableError(res.status);
    const doc = parseXml(res.body.toString('utf8'));
    if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(url, { at: Date.now(), doc });
    return doc;
  }
}

type Node = Record<string, unknown>;
const list = (v: unknown): Node[] => (Array.isArray(v) ? (v as Node[]) : v && typeof v === 'object' ? [v as Node] : []);
const local = (qname: unknown): string => String(qname ?? '').split(':').pop() ?? '';

/** An operation as offered to whoever configures an integration. */
export interface WsdlOperationSummary {
  name: string;
  /** SOAP versions whose binding offers the operation. */
  versions: SoapVersion[];
  soapAction: string;
  /** The request element's child elements (document/literal), in schema order; empty when the WSDL does not say. */
  params: Array<{ name: string; type: string }>;
}

/** The operations of a parsed WSDL (portType order), each with its SOAP versions, action and request parameters. */
export function listOperations(doc: Node): WsdlOperationSummary[] {
  const defs = (doc['definitions'] ?? {}) as Node;
  const schemas = list((defs['types'] as Node | undefined)?.['schema']);
  const elements = schemas.flatMap((sc) => list(sc['element']));
  const complexTypes = schemas.flatMap((sc) => list(sc['complexType']));
  const childrenOf = (ct: Node | undefined): Array<{ name: string; type: string }> => {
    const seq = list(ct?.['sequence'])[0] ?? list(ct?.['all'])[0];
    return list(seq?.['element']).filter((e) => e['@name']).map((e) => ({ name: String(e['@name']), type: local(e['@type']) || 'string' }));
  };
  const bindings = list(defs['binding']);
  return list(defs['portType']).flatMap((pt) => list(pt['operation'])).map((op) => {
    const name = String(op['@name'] ?? '');
    const versions: SoapVersion[] = [];
    let soapAction = '';
    for (const b of bindings) {
      const bop = list(b['operation']).find((o) => o['@name'] === name);
      if (!bop) continue;
      const v: SoapVersion = /12/.test(String(b['@name'])) ? '1.2' : '1.1';
      if (!versions.includes(v)) versions.push(v);
      soapAction ||= String(list(bop['operation'])[0]?.['@soapAction'] ?? '');
    }
    const inputMessage = local(list(op['input'])[0]?.['@message']);
    const message = list(defs['message']).find((m) => m['@name'] === inputMessage);
    const parts = list(message?.['part']);
    const elementName = local(parts[0]?.['@element']);
    const el = elementName ? elements.find((e) => e['@name'] === elementName) : undefined;
    const params = elementName
      ? childrenOf(list(el?.['complexType'])[0] ?? complexTypes.find((c) => c['@name'] === local(el?.['@type'])))
      : // rpc style: the message parts are the parameters.
        parts.filter((p) => p['@name']).map((p) => ({ name: String(p['@name']), type: local(p['@type']) || 'string' }));
    return { name, versions: versions.length ? versions : ['1.1'], soapAction, params };
  });
}

export function findOperation(doc: Node, operation: string, version: SoapVersion): WsdlOperation {
  const defs = (doc['definitions'] ?? {}) as Node;
  const tns = String(defs['@targetNamespace'] ?? '');
  const bindings = list(defs['binding']);
  // Bindings of the right SOAP version are told apart by their namespace, lost with the prefixes;
  // the soap12 binding's `binding` child usually carries the same transport, so prefer the one whose
  // operation declares the action, then the first.
  let soapAction = '';
  let bindingName = '';
  for (const b of bindings) {
    const op = list(b['operation']).find((o) => o['@name'] === operation);
    if (!op) continue;
    const action = list(op['operation'])[0]?.['@soapAction'];
    if (!bindingName || (version === '1.2' && /12/.test(String(b['@name'])))) {
      bindingName = String(b['@name']);
      soapAction = String(action ?? '');
    }
  }
  if (!bindingName) throw new Error(`the WSDL has no operation ${operation}`);

  let endpoint = '';
  for (const s of list(defs['service'])) {
    for (const p of list(s['port'])) {
      const loc = list(p['address'])[0]?.['@location'];
      if (loc && (!endpoint || local(p['@binding']) === bindingName)) endpoint = String(loc);
    }
  }
  if (!endpoint) throw new Error('the WSDL names no endpoint address');

  // document/literal: the input message's part names the request element.
  let element = operation;
  let namespace = tns;
  const portOp = list(defs['portType']).flatMap((pt) => list(pt['operation'])).find((o) => o['@name'] === operation);
  const inputMessage = local(list(portOp?.['input'])[0]?.['@message']);
  const message = list(defs['message']).find((m) => m['@name'] === inputMessage);
  const part = list(message?.['part'])[0];
  if (part?.['@element']) {
    element = local(part['@element']);
    const schema = list((defs['types'] as Node | undefined)?.['schema'])[0];
    if (schema?.['@targetNamespace']) namespace = String(schema['@targetNamespace']);
  }
  return { endpoint, soapAction, namespace, element };
}
