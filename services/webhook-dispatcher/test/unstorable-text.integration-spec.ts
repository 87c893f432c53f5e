import { createTestInfra, type TestInfra } from '@elo/testing';
import { closeAll, startApp, tenantApi, type Api, type RunningApp } from './app.fixture';

/** What PostgreSQL refuses in text (U+0000) and in jsonb (U+0000, a lone surrogate). */
const BAD = [['U+0000', 'a\u0000b'], ['a lone surrogate', 'a\ud800b']] as const;

/**
 * Every route that stores (or looks up) text a client sent, with U+0000 and a lone surrogate in each string field
 * (and in the keys of free-form maps): never a 500; a definition holding one is a 400 naming the field.
 */
describe('webhook-dispatcher: U+0000 and lone surrogates in what clients send', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let call: Api;
  let integrationId: string;
  let seq = 0;

  const definition = {
    name: 'CRM', kind: 'http',
    request: { method: 'POST', url: 'https://crm.example/api/deals', body: { kind: 'keyvalue', pairs: [{ key: 'deal[name]', value: '{contact.name}' }] } },
    trigger: { eventTypes: ['chat.message.received'] },
  };

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_unstorable');
    svc = await startApp(infra);
    ({ call } = await tenantApi(svc.url));
    integrationId = (await call('POST', '/integrations', { ...definition, name: 'base' })).body.id as string;
  });

  afterAll(() => closeAll(svc, infra));

  const create = (change: Record<string, unknown>) => call('POST', '/integrations', { ...definition, name: `i${++seq}`, ...change });
  const request = (change: Record<string, unknown>) => ({ request: { ...definition.request, ...change } });

  /** One field, and what the 400 names (undefined: nothing is stored, and the answer is no 500: a render or a fetch that fails is a 422). */
  const CASES: Array<{ field: string; send: (bad: string) => Promise<{ status: number; body: Record<string, unknown> }>; names?: string }> = [
    { field: 'POST /integrations name', send: (bad) => create({ name: bad }), names: 'name' },
    { field: 'POST /integrations description', send: (bad) => create({ description: bad }), names: 'description' },
    { field: 'POST /integrations request.url', send: (bad) => create(request({ url: `https://crm.example/${bad}` })), names: 'request.url' },
    { field: 'POST /integrations request.headers', send: (bad) => create(request({ headers: `X-A: ${bad}` })), names: 'request.headers' },
    { field: 'POST /integrations request.body pairs', send: (bad) => create(request({ body: { kind: 'keyvalue', pairs: [{ key: bad, value: bad }] } })), names: 'request.body.pairs[0].key' },
    { field: 'POST /integrations request.body template', send: (bad) => create(request({ body: { kind: 'raw', contentType: 'text/plain', template: bad } })), names: 'request.body.template' },
    { field: 'POST /integrations request.auth token', send: (bad) => create(request({ auth: { type: 'bearer', token: bad } })), names: 'request.auth.token' },
    { field: 'POST /integrations trigger.filter value', send: (bad) => create({ trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: bad }] } }), names: 'trigger.filter[0].value' },
    { field: 'POST /integrations secrets value', send: (bad) => create({ secrets: { apiKey: bad } }), names: 'secrets.apiKey' },
    { field: 'POST /integrations secrets key', send: (bad) => create({ secrets: { [bad]: 'x' } }), names: 'secrets.a' },
    { field: 'POST /integrations reply.success', send: (bad) => create({ reply: { success: bad } }), names: 'reply.success' },
    { field: 'PATCH /integrations/:id description', send: (bad) => call('PATCH', `/integrations/${integrationId}`, { description: bad }), names: 'description' },
    { field: 'PATCH /integrations/:id request.url', send: (bad) => call('PATCH', `/integrations/${integrationId}`, request({ url: `https://crm.example/${bad}` })), names: 'request.url' },
    { field: 'POST /integrations/:id/preview type, data key and value', send: (bad) => call('POST', `/integrations/${integrationId}/preview`, { type: bad, data: { [bad]: bad } }) },
    { field: 'POST /wsdl/operations wsdlUrl', send: (bad) => call('POST', '/wsdl/operations', { wsdlUrl: `https://crm.example/${bad}` }) },
  ];

  for (const [what, bad] of BAD) {
    it.each(CASES)(`${what} in $field: a 400 naming $names, not a 500`, async ({ send, names }) => {
      const res = await send(bad);
      if (names) expect(res).toMatchObject({ status: 400, body: { detail: expect.stringContaining(names) } });
      else expect(res.status).toBeLessThan(500);
    });
  }

  it('U+0000 (%00) in a listing\'s filter or cursor: a 400 naming it, not a 500', async () => {
    for (const [path, names] of [
      [`/integrations/${integrationId}/deliveries?eventType=a%00b`, 'eventType'], [`/integrations/${integrationId}/deliveries?cursor=a%00b`, 'cursor'],
      [`/integrations/${integrationId}/deliveries?errorClass=a%00b`, 'errorClass'],
      // A cursor edited to carry it in its filter is not one this API handed out.
      [`/integrations/${integrationId}/deliveries?cursor=${Buffer.from(JSON.stringify({ k: '1', id: '00000000-0000-4000-8000-000000000000', f: { eventType: 'a\u0000b' } })).toString('base64url')}`, 'cursor'],
    ]) {
      expect(await call('GET', path!)).toMatchObject({ status: 400, body: { detail: expect.stringContaining(names) } });
    }
  });
});
