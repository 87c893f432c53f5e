import { Injectable } from '@nestjs/common';
import { HttpEgress } from '@elo/http-egress';
import { parseXml, type SoapVersion } from './soap-envelope';

const WSDL_SOAP11 = 'http://schemas.xmlsoap.org/wsdl/soap/';
const WSDL_SOAP12 = 'http://schemas.xmlsoap.org/wsdl/soap12/';

export interface WsdlOperation {
  /** Endpoint address from the service's port for the chosen SOAP version. */
  endpoint: string;
  soapAction: string;
  /** The request element's namespace: the targetNamespace of the schema declaring it (else its QName's, else the WSDL's). */
  namespace: string;
  /** The request element's local name (document/literal part element, else the operation name). */
  element: string;
  /** Whether the parameters are in `namespace`: the declaring schema's elementFormDefault (XSD default: unqualified). */
  paramsQualified: boolean;
  /** Parameters whose own `form` attribute says otherwise than `paramsQualified`. */
  paramForms?: Record<string, boolean>;
}

/** Whether the parameter `name` of `op` goes in the request element's namespace. */
export function paramQualified(op: Pick<WsdlOperation, 'paramsQualified' | 'paramForms'>, name: string): boolean {
  return op.paramForms && Object.prototype.hasOwnProperty.call(op.paramForms, name) ? op.paramForms[name] : op.paramsQualified;
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

/** A cached WSDL: the parsed document and the operations already found in it (by operation and SOAP version). */
interface CachedWsdl {
  at: number;
  doc: Record<string, unknown>;
  /** findOperation's successful answers for this document, keyed `${operation}\n${version}`; expire with it. */
  ops: Map<string, WsdlOperation>;
}

/** Fetches WSDLs through HttpEgress, parses them with no DTD or entities, caches them for ten minutes. */
@Injectable()
export class WsdlService {
  private readonly cache = new Map<string, CachedWsdl>();

  constructor(private readonly egress: HttpEgress) {}

  /** The operation as findOperation finds it, looked up once per cached document (failures are not cached: they throw each time). */
  async operation(wsdlUrl: string, operation: string, version: SoapVersion, timeoutMs: number): Promise<WsdlOperation> {
    const entry = await this.load(wsdlUrl, timeoutMs);
    const key = `${operation}\n${version}`;
    let op = entry.ops.get(key);
    if (!op) {
      op = findOperation(entry.doc, operation, version);
      entry.ops.set(key, op);
    }
    return op;
  }

  /** Every operation the WSDL offers, with the parameters of its request element (for the console's picker). */
  async operations(wsdlUrl: string, timeoutMs: number): Promise<WsdlOperationSummary[]> {
    return listOperations((await this.load(wsdlUrl, timeoutMs)).doc);
  }

  private async load(url: string, timeoutMs: number): Promise<CachedWsdl> {
    const hit = this.cache.get(url);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit;
    const res = await this.egress.request({ method: 'GET', url, timeoutMs, followRedirects: 0, maxResponseBytes: 2 * 1024 * 1024 });
    if (res.status !== 200) throw new WsdlUnavailableError(res.status);
    const entry: CachedWsdl = { at: Date.now(), doc: parseWsdl(res.body.toString('utf8')), ops: new Map() };
    if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(url, entry);
    return entry;
  }
}

type Node = Record<string, unknown>;
type Scope = Record<string, string>;
const list = (v: unknown): Node[] => (Array.isArray(v) ? (v as Node[]) : v && typeof v === 'object' ? [v as Node] : []);
const local = (qname: unknown): string => String(qname ?? '').split(':').pop() ?? '';
const NS = Symbol('namespace');
const SCOPE = Symbol('prefixes in scope');

/**
 * Parses a WSDL (safely, as parseXml) keeping what its prefixes meant. Nodes are keyed by local name as
 * parseXml's are, and each element node also carries its namespace and the prefixes in scope (symbols), so
 * a `soap12:binding` is told from a `soap:binding` and a QName such as `tns:OpRequest` can be resolved.
 */
export function parseWsdl(xml: string): Node {
  return resolveNames(parseXml(xml, { keepPrefixes: true }), '', Object.create(null) as Scope) as Node;
}

function resolveNames(v: unknown, qname: string, scope: Scope): unknown {
  if (Array.isArray(v)) return v.map((x) => resolveNames(x, qname, scope));
  // An empty element (`<soap:binding/>`) still has a namespace worth knowing.
  const node = v === '' && qname ? {} : v;
  if (!node || typeof node !== 'object') return node;
  const inScope = Object.create(scope) as Scope;
  for (const [k, x] of Object.entries(node as Node)) {
    if (k === '@xmlns') inScope[''] = String(x);
    else if (k.startsWith('@xmlns:')) inScope[k.slice('@xmlns:'.length)] = String(x);
  }
  const i = qname.indexOf(':');
  const out: Node & { [NS]?: string; [SCOPE]?: Scope } = {};
  out[NS] = inScope[i > 0 ? qname.slice(0, i) : ''] ?? '';
  out[SCOPE] = inScope;
  for (const [k, x] of Object.entries(node as Node)) {
    if (k.startsWith('@')) {
      out[k.startsWith('@xmlns') ? k : `@${local(k.slice(1))}`] = x;
      continue;
    }
    if (k === '#text') {
      out[k] = x;
      continue;
    }
    const name = local(k);
    const child = resolveNames(x, k, inScope);
    const prev = out[name];
    out[name] = prev === undefined ? child : [...(Array.isArray(prev) ? prev : [prev]), ...(Array.isArray(child) ? child : [child])];
  }
  return out;
}

/** The namespace of an element node from parseWsdl ('' when unknown, e.g. a document parsed without prefixes). */
const nsOf = (n: Node | undefined): string => (n as { [NS]?: string } | undefined)?.[NS] ?? '';

/** A QName-valued attribute resolved with the prefixes in scope at `n`; `ns` undefined when the prefix is not declared. */
function resolveQName(n: Node, value: unknown): { ns?: string; local: string } {
  const v = String(value ?? '');
  const i = v.indexOf(':');
  const scope = (n as { [SCOPE]?: Scope })[SCOPE];
  return { ns: scope?.[i > 0 ? v.slice(0, i) : ''], local: v.slice(i + 1) };
}

/**
 * The SOAP version of a binding, from the namespace of its extension elements (`soap:binding`, `soap:operation`):
 * `other` for a non-SOAP binding (HTTP GET/POST), undefined when the document does not say (no namespaces).
 */
function bindingVersion(b: Node): SoapVersion | 'other' | undefined {
  const extensions = [...list(b['binding']), ...list(b['operation']).flatMap((o) => list(o['operation']))];
  for (const e of extensions) {
    const ns = nsOf(e);
    if (ns === WSDL_SOAP11) return '1.1';
    if (ns === WSDL_SOAP12) return '1.2';
    if (ns) return 'other';
  }
  return undefined;
}

/** An operation as offered to whoever configures an integration. */
export interface WsdlOperationSummary {
  name: string;
  /** SOAP versions whose binding offers the operation. */
  versions: SoapVersion[];
  soapAction: string;
  /** The request element's child elements (document/literal), in schema order; empty when the WSDL does not say. */
  params: Array<{ name: string; type: string }>;
}

/** The schema declaring the part's element: the one of its QName's namespace, else any declaring that name. */
function declaringSchema(schemas: Node[], el: { ns?: string; local: string }): Node | undefined {
  const declares = (sc: Node) => list(sc['element']).some((e) => e['@name'] === el.local);
  return schemas.find((sc) => el.ns !== undefined && String(sc['@targetNamespace'] ?? '') === el.ns && declares(sc)) ?? schemas.find(declares);
}

/** The request element a document/literal part names: its QName, the schema declaring it and its declaration. */
function partElement(part: Node, schemas: Node[]): { q: { ns?: string; local: string }; schema?: Node; el?: Node } {
  const q = resolveQName(part, part['@element']);
  const schema = declaringSchema(schemas, q);
  return { q, schema, el: list(schema?.['element']).find((e) => e['@name'] === q.local) };
}

/** The element declarations of a request element's type: its inline complexType, else the named one. */
function childElements(el: Node | undefined, schemas: Node[]): Node[] {
  const named = el?.['@type'] ? schemas.flatMap((sc) => list(sc['complexType'])).find((c) => c['@name'] === local(el['@type'])) : undefined;
  const ct = list(el?.['complexType'])[0] ?? named;
  const seq = list(ct?.['sequence'])[0] ?? list(ct?.['all'])[0];
  return list(seq?.['element']).filter((e) => e['@name']);
}

/** A SOAP binding and its version (undefined: the document does not say). */
type SoapBinding = { b: Node; v: SoapVersion | undefined };

/** The document's SOAP bindings with their versions, in document order; non-SOAP (HTTP) ones left out. */
function soapBindings(defs: Node): SoapBinding[] {
  return list(defs['binding'])
    .map((b) => ({ b, v: bindingVersion(b) }))
    .filter((c): c is SoapBinding => c.v !== 'other');
}

/** The SOAP bindings offering the operation `name` (document order), each with its binding operation. */
function offeringBindings(bindings: SoapBinding[], name: string): Array<SoapBinding & { op: Node }> {
  return bindings.flatMap(({ b, v }) => {
    const op = list(b['operation']).find((o) => o['@name'] === name);
    return op ? [{ b, op, v }] : [];
  });
}

/** The parts of a portType operation's input message. */
function inputParts(defs: Node, portOp: Node | undefined): Node[] {
  const inputMessage = local(list(portOp?.['input'])[0]?.['@message']);
  return list(list(defs['message']).find((m) => m['@name'] === inputMessage)?.['part']);
}

/** The operations of a WSDL from parseWsdl (portType order), each with its SOAP versions, action and request parameters. */
export function listOperations(doc: Node): WsdlOperationSummary[] {
  const defs = (doc['definitions'] ?? {}) as Node;
  const schemas = list((defs['types'] as Node | undefined)?.['schema']);
  const bindings = soapBindings(defs);
  return list(defs['portType']).flatMap((pt) => list(pt['operation'])).map((op) => {
    const name = String(op['@name'] ?? '');
    const versions: SoapVersion[] = [];
    let soapAction = '';
    for (const { op: bop, v } of offeringBindings(bindings, name)) {
      if (!versions.includes(v ?? '1.1')) versions.push(v ?? '1.1');
      soapAction ||= String(list(bop['operation'])[0]?.['@soapAction'] ?? '');
    }
    const parts = inputParts(defs, op);
    const part = parts[0];
    const params = part?.['@element']
      ? childElements(partElement(part, schemas).el, schemas).map((e) => ({ name: String(e['@name']), type: local(e['@type']) || 'string' }))
      : // rpc style: the message parts are the parameters.
        parts.filter((p) => p['@name']).map((p) => ({ name: String(p['@name']), type: local(p['@type']) || 'string' }));
    return { name, versions: versions.length ? versions.sort() : ['1.1'], soapAction, params };
  });
}

/**
 * The endpoint, action and request element of `operation` for SOAP `version`. The binding is the one whose
 * SOAP extension elements are in that version's namespace (a WSDL that declares no namespaces at all: any
 * binding offering the operation), so a 1.1 integration never gets the 1.2 binding's address or action.
 */
export function findOperation(doc: Node, operation: string, version: SoapVersion): WsdlOperation {
  const defs = (doc['definitions'] ?? {}) as Node;
  const tns = String(defs['@targetNamespace'] ?? '');
  const offering = offeringBindings(soapBindings(defs), operation);
  if (!offering.length) throw new Error(`the WSDL has no operation ${operation}`);
  const chosen = offering.find((c) => c.v === version) ?? offering.find((c) => c.v === undefined);
  if (!chosen) throw new Error(`the WSDL has no SOAP ${version} binding for operation ${operation}`);
  const bindingName = String(chosen.b['@name'] ?? '');
  const bop = chosen.op;
  const soapAction = String(list(bop['operation'])[0]?.['@soapAction'] ?? '');

  const ports = list(defs['service']).flatMap((s) => list(s['port'])).filter((p) => list(p['address'])[0]?.['@location']);
  const port = ports.find((p) => local(p['@binding']) === bindingName) ?? (chosen.v === undefined ? ports[0] : undefined);
  if (!port) throw new Error(`the WSDL names no endpoint address for binding ${bindingName}`);
  const endpoint = String(list(port['address'])[0]['@location']);

  // document/literal: the input message's part names the request element, declared by one of the schemas.
  const portOp = list(defs['portType']).flatMap((pt) => list(pt['operation'])).find((o) => o['@name'] === operation);
  const part = inputParts(defs, portOp)[0];
  if (!part?.['@element']) {
    // rpc/literal: the wrapper is the operation in soap:body's namespace; its parts are unqualified (WS-I BP R2735).
    const body = list(list(bop['input'])[0]?.['body'])[0];
    return { endpoint, soapAction, namespace: String(body?.['@namespace'] ?? tns), element: operation, paramsQualified: false };
  }
  const schemas = list((defs['types'] as Node | undefined)?.['schema']);
  const { q, schema, el } = partElement(part, schemas);
  const namespace = schema ? String(schema['@targetNamespace'] ?? '') : (q.ns ?? tns);
  const paramsQualified = schema?.['@elementFormDefault'] === 'qualified';
  const paramForms: Record<string, boolean> = {};
  for (const c of childElements(el, schemas)) {
    const form = c['@form'];
    if ((form === 'qualified' || form === 'unqualified') && (form === 'qualified') !== paramsQualified) paramForms[String(c['@name'])] = form === 'qualified';
  }
  return { endpoint, soapAction, namespace, element: q.local, paramsQualified, ...(Object.keys(paramForms).length ? { paramForms } : {}) };
}
