import { XMLParser } from 'fast-xml-parser';
import { createTestInfra, type TestInfra } from '@elo/testing';
import { closeAll, FakeEndpoint, startApp, tenantApi, type Api, type RunningApp } from './app.fixture';
import { startSoapServer, type SoapFake } from './fakes.soap-server';

/*
 * Injection through a running dispatcher and a real endpoint: event values full of quotes, brackets,
 * newlines, XML and URL metacharacters and template syntax are rendered into an integration's URL
 * path and query, headers, a key/value JSON body with bracket keys, raw JSON, raw XML, a form body and
 * a SOAP envelope. On the wire the request keeps its host, path segments, headers and structure, and
 * each value arrives as exactly the text it was; a value with CR or LF headed for a header is refused
 * and nothing is sent.
 */

const HOSTILE = [
  '"}, "admin": true, "x": {"',
  "'; DROP TABLE x; --",
  '</name><admin>true</admin><name>',
  ']]><admin/><![CDATA[',
  '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>&e;',
  '../../admin/%2e%2e/?role=admin&x=1#frag',
  '@evil.example:80/steal',
  'a[b][c]=d&e=f',
  '{secret.apiKey} {{name}} ${name}',
  'multi\nline\ttext',
  'emoji 👩🏽‍💻 and ção',
];

describe('webhook-dispatcher: hostile event values cannot change the request (real PostgreSQL, RabbitMQ, an endpoint)', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let endpoint: FakeEndpoint;
  let soap: SoapFake;
  let call: Api;
  const xml = new XMLParser({ processEntities: false, parseTagValue: false, trimValues: false, ignoreAttributes: false });

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_injection');
    endpoint = await new FakeEndpoint().start();
    soap = await startSoapServer();
    svc = await startApp(infra);
    ({ call } = await tenantApi(svc.url));
  });

  afterAll(() => closeAll(svc, endpoint, soap, infra));

  const integration = async (request: Record<string, unknown>) => {
    const created = await call('POST', '/integrations', {
      name: `injection ${Math.random()}`, kind: 'http', request, trigger: { eventTypes: ['chat.message.received'] },
      secrets: { apiKey: 'sk-never-rendered-by-a-value' },
    });
    expect(created.status).toBe(201);
    return String(created.body.id);
  };
  const test = (id: string, v: string) => call('POST', `/integrations/${id}/test`, { data: { name: v, other: 'plain' } });
  const last = () => endpoint.received.at(-1)!;

  it('URL path and query: host, path segments and parameters unchanged; each value decodes back', async () => {
    const id = await integration({
      method: 'POST', url: `${endpoint.url}/crm/{name}/contacts?fixed=1`, query: [{ key: 'q', value: '{name}' }, { key: 'other', value: '{other}' }],
    });
    for (const v of HOSTILE.filter((x) => !x.includes('\n'))) {
      const r = await test(id, v);
      expect({ v, ok: r.body.ok }).toEqual({ v, ok: true });
      const u = new URL(last().url, endpoint.url);
      expect(u.host).toBe(new URL(endpoint.url).host);
      const segments = u.pathname.split('/');
      expect(segments).toHaveLength(4);
      expect([segments[1], decodeURIComponent(segments[2]!), segments[3]]).toEqual(['crm', v, 'contacts']);
      expect([...u.searchParams.keys()].sort()).toEqual(['fixed', 'other', 'q']);
      expect(u.searchParams.get('q')).toBe(v);
      expect(u.hash).toBe('');
    }
  });

  it('headers: a value stays inside its header; CR or LF in a header value is refused and nothing is sent', async () => {
    const id = await integration({ method: 'POST', url: `${endpoint.url}/h`, headers: [{ name: 'X-Contact', value: '{name}' }] });
    expect((await test(id, 'plain')).body.ok).toBe(true);
    const names = Object.keys(last().headers).sort();
    // Header values are bytes on the wire: the printable ASCII ones are compared exactly.
    for (const v of HOSTILE.filter((x) => /^[\x20-\x7e]*$/.test(x))) {
      expect((await test(id, v)).body.ok).toBe(true);
      expect(last().headers['x-contact']).toBe(v);
      expect(Object.keys(last().headers).sort()).toEqual(names);
    }
    for (const v of ['a\r\nX-Injected: 1', 'a\nX-Injected: 1', 'a\rX-Injected: 1', '\r\n\r\nGET /smuggled HTTP/1.1']) {
      const sent = endpoint.received.length;
      const r = await test(id, v);
      expect({ v, ok: r.body.ok, errorClass: r.body.errorClass }).toEqual({ v, ok: false, errorClass: 'template' });
      expect(endpoint.received.length).toBe(sent);
    }
  });

  it('JSON bodies (key/value with bracket keys, raw template): the structure is the template\'s, every value arrives as it was', async () => {
    const kv = await integration({
      method: 'POST', url: `${endpoint.url}/kv`,
      body: { kind: 'keyvalue', pairs: [{ key: 'contact[name]', value: '{name}' }, { key: 'contact[tags][0]', value: '{other}' }, { key: 'admin', value: 'false' }] },
    });
    const raw = await integration({
      method: 'POST', url: `${endpoint.url}/raw`,
      body: { kind: 'raw', contentType: 'application/json', template: '{"name": "{name}", "list": ["{name}", "{other}"], "admin": false}' },
    });
    for (const v of HOSTILE) {
      expect((await test(kv, v)).body.ok).toBe(true);
      expect(JSON.parse(last().body)).toEqual({ contact: { name: v, tags: ['plain'] }, admin: 'false' });
      expect((await test(raw, v)).body.ok).toBe(true);
      expect(JSON.parse(last().body)).toEqual({ name: v, list: [v, 'plain'], admin: false });
    }
  });

  it('XML and form bodies: the document and the fields are the template\'s, every value arrives as it was', async () => {
    const rawXml = await integration({
      method: 'POST', url: `${endpoint.url}/xml`,
      body: { kind: 'raw', contentType: 'application/xml', template: '<contact admin="false" name="{name}"><name>{name}</name><other>{other}</other></contact>' },
    });
    const form = await integration({
      method: 'POST', url: `${endpoint.url}/form`, body: { kind: 'form', pairs: [{ key: 'name', value: '{name}' }, { key: 'role', value: 'user' }] },
    });
    for (const v of HOSTILE) {
      const r = await test(rawXml, v);
      expect({ v, ok: r.body.ok }).toEqual({ v, ok: true });
      const doc = xml.parse(last().body) as { contact: Record<string, unknown> };
      expect(Object.keys(doc)).toEqual(['contact']);
      expect(doc.contact).toEqual({ '@_admin': 'false', '@_name': expect.any(String), name: expect.any(String), other: 'plain' });
      expect([decode(String(doc.contact.name)), decode(String(doc.contact['@_name']))]).toEqual([v, v]);
      expect((await test(form, v)).body.ok).toBe(true);
      const fields = new URLSearchParams(last().body);
      expect([...fields.keys()]).toEqual(['name', 'role']);
      expect([fields.get('name'), fields.get('role')]).toEqual([v, 'user']);
    }
  });

  it('SOAP: each parameter is one element holding exactly the value; the envelope keeps its shape', async () => {
    const created = await call('POST', '/integrations', {
      name: 'soap injection', kind: 'soap', trigger: { eventTypes: ['chat.message.received'] },
      soap: {
        wsdlUrl: `${soap.url}/calls?wsdl`, operation: 'UpdateCallStatus', version: '1.1',
        params: [{ name: 'callId', value: '{name}' }, { name: 'ramal', value: '{other}' }, { name: 'status', value: 'done' }, { name: 'duration', value: '1' }],
      },
    });
    expect(created.status).toBe(201);
    for (const v of HOSTILE.filter((x) => !x.includes('\t'))) {
      const r = await call('POST', `/integrations/${String(created.body.id)}/test`, { data: { name: v, other: 'plain' } });
      expect({ v, ok: r.body.ok }).toEqual({ v, ok: true });
      const got = soap.calls.at(-1)!;
      expect(got).toMatchObject({ callId: v, ramal: 'plain', status: 'done' });
      expect(Object.keys(got).sort()).toEqual(['callId', 'duration', 'ramal', 'status']);
    }
  });
});

/** XML text as its value: the five predefined entities and character references. */
function decode(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-f]+);/gi, (_m, e: string) =>
    ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e] ?? String.fromCodePoint(e[1]?.toLowerCase() === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1))));
}
