import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { callApi, createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { ADMIN_KEY, buildOnce, STACK_START_MS, STACK_STOP_MS, startService, stopAll, type RunningService } from './stack';

/**
 * The walking skeleton, as a user runs it: chat-ingress and message-status started as their own
 * processes against real PostgreSQL and RabbitMQ, driven over HTTP only. A customer writes on
 * WhatsApp, an agent answers through Elo, the provider reports delivery, and the operator sees the
 * message's life in message-status — every hop crossing the bus through outbox and inbox.
 */
describe('walking skeleton: WhatsApp in, reply out, status tracked', () => {
  let infra: TestInfra;
  let fakeGraph: Server;
  let graphUrl: string;
  const sent: Array<{ path: string; body: Record<string, unknown> }> = [];
  let chat: RunningService;
  let status: RunningService;
  const APP_SECRET = 'e2e-app-secret-value';

  beforeAll(async () => {
    await buildOnce();
    infra = await createTestInfra('e2e');
    fakeGraph = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
        sent.push({ path: req.url ?? '', body });
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ messaging_product: 'whatsapp', contacts: [{ wa_id: body.to }], messages: [{ id: `wamid.E2E${sent.length}` }] }));
      });
    });
    await new Promise<void>((r) => fakeGraph.listen(0, '127.0.0.1', r));
    graphUrl = `http://127.0.0.1:${(fakeGraph.address() as { port: number }).port}/graph`;
    // Debug logging on, so the redaction check below sees as much as the services can say.
    const env = { DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, EGRESS_ALLOW_PRIVATE: '127.0.0.1/32', LOG_LEVEL: 'debug' };
    [chat, status] = await Promise.all([
      startService('chat-ingress', { ...env, GRAPH_API_BASE_URL: graphUrl, SENDER_POLL_MS: '100' }),
      startService('message-status', env),
    ]);
  }, STACK_START_MS);

  afterAll(async () => {
    try {
      await stopAll([chat, status]);
    } finally {
      await new Promise((r) => fakeGraph?.close(r));
      await infra?.cleanup();
    }
  }, STACK_STOP_MS);

  const signed = (raw: string) => ({
    'content-type': 'application/json',
    'x-hub-signature-256': `sha256=${createHmac('sha256', APP_SECRET).update(raw).digest('hex')}`,
  });

  it('carries a conversation from the provider to the operator dashboard', async () => {
    const tenant = await callApi<{ id: string }>(chat.url, 'POST', '/tenants', ADMIN_KEY, { name: 'Provedor Exemplo' });
    expect(tenant.status).toBe(201);
    const key = await callApi<{ key: string }>(chat.url, 'POST', `/tenants/${tenant.body.id}/keys`, ADMIN_KEY, {
      name: 'e2e',
      permissions: ['channels:manage', 'messages:send', 'dashboard:read'],
    });
    const k = key.body.key;
    const channel = await callApi<{ id: string }>(chat.url, 'POST', '/channels', k, {
      provider: 'whatsapp',
      name: 'Suporte',
      phoneNumberId: '109876543210987',
      displayPhone: '+55 41 3000-1000',
      accountId: '210987654321098',
      credentials: { accessToken: 'e2e-access-token-value', appSecret: APP_SECRET },
    });
    expect(channel.status).toBe(201);

    // 1. The customer writes (a signed Meta webhook).
    const inbound = JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [{ id: '210987654321098', changes: [{ field: 'messages', value: {
        messaging_product: 'whatsapp',
        metadata: { display_phone_number: '554130001000', phone_number_id: '109876543210987' },
        contacts: [{ profile: { name: 'Joana Prado' }, wa_id: '5541988445566' }],
        messages: [{ from: '5541988445566', id: 'wamid.E2EIN1', timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: 'Olá' } }],
      } }] }],
    });
    const hook = await callApi(chat.url, 'POST', `/webhooks/whatsapp/${channel.body.id}`, undefined, inbound, signed(inbound));
    expect(hook.status).toBe(200);
    const conversations = await expectEventually(async () => {
      const r = await callApi<{ items: Array<{ id: string }> }>(chat.url, 'GET', '/conversations', k);
      expect(r.body.items.length).toBeGreaterThan(0);
      return r.body.items;
    }, { timeoutMs: 20_000 });

    // 2. An agent answers through Elo; the provider accepts it.
    const reply = await callApi<{ messageId: string }>(chat.url, 'POST', '/messages', k, {
      conversationId: conversations[0]!.id,
      message: { kind: 'text', text: 'Oi Joana, já te envio o boleto.' },
    });
    expect(reply.status).toBe(202);
    const messageId = reply.body.messageId;
    await expectEventually(() => expect(sent.some((s) => (s.body.text as { body?: string })?.body?.startsWith('Oi Joana'))).toBe(true), { timeoutMs: 20_000 });

    // 3. message-status learned of it over the bus: queued, then sent with the provider's id.
    const tracked = await expectEventually(async () => {
      const r = await callApi<{ status: string; providerMessageId: string }>(status.url, 'GET', `/messages/${messageId}`, k);
      expect(r.status).toBe(200);
      expect(r.body.status).toBe('sent');
      return r.body;
    }, { timeoutMs: 20_000 });

    // 4. WhatsApp reports it read (skipping delivered, as it does with the chat open).
    const statuses = JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [{ id: '210987654321098', changes: [{ field: 'messages', value: {
        messaging_product: 'whatsapp',
        metadata: { display_phone_number: '554130001000', phone_number_id: '109876543210987' },
        statuses: [{ id: tracked.providerMessageId, status: 'read', timestamp: String(Math.floor(Date.now() / 1000) + 1), recipient_id: '5541988445566' }],
      } }] }],
    });
    expect((await callApi(chat.url, 'POST', `/webhooks/whatsapp/${channel.body.id}`, undefined, statuses, signed(statuses))).status).toBe(200);
    await expectEventually(async () => {
      const r = await callApi<{ status: string; timeline: unknown[] }>(status.url, 'GET', `/messages/${messageId}`, k);
      expect(r.body.status).toBe('read');
    }, { timeoutMs: 20_000 });

    // Another tenant sees none of it.
    const other = await callApi<{ id: string }>(chat.url, 'POST', '/tenants', ADMIN_KEY, { name: 'Outro' });
    const otherKey = await callApi<{ key: string }>(chat.url, 'POST', `/tenants/${other.body.id}/keys`, ADMIN_KEY, { name: 'x', permissions: ['dashboard:read'] });
    expect((await callApi(status.url, 'GET', `/messages/${messageId}`, otherKey.body.key)).status).toBe(404);

    // A forged webhook changes nothing, and a wrong key is refused.
    expect((await callApi(chat.url, 'POST', `/webhooks/whatsapp/${channel.body.id}`, undefined, inbound, signed(inbound + ' '))).status).toBe(401);
    expect((await callApi(status.url, 'GET', `/messages/${messageId}`, `${k.slice(0, -4)}XXXX`)).status).toBe(401);

    // No secret used in this flow appears in any log line of either service.
    const logs = chat.output() + status.output();
    expect(logs.length).toBeGreaterThan(1_000);
    for (const secret of [APP_SECRET, 'e2e-access-token-value', k, otherKey.body.key, ADMIN_KEY, Buffer.alloc(32, 3).toString('base64')]) {
      expect(logs).not.toContain(secret);
    }
  }, 120_000);
});
