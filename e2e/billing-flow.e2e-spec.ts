import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { callApi, createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { ADMIN_KEY, buildOnce, STACK_START_MS, STACK_STOP_MS, startService, stopAll, type RunningService } from './stack';

interface Recorded {
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
  /** The provider message id the fake answered with (Graph only). */
  wamid?: string;
}

/** A local HTTP server that records every request and answers with `answer(request, index)`. */
async function fakeServer(answer: (r: Recorded, n: number) => Record<string, unknown>): Promise<{ server: Server; url: string; got: Recorded[] }> {
  const got: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Recorded = { path: req.url ?? '', headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown> };
      got.push(r);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(answer(r, got.length)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, got };
}

const APP_SECRET = 'e2e-billing-app-secret';
const PHONE_NUMBER_ID = '109876543210555';
const CUSTOMER = '5541988445566';
const VALID_CPF = '52998224725';
const INVALID_CPF = '52998224700';
const BOLETO_URL = `https://erp.example.com/boletos/${VALID_CPF}.pdf`;

const FLOW = {
  start: 'menu',
  steps: {
    menu: { type: 'menu', text: 'Olá! Como podemos ajudar?', invalidText: 'Não entendi, escolha uma opção.', options: [
      { id: 'humano', title: 'Falar com atendente', next: 'to_human' },
      { id: 'boleto', title: '2ª via do boleto', next: 'ask_cpf' },
    ] },
    ask_cpf: { type: 'question', text: 'Informe seu CPF', validate: 'cpf', attribute: 'cpf', invalidText: 'CPF inválido, tente de novo.', next: 'billing' },
    billing: { type: 'integration', integration: 'billing', waitText: 'Um momento, buscando seu boleto…', successText: 'Aqui está seu boleto: {reply}', failureText: 'Não encontrei seu boleto.', onSuccess: 'end', onFailure: 'to_human' },
    end: { type: 'close', text: 'Obrigado pelo contato!' },
    to_human: { type: 'transfer', queue: 'atendimento', text: 'Vou te passar para um atendente.' },
  },
};

/**
 * Issue 3's typical flow across the services, each started as its own process and driven over HTTP
 * only: a customer on WhatsApp meets the greeting menu, asks for "2ª via do boleto", gives a CPF;
 * chat-ingress asks webhook-dispatcher (over the bus) to run the tenant's billing integration against a
 * local fake ERP; the boleto link goes back to the customer through a fake Graph API, and its delivery
 * and reading, reported by WhatsApp, show in message-status.
 */
describe('billing flow: menu → 2ª via do boleto → CPF → ERP → boleto link → status tracked', () => {
  let infra: TestInfra;
  let graph: Awaited<ReturnType<typeof fakeServer>>;
  let erp: Awaited<ReturnType<typeof fakeServer>>;
  let chat: RunningService;
  let dispatcher: RunningService;
  let status: RunningService;

  beforeAll(async () => {
    await buildOnce();
    infra = await createTestInfra('e2e_billing');
    graph = await fakeServer((r, n) => {
      const wamid = `wamid.BILL${n}`;
      r.wamid = wamid;
      return { messaging_product: 'whatsapp', contacts: [{ wa_id: r.body.to }], messages: [{ id: wamid }] };
    });
    erp = await fakeServer((r) => ({ cpf: r.body.cpf, vencimento: '2026-12-10', url: BOLETO_URL }));
    const env = { DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, EGRESS_ALLOW_PRIVATE: '127.0.0.1/32' };
    [chat, dispatcher, status] = await Promise.all([
      startService('chat-ingress', { ...env, GRAPH_API_BASE_URL: `${graph.url}/graph`, SENDER_POLL_MS: '100', FLOW_TICK_MS: '1000' }),
      startService('webhook-dispatcher', { ...env, DISPATCHER_POLL_MS: '100' }),
      startService('message-status', env),
    ]);
  }, STACK_START_MS);

  afterAll(async () => {
    try {
      await stopAll([chat, dispatcher, status]);
    } finally {
      await Promise.all([graph, erp].map((f) => f && new Promise((r) => f.server.close(r))));
      await infra?.cleanup();
    }
  }, STACK_STOP_MS);

  const webhook = async (value: Record<string, unknown>, channelId: string) => {
    const raw = JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '210987654321555', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp', metadata: { display_phone_number: '554130001000', phone_number_id: PHONE_NUMBER_ID }, ...value,
    } }] }] });
    const res = await callApi(chat.url, 'POST', `/webhooks/whatsapp/${channelId}`, undefined, raw, {
      'content-type': 'application/json',
      'x-hub-signature-256': `sha256=${createHmac('sha256', APP_SECRET).update(raw).digest('hex')}`,
    });
    expect(res.status).toBe(200);
  };
  let seq = 0;
  const say = (channelId: string, text: string) => webhook({
    contacts: [{ profile: { name: 'Joana Prado' }, wa_id: CUSTOMER }],
    messages: [{ from: CUSTOMER, id: `wamid.IN.${++seq}`, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: text } }],
  }, channelId);
  const report = (channelId: string, wamid: string, s: 'delivered' | 'read', offsetSeconds: number) => webhook({
    statuses: [{ id: wamid, status: s, timestamp: String(Math.floor(Date.now() / 1000) + offsetSeconds), recipient_id: CUSTOMER }],
  }, channelId);
  /** What the fake Graph API was asked to send the customer, as text, in order. */
  const toCustomer = () => graph.got.filter((r) => r.path === `/graph/${PHONE_NUMBER_ID}/messages` && r.body.to === CUSTOMER).map((r) => {
    const b = r.body as { text?: { body: string }; interactive?: { body: { text: string } } };
    return b.text?.body ?? b.interactive?.body.text ?? '';
  });

  it('answers the customer with the ERP boleto link and tracks it to read', async () => {
    // Setup over the public APIs: admin key → tenant → the tenant's key.
    const tenant = await callApi<{ id: string }>(chat.url, 'POST', '/tenants', ADMIN_KEY, { name: 'Provedor Boleto' });
    expect(tenant.status).toBe(201);
    const keyRes = await callApi<{ key: string }>(chat.url, 'POST', `/tenants/${tenant.body.id}/keys`, ADMIN_KEY, {
      name: 'e2e-billing',
      permissions: ['channels:manage', 'messages:send', 'integrations:manage', 'integrations:read', 'dashboard:read'],
    });
    expect(keyRes.status).toBe(201);
    const key = keyRes.body.key;

    const channel = await callApi<{ id: string }>(chat.url, 'POST', '/channels', key, {
      provider: 'whatsapp', name: 'Financeiro', phoneNumberId: PHONE_NUMBER_ID, displayPhone: '+55 41 3000-1000', accountId: '210987654321555',
      credentials: { accessToken: 'e2e-billing-access-token', appSecret: APP_SECRET },
      settings: { botQueue: 'bot', humanQueue: 'atendimento' },
    });
    expect(channel.status).toBe(201);
    const channelId = channel.body.id;
    expect(await callApi(chat.url, 'PUT', '/flow', key, FLOW)).toMatchObject({ status: 200, body: { version: 1 } });

    const integration = await callApi<{ id: string }>(dispatcher.url, 'POST', '/integrations', key, {
      name: 'billing', kind: 'http',
      request: {
        method: 'POST', url: `${erp.url}/erp/boletos/segunda-via`,
        headers: 'X-Api-Key: {secret.erpKey}',
        body: { kind: 'keyvalue', pairs: [{ key: 'cpf', value: '{attributes.cpf}' }, { key: 'cliente[telefone]', value: '{contact.phone}' }] },
      },
      trigger: { eventTypes: [] },
      delivery: { timeoutMs: 5_000 },
      secrets: { erpKey: 'e2e-erp-api-key' },
      reply: { success: '{url}', failure: 'Sistema indisponível.' },
    });
    expect(integration.status).toBe(201);

    // 1. The customer greets: the menu comes back.
    await say(channelId, 'oi');
    await expectEventually(() => expect(toCustomer()).toEqual(['Olá! Como podemos ajudar?\n1 - Falar com atendente\n2 - 2ª via do boleto']), { timeoutMs: 20_000 });

    // 2. Option 2 by number: the CPF is asked.
    await say(channelId, '2');
    await expectEventually(() => expect(toCustomer().at(-1)).toBe('Informe seu CPF'), { timeoutMs: 20_000 });

    // 3. A CPF with wrong check digits is asked again, and the ERP is not called.
    await say(channelId, INVALID_CPF);
    await expectEventually(() => expect(toCustomer().at(-1)).toBe('CPF inválido, tente de novo.'), { timeoutMs: 20_000 });
    expect(erp.got).toHaveLength(0);

    // 4. A valid CPF: the dispatcher runs the billing integration against the ERP with it.
    await say(channelId, VALID_CPF);
    const call = await expectEventually(() => {
      expect(erp.got).toHaveLength(1);
      return erp.got[0]!;
    }, { timeoutMs: 20_000 });
    expect(call.path).toBe('/erp/boletos/segunda-via');
    expect(call.headers['x-api-key']).toBe('e2e-erp-api-key');
    expect(call.headers['webhook-signature']).toMatch(/^v1,/);
    expect(call.body).toEqual({ cpf: VALID_CPF, cliente: { telefone: `+${CUSTOMER}` } });

    // 5. The boleto link reaches the customer's number as a WhatsApp text, then the flow closes.
    // In this order, which chat-ingress keeps (README, Outbound): the sender claims only a recipient's oldest unfinished
    // message (by created_at, clock_timestamp() at its insert), so the next is not sent before the previous one's outcome is
    // recorded. The wait text is queued with integration.requested, whose outbox commits with it; the link and the closing
    // text after it, one after the other, by the consumer of the dispatcher's answer to that request.
    await expectEventually(() => expect(toCustomer().slice(-3)).toEqual([
      'Um momento, buscando seu boleto…', `Aqui está seu boleto: ${BOLETO_URL}`, 'Obrigado pelo contato!',
    ]), { timeoutMs: 20_000 });
    const boletoCall = graph.got.find((r) => (r.body.text as { body?: string } | undefined)?.body === `Aqui está seu boleto: ${BOLETO_URL}`)!;
    expect(boletoCall.body).toMatchObject({ messaging_product: 'whatsapp', to: CUSTOMER, type: 'text' });
    expect(boletoCall.headers.authorization).toBe('Bearer e2e-billing-access-token');
    expect(erp.got).toHaveLength(1);

    const deliveries = await callApi<Array<{ outcome: string; eventType: string }>>(dispatcher.url, 'GET', `/integrations/${integration.body.id}/deliveries`, key);
    expect(deliveries.status).toBe(200);
    expect(deliveries.body).toEqual([expect.objectContaining({ outcome: 'succeeded', eventType: 'integration.requested' })]);

    // 6. message-status knows the boleto message as sent, under the id the provider gave it.
    const conversations = await callApi<{ items: Array<{ id: string }> }>(chat.url, 'GET', '/conversations', key);
    expect(conversations.body.items).toHaveLength(1);
    const conversationId = conversations.body.items[0]!.id;
    type Tracked = { id: string; status: string; providerMessageId: string | null; conversationId: string | null };
    const boleto = await expectEventually(async () => {
      const r = await callApi<{ items: Tracked[] }>(status.url, 'GET', `/messages?conversationId=${conversationId}&limit=200`, key);
      expect(r.status).toBe(200);
      const m = r.body.items.find((i) => i.providerMessageId === boletoCall.wamid);
      expect(m).toMatchObject({ status: 'sent', conversationId });
      return m!;
    }, { timeoutMs: 20_000 });

    // 7. WhatsApp reports it delivered, then read.
    const tracked = (s: string) => expectEventually(async () => {
      const r = await callApi<{ status: string; timeline: Array<{ status: string }> }>(status.url, 'GET', `/messages/${boleto.id}`, key);
      expect(r.status).toBe(200);
      expect(r.body.status).toBe(s);
      return r.body;
    }, { timeoutMs: 20_000 });
    await report(channelId, boletoCall.wamid!, 'delivered', 1);
    await tracked('delivered');
    await report(channelId, boletoCall.wamid!, 'read', 2);
    const read = await tracked('read');
    expect(read.timeline.map((t) => t.status)).toEqual(expect.arrayContaining(['queued', 'sent', 'delivered', 'read']));
  }, 180_000);
});
