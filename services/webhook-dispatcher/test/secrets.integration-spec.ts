import { randomUUID } from 'node:crypto';
import { createEvent, type ChatMessageSendRequested, type IntegrationDeliveryOutcome } from '@elo/contracts';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { closeAll, expectOneOutcome, FakeEndpoint, startApp, tenantApi, withDb, type RunningApp } from './app.fixture';

/** URL-special characters on purpose: the query carries it percent-encoded. */
const API_KEY = 'sk_live+AbC/dEf=gh42';
const PASSWORD = 'hunter2 & co/zz';
const leaksIn = (text: string): string[] =>
  [API_KEY, encodeURIComponent(API_KEY), Buffer.from(API_KEY).toString('base64'), PASSWORD, encodeURIComponent(PASSWORD),
    // the Basic credentials as sent (and echoed back by the endpoint): base64 of user:password
    Buffer.from(`elo:${PASSWORD}`).toString('base64')].filter((f) => text.includes(f));

describe('webhook-dispatcher keeps integration secrets to the wire (real PostgreSQL, RabbitMQ, an echoing endpoint)', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let probe: BusProbe;
  let echo: FakeEndpoint;

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_secrets');
    echo = await new FakeEndpoint().start();
    // Echoes what it got, as many test endpoints (httpbin and the like) do.
    echo.handler = (r) => ({
      status: 200,
      body: { echo: { url: r.url, apiKey: r.headers['x-api-key'], auth: r.headers['authorization'], body: JSON.parse(r.body || '{}') as unknown } },
      headers: { 'x-echo-key': String(r.headers['x-api-key']) },
    });
    svc = await startApp(infra);
    probe = await BusProbe.connect(infra.amqpUrl, ['integration.#', 'chat.message.send.requested']);
  });

  afterAll(() => closeAll(probe, svc, echo, infra));

  it('never shows a secret in attempt logs, API answers (list, get, preview, test, attempts), outcome events or replies', async () => {
    const { tenant: a, call } = await tenantApi(svc.url);
    const created = await call('POST', '/integrations', {
      name: 'Echo CRM',
      kind: 'http',
      request: {
        method: 'POST',
        url: `${echo.url}/crm/{secret.apiKey}`,
        headers: [{ name: 'X-Api-Key', value: '{secret.apiKey}' }],
        query: [{ key: 'token', value: '{secret.apiKey}' }],
        auth: { type: 'basic', username: 'elo', password: '{secret.password}' },
        body: { kind: 'keyvalue', pairs: [{ key: 'auth[key]', value: '{secret.apiKey}' }, { key: 'contact[name]', value: '{contact.name}' }] },
      },
      trigger: { eventTypes: ['chat.message.received'] },
      secrets: { apiKey: API_KEY, password: PASSWORD },
      // Replies go to the customer: even a template naming a secret gets nothing for it.
      reply: { success: 'Chave: {echo[apiKey]} / {echo[body][auth][key]}{secret.apiKey}' },
    });
    expect(created.status).toBe(201);
    expect(leaksIn(JSON.stringify(created.body))).toEqual([]);

    const conversationId = randomUUID();
    const ev = createEvent({
      type: 'chat.message.received',
      tenantId: a.tenantId,
      source: 'elo://chat-ingress',
      subject: conversationId,
      data: {
        channelId: randomUUID(), provider: 'whatsapp', conversationId, providerMessageId: `wamid.${randomUUID()}`,
        contact: { phone: '+5511999990000', name: 'Ana Souza' }, message: { kind: 'text', text: 'oi' }, providerTimestamp: new Date().toISOString(),
      },
    });
    await probe.publish(ev);
    await expectEventually(() => expect(probe.ofType<ChatMessageSendRequested>('chat.message.send.requested')).toHaveLength(1), { timeoutMs: 15_000 });

    // The endpoint got the real values (the secrets do reach the wire, and only the wire).
    expect(echo.received).toHaveLength(1);
    expect(echo.received[0].headers['x-api-key']).toBe(API_KEY);
    expect(echo.received[0].url).toContain(encodeURIComponent(API_KEY));
    expect(echo.received[0].headers['authorization']).toBe(`Basic ${Buffer.from(`elo:${PASSWORD}`).toString('base64')}`);

    const reply = probe.ofType<ChatMessageSendRequested>('chat.message.send.requested')[0];
    expect(reply.data.message).toEqual({ kind: 'text', text: 'Chave: •••• / ••••' });
    const outcome = probe.ofType<IntegrationDeliveryOutcome>('integration.delivery.succeeded')[0];
    expect(outcome.data.response).toMatchObject({ echo: { apiKey: '••••', body: { auth: { key: '••••' } } } });
    expect(leaksIn(JSON.stringify(probe.events))).toEqual([]);

    const id = created.body.id as string;
    const deliveries = await call('GET', `/integrations/${id}/deliveries`);
    const attempts = await call('GET', `/deliveries/${deliveries.body[0].id}/attempts`);
    expect(attempts.body[0].request.url).toContain('token=••••');
    expect(attempts.body[0].response.headers['x-echo-key']).toBe('••••');
    const preview = await call('POST', `/integrations/${id}/preview`, {});
    const test = await call('POST', `/integrations/${id}/test`, {});
    expect(test.status).toBe(200);
    expect(test.body.parsed ?? test.body.response).toBeDefined();
    expect(preview.body.builtJson).toEqual({ auth: { key: '••••' }, contact: { name: 'Ana Souza' } });
    const answers = { deliveries, attempts, preview, test, get: await call('GET', `/integrations/${id}`), list: await call('GET', '/integrations') };
    for (const [name, answer] of Object.entries(answers)) {
      expect({ name, status: answer.status < 300 }).toEqual({ name, status: true });
      expect({ name, leaks: leaksIn(JSON.stringify(answer.body)) }).toEqual({ name, leaks: [] });
    }

    // And nothing in the dispatcher's tables holds them in clear (attempt log, deliveries, integrations).
    await withDb(infra, async (db) => {
      for (const table of ['attempts', 'deliveries', 'integrations']) {
        const { rows } = await db.query(`SELECT * FROM dispatcher.${table}`);
        expect(rows.length).toBeGreaterThan(0);
        expect(leaksIn(JSON.stringify(rows))).toEqual([]);
      }
    });
  });

  it('seals literal credentials of the auth helpers: masked in every answer, kept by a PATCH that sends them back masked; older plain rows still work', async () => {
    const TOKEN = 'tok_literal_0123456789';
    const KEY = 'key_literal_ABCDEFGHIJ';
    const { tenant: a, call } = await tenantApi(svc.url);
    const literal = (text: string) => (text.includes(TOKEN) || text.includes(KEY) ? [text.includes(TOKEN) ? 'token' : 'key'] : []);
    const bearer = await call('POST', '/integrations', {
      name: 'Literal bearer', kind: 'http', request: { method: 'POST', url: `${echo.url}/bearer`, auth: { type: 'bearer', token: TOKEN } },
      trigger: { eventTypes: [] },
    });
    const apiKey = await call('POST', '/integrations', {
      name: 'Literal key', kind: 'http', request: { method: 'POST', url: `${echo.url}/key`, auth: { type: 'apiKey', header: 'X-Api-Key', value: KEY } },
      trigger: { eventTypes: [] },
    });
    expect([bearer.status, apiKey.status]).toEqual([201, 201]);
    expect(bearer.body.request.auth).toEqual({ type: 'bearer', token: '••••' });
    expect(apiKey.body.request.auth).toEqual({ type: 'apiKey', header: 'X-Api-Key', value: '••••' });

    // A PATCH sending the request back as read (credential masked) changes the URL and keeps the token.
    const read = (await call('GET', `/integrations/${bearer.body.id}`)).body;
    const patched = await call('PATCH', `/integrations/${bearer.body.id}`, { request: { ...read.request, url: `${echo.url}/bearer2` } });
    expect(patched.status).toBe(200);

    await withDb(infra, async (db) => {
      const { rows } = await db.query('SELECT * FROM dispatcher.integrations WHERE tenant_id = $1', [a.tenantId]);
      expect(literal(JSON.stringify(rows))).toEqual([]);

      // A row saved before literal credentials were sealed: plain in the request JSON.
      const legacy = await call('POST', '/integrations', {
        name: 'Legacy bearer', kind: 'http', request: { method: 'POST', url: `${echo.url}/legacy`, auth: { type: 'bearer', token: '{secret.t}' } },
        trigger: { eventTypes: [] }, secrets: { t: 'placeholder-secret' },
      });
      await db.query(`UPDATE dispatcher.integrations SET request = jsonb_set(request, '{auth,token}', to_jsonb($2::text)), auth_sealed = NULL WHERE id = $1`, [legacy.body.id, TOKEN]);

      const run = async (integration: string) => {
        const requestId = randomUUID();
        await probe.publish(createEvent({ type: 'integration.requested', tenantId: a.tenantId, source: 'elo://chat-ingress', data: { requestId, integration, context: {} } }));
        return expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.requestId === requestId, 15_000);
      };
      for (const name of ['Literal bearer', 'Literal key', 'Legacy bearer']) await run(name);
      const got = (path: string) => echo.received.find((r) => r.url === path)!;
      expect(got('/bearer2').headers['authorization']).toBe(`Bearer ${TOKEN}`);
      expect(got('/key').headers['x-api-key']).toBe(KEY);
      expect(got('/legacy').headers['authorization']).toBe(`Bearer ${TOKEN}`);

      // Nothing shows them: GET (the legacy row too), the attempt logs, the outcome events.
      for (const id of [bearer.body.id, apiKey.body.id, legacy.body.id]) {
        const one = await call('GET', `/integrations/${id}`);
        expect(one.body.request.auth).toMatchObject(id === apiKey.body.id ? { value: '••••' } : { token: '••••' });
        const deliveries = await call('GET', `/integrations/${id}/deliveries`);
        const attempts = await call('GET', `/deliveries/${deliveries.body[0].id}/attempts`);
        expect(literal(JSON.stringify([one.body, attempts.body]))).toEqual([]);
      }
      expect(literal(JSON.stringify(await call('GET', '/integrations')))).toEqual([]);
      expect(literal(JSON.stringify(probe.events))).toEqual([]);
      // A short literal key (under the 8 characters the echo masking looks for) is masked in the request shown all the same.
      const short = await call('POST', '/integrations', {
        name: 'Short key', kind: 'http', request: { method: 'POST', url: `${echo.url}/short`, auth: { type: 'apiKey', header: 'X-Api-Key', value: 'k-7777' } },
        trigger: { eventTypes: [] },
      });
      const tested = await call('POST', `/integrations/${short.body.id}/test`, {});
      expect(tested.body.ok).toBe(true);
      expect(tested.body.request.headers['X-Api-Key']).toBe('••••');
      const previewed = await call('POST', `/integrations/${short.body.id}/preview`, {});
      expect(previewed.body.request.headers['X-Api-Key']).toBe('••••');
      // The legacy row is sealed on its next change.
      expect((await call('PATCH', `/integrations/${legacy.body.id}`, { description: 'touched' })).status).toBe(200);
      const { rows: after } = await db.query('SELECT request, auth_sealed FROM dispatcher.integrations WHERE id = $1', [legacy.body.id]);
      expect(after[0].request.auth.token).toBe('••••');
      expect(after[0].auth_sealed).toBeTruthy();
      expect(literal(JSON.stringify(after))).toEqual([]);
    });
  });
});
