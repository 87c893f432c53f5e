import { createHmac, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { createEvent, type ChatMessageSendRequested, type CloudEvent, type IntegrationDeliveryOutcome, type IntegrationDisabled } from '@elo/contracts';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, expectEventually, expectRetained, outboxEmpty, type TestInfra } from '@elo/testing';
import { RetentionSweeper } from '@elo/platform';
import { DataSource } from 'typeorm';
import { Webhook } from 'standardwebhooks';
import { SecretBox } from '@elo/auth';
import { createLogger } from '@elo/observability';
import type { Logger } from 'pino';
import { DeliveryWorker } from '../src/deliveries/delivery-worker.service';
import { closeAll, closeServer, expectOneOutcome, FakeEndpoint, listen, messageReceived, startApp, tenantApi, withDb, type Api, type Body, type RunningApp, type Tenant } from './app.fixture';

describe('webhook-dispatcher deliveries (real PostgreSQL, RabbitMQ, local HTTP endpoints)', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let probe: BusProbe;
  let crm: FakeEndpoint;
  let a: Tenant;
  let call: Api;

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_deliveries');
    crm = await new FakeEndpoint().start();
    svc = await startApp(infra);
    probe = await BusProbe.connect(infra.amqpUrl, ['chat.message.send.requested', 'integration.#']);
    ({ tenant: a, call } = await tenantApi(svc.url));
  });

  afterAll(() => closeAll(probe, svc, crm, infra));

  it('a customer message POSTs a bracket-key body to the CRM, signed; the CRM URL comes back as a reply', async () => {
    crm.handler = (r) => (r.url.startsWith('/boleto') ? { status: 200, body: { data: { url: 'https://pay.example/b/42' } } } : { status: 404 });
    const created = await call('POST', '/integrations', {
      name: 'Boleto',
      kind: 'http',
      request: {
        method: 'POST',
        url: `${crm.url}/boleto/{contact.attributes.cpf}`,
        headers: 'X-Api-Key: {secret.apiKey}',
        query: [{ key: 'src', value: 'elo' }],
        body: { kind: 'keyvalue', pairs: [
          { key: 'customer[name]', value: '{contact.name}' },
          { key: 'customer[docs][0][cpf]', value: '{attributes.cpf}' },
          { key: 'customer[email]', value: '{contact.attributes.email}' },
        ] },
      },
      trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'contains', value: 'boleto' }] },
      secrets: { apiKey: 'sk_live_0123456789abcdef' },
      reply: { success: 'Segue seu boleto: {data[url]}' },
    });
    expect(created.status).toBe(201);
    const signingSecret = created.body.signingSecret as string;

    const ignored = messageReceived(a.tenantId, 'hello');
    const ev = messageReceived(a.tenantId, 'quero meu boleto');
    await probe.publish(ignored, ev);

    await expectEventually(() => expect(probe.ofType<ChatMessageSendRequested>('chat.message.send.requested')).toHaveLength(1), { timeoutMs: 15_000 });
    const reply = probe.ofType<ChatMessageSendRequested>('chat.message.send.requested')[0];
    expect(reply.data).toMatchObject({ conversationId: (ev.data as Body).conversationId, message: { kind: 'text', text: 'Segue seu boleto: https://pay.example/b/42' } });
    expect(reply.data.origin).toBe(`integration:${created.body.id}`);

    expect(crm.received).toHaveLength(1);
    const req = crm.received[0];
    expect(req.url).toBe('/boleto/12345678909?src=elo');
    expect(req.headers['x-api-key']).toBe('sk_live_0123456789abcdef');
    expect(JSON.parse(req.body)).toEqual({ customer: { name: 'Ana Souza', docs: [{ cpf: '12345678909' }], email: 'ana@example.com' } });
    // A receiver verifies the signature with the standardwebhooks package.
    const verified = new Webhook(signingSecret).verify(req.body, {
      'webhook-id': String(req.headers['webhook-id']),
      'webhook-timestamp': String(req.headers['webhook-timestamp']),
      'webhook-signature': String(req.headers['webhook-signature']),
    });
    expect(verified).toEqual(JSON.parse(req.body));

    const ok = probe.ofType<IntegrationDeliveryOutcome>('integration.delivery.succeeded');
    expect(ok).toHaveLength(1);
    expect(ok[0].data).toMatchObject({
      integrationId: created.body.id, eventId: ev.id, eventType: 'chat.message.received', outcome: 'succeeded',
      httpStatus: 200, attempts: 1, response: { data: { url: 'https://pay.example/b/42' } }, reply: 'Segue seu boleto: https://pay.example/b/42',
    });
    expect(req.headers['webhook-id']).toBe(ok[0].data.deliveryId);

    // The attempt log keeps the request with secrets masked.
    const deliveries = await call('GET', `/integrations/${created.body.id}/deliveries?outcome=succeeded`);
    expect(deliveries.body).toHaveLength(1);
    const attempts = await call('GET', `/deliveries/${deliveries.body[0].id}/attempts`);
    expect(attempts.body).toHaveLength(1);
    expect(attempts.body[0]).toMatchObject({ attempt: 1, httpStatus: 200, errorClass: null, response: { status: 200 } });
    expect(attempts.body[0].request.headers['X-Api-Key']).toBe('••••');
    expect(JSON.stringify(attempts.body)).not.toContain('sk_live');

    // Preview renders without sending, showing the JSON built from the bracket keys; test sends now.
    const preview = await call('POST', `/integrations/${created.body.id}/preview`, {});
    expect(preview.status).toBe(200);
    expect(preview.body.builtJson).toEqual(JSON.parse(req.body));
    expect(preview.body.request.headers['X-Api-Key']).toBe('••••');
    expect(crm.received).toHaveLength(1);
    const test = await call('POST', `/integrations/${created.body.id}/test`, {
      type: 'chat.message.received', data: { contact: { name: 'Bia', attributes: { cpf: '1', email: 'b@x.io' } } },
    });
    expect(test.status).toBe(200);
    expect(test.body).toMatchObject({ ok: true, httpStatus: 200, request: { method: 'POST', headers: { 'X-Api-Key': '••••' } }, response: { status: 200 } });
    // The request as sent (the sample's values in URL and body) and the response's headers and body as the CRM answered them.
    expect(test.body.request.url).toBe(`${crm.url}/boleto/1?src=elo`);
    expect(JSON.parse(test.body.request.body as string)).toEqual({ customer: { name: 'Bia', docs: [{ cpf: '1' }], email: 'b@x.io' } });
    expect(test.body.response.headers['content-type']).toBe('application/json');
    expect(JSON.parse(test.body.response.body as string)).toEqual({ data: { url: 'https://pay.example/b/42' } });
    expect(typeof test.body.durationMs).toBe('number');
    expect(JSON.stringify(test.body)).not.toContain('sk_live');
    expect(crm.received).toHaveLength(2);
    expect(JSON.parse(crm.received[1].body)).toEqual({ customer: { name: 'Bia', docs: [{ cpf: '1' }], email: 'b@x.io' } });
    // A test send is no delivery: nothing is listed or logged for it.
    const after = await call('GET', `/integrations/${created.body.id}/deliveries`);
    expect(after.body.map((d: Body) => d.id)).toEqual([deliveries.body[0].id]);
    expect((await call('GET', `/deliveries/${deliveries.body[0].id}/attempts`)).body).toHaveLength(1);
  });

  it('a failing endpoint is retried on schedule with a stable webhook-id, ends failed, and a manual resend succeeds', async () => {
    let healthy = false;
    const erp = await new FakeEndpoint().start();
    erp.handler = () => (healthy ? { status: 204 } : { status: 500, body: { error: 'down' } });
    try {
      const created = await call('POST', '/integrations', {
        name: 'Call status',
        kind: 'http',
        request: { method: 'PUT', url: `${erp.url}/calls/{event.id}`, body: { kind: 'raw', contentType: 'application/json', template: '{"status": {status}}' } },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'ERP' }] },
        delivery: { retryScheduleSeconds: [1, 1] },
        reply: { failure: 'Sistema indisponível' },
      });
      expect(created.status).toBe(201);
      // Updating the request takes effect for the next deliveries.
      const patched = await call('PATCH', `/integrations/${created.body.id}`, {
        request: { method: 'PUT', url: `${erp.url}/calls/{conversationId}`, body: { kind: 'raw', contentType: 'application/json', template: '{"text": {message.text}}' } },
      });
      expect(patched.status).toBe(200);
      const ev = messageReceived(a.tenantId, 'ERP');
      await probe.publish(ev);
      const failed = await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.eventId === ev.id, 20_000);
      expect(failed.data).toMatchObject({ outcome: 'failed', attempts: 3, httpStatus: 500, errorClass: 'http_status', reply: 'Sistema indisponível' });
      expect(erp.received).toHaveLength(3);
      expect(new Set(erp.received.map((r) => r.headers['webhook-id']))).toEqual(new Set([failed.data.deliveryId]));
      expect(JSON.parse(erp.received[0].body)).toEqual({ text: 'ERP' });
      // The reply is published after the outcome, as a message of its own: once the bus is settled, every one is here.
      await probe.settled(outboxEmpty(svc.app.get(DataSource), 'dispatcher'));
      const replies = probe.ofType<ChatMessageSendRequested>('chat.message.send.requested').filter((e) => e.data.conversationId === (ev.data as Body).conversationId);
      expect(replies.map((r) => r.data.message.text)).toEqual(['Sistema indisponível']);

      const list = await call('GET', `/integrations/${created.body.id}/deliveries?outcome=failed&from=2020-01-01T00:00:00Z`);
      expect(list.body).toHaveLength(1);
      expect(list.body[0]).toMatchObject({ id: failed.data.deliveryId, outcome: 'failed', attempts: 3, lastErrorClass: 'http_status' });
      const attempts = await call('GET', `/deliveries/${failed.data.deliveryId}/attempts`);
      expect(attempts.body.map((x: Body) => x.httpStatus)).toEqual([500, 500, 500]);
      expect(attempts.body[0].response.body).toContain('down');

      healthy = true;
      const resend = await call('POST', `/deliveries/${failed.data.deliveryId}/resend`);
      expect(resend.status).toBe(202);
      await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.deliveryId === failed.data.deliveryId, 10_000);
      expect(erp.received).toHaveLength(4);
      expect(erp.received[3].headers['webhook-id']).toBe(failed.data.deliveryId);
      expect((await call('GET', `/integrations/${created.body.id}/deliveries?outcome=succeeded`)).body).toHaveLength(1);
    } finally {
      await erp.close();
    }
  });

  it('410 Gone disables the integration; integration.requested runs a named integration and answers with its outcome', async () => {
    const gone = await new FakeEndpoint().start();
    gone.handler = (r) => (r.url === '/gone' ? { status: 410 } : { status: 200, body: { status: 'viavel' } });
    try {
      const g = await call('POST', '/integrations', {
        name: 'Gone', kind: 'http', request: { method: 'POST', url: `${gone.url}/gone` },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'GONE' }] },
      });
      await probe.publish(messageReceived(a.tenantId, 'GONE'));
      await expectEventually(async () => expect((await call('GET', `/integrations/${g.body.id}`)).body).toMatchObject({ enabled: false, disabledReason: expect.stringContaining('410') }), { timeoutMs: 15_000 });
      await expectEventually(() => expect(probe.ofType<IntegrationDisabled>('integration.disabled').filter((e) => e.data.integrationId === g.body.id)).toHaveLength(1), { timeoutMs: 10_000 });
      expect(probe.ofType<IntegrationDisabled>('integration.disabled').find((e) => e.data.integrationId === g.body.id)!.data)
        .toMatchObject({ cause: 'gone', reason: 'the endpoint answered 410 Gone', integrationName: expect.any(String) });

      // Asked for by a bot flow (its name in any case), the disabled integration is not run: it fails at once, saying why.
      const sentBefore = gone.received.length;
      const disabledRequest = randomUUID();
      await probe.publish(createEvent({
        type: 'integration.requested', tenantId: a.tenantId, source: 'elo://chat-ingress', data: { requestId: disabledRequest, integration: 'GONE', context: {} },
      }));
      const refused = await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.requestId === disabledRequest, 15_000);
      expect(refused.data).toMatchObject({ integrationId: g.body.id, errorClass: 'invalid', error: 'integration disabled: the endpoint answered 410 Gone' });
      expect(gone.received).toHaveLength(sentBefore);
      // An admin's Test still sends it (trying it before enabling it again is the point) and changes nothing: no delivery, no attempt.
      const listedBefore = (await call('GET', `/integrations/${g.body.id}/deliveries`)).body as Body[];
      const tested = await call('POST', `/integrations/${g.body.id}/test`, { data: {} });
      expect(tested.body).toMatchObject({ ok: false, httpStatus: 410 });
      expect(gone.received).toHaveLength(sentBefore + 1);
      expect((await call('GET', `/integrations/${g.body.id}`)).body).toMatchObject({ enabled: false, disabledReason: 'the endpoint answered 410 Gone' });
      expect((await call('GET', `/integrations/${g.body.id}/deliveries`)).body).toEqual(listedBefore);

      const named = await call('POST', '/integrations', {
        name: 'Viabilidade', kind: 'http',
        request: { method: 'GET', url: `${gone.url}/check?cep={cep}`, auth: { type: 'basic', username: 'elo', password: '{secret.pw}' } },
        trigger: { eventTypes: [] }, secrets: { pw: 'hunter2-very-secret' }, reply: { success: 'Status: {status}' },
      });
      const requestId = randomUUID();
      const conversationId = randomUUID();
      await probe.publish(createEvent({
        type: 'integration.requested', tenantId: a.tenantId, source: 'elo://chat-ingress',
        data: { requestId, integration: 'viabilidade', conversationId, context: { cep: '01001000' } },
      }));
      const out = await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.requestId === requestId, 15_000);
      expect(out.data).toMatchObject({ integrationId: named.body.id, conversationId, response: { status: 'viavel' }, reply: 'Status: viavel' });
      const req = gone.received.find((r) => r.url.startsWith('/check'))!;
      expect(req.url).toBe('/check?cep=01001000');
      expect(req.headers.authorization).toBe(`Basic ${Buffer.from('elo:hunter2-very-secret').toString('base64')}`);
      const attempts = await call('GET', `/deliveries/${out.data.deliveryId}/attempts`);
      expect(attempts.body[0].request.headers.Authorization).toBe('Basic ••••');
    } finally {
      await gone.close();
    }
  });
  it('a run a bot flow requested answers with its outcome (reply text included) and sends the customer nothing itself', async () => {
    const crmApi = await new FakeEndpoint().start();
    crmApi.handler = (r) => (r.url === '/protocolo' ? { status: 200, body: { protocolo: 'P-1' } } : { status: 500 });
    try {
      const reply = { success: 'Protocolo {protocolo}', failure: 'Sistema indisponível, tente mais tarde.' };
      await call('POST', '/integrations', {
        name: 'Protocolo', kind: 'http', request: { method: 'POST', url: `${crmApi.url}/protocolo` }, trigger: { eventTypes: [] }, reply,
      });
      await call('POST', '/integrations', {
        name: 'Fora do ar', kind: 'http', request: { method: 'POST', url: `${crmApi.url}/down` },
        trigger: { eventTypes: [] }, delivery: { retryScheduleSeconds: [] }, reply,
      });
      const conversationId = randomUUID();
      const requested = (integration: string) => createEvent({
        type: 'integration.requested', tenantId: a.tenantId, source: 'elo://chat-ingress', subject: conversationId,
        data: { requestId: randomUUID(), integration, conversationId, channelId: randomUUID(), context: {} },
      });
      const ok = requested('Protocolo');
      const down = requested('Fora do ar');
      await probe.publish(ok, down);
      const outcomeOf = (e: typeof ok) => probe.events.find((o) => o.type.startsWith('integration.delivery.')
        && (o.data as IntegrationDeliveryOutcome).requestId === (e.data as Body).requestId);
      await expectEventually(() => {
        expect(outcomeOf(ok)).toBeDefined();
        expect(outcomeOf(down)).toBeDefined();
      }, { timeoutMs: 15_000 });
      // The flow builds the customer's text from the outcome: the mapped reply travels in it.
      expect(outcomeOf(ok)).toMatchObject({ type: 'integration.delivery.succeeded', data: { conversationId, reply: 'Protocolo P-1' } });
      expect(outcomeOf(down)).toMatchObject({ type: 'integration.delivery.failed', data: { conversationId, reply: reply.failure } });

      // An integration triggered by an event of that conversation replies itself. Written after the requested runs'
      // outcomes, its reply comes after anything they would have sent: it is the only message in the conversation.
      await call('POST', '/integrations', {
        name: 'Recebido', kind: 'http', request: { method: 'POST', url: `${crmApi.url}/protocolo` },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'PROTOCOLO' }] },
        reply: { success: 'Recebido' },
      });
      await probe.publish(messageReceived(a.tenantId, 'PROTOCOLO', conversationId));
      const sent = () => probe.ofType<ChatMessageSendRequested>('chat.message.send.requested')
        .filter((e) => e.data.conversationId === conversationId).map((e) => e.data.message.text);
      await expectEventually(() => expect(sent()).toContain('Recebido'), { timeoutMs: 15_000 });
      expect(sent()).toEqual(['Recebido']);
    } finally {
      await crmApi.close();
    }
  });

  it('after a signing-secret rotation both secrets sign for 24 h; each verifies with standardwebhooks', async () => {
    const sink = await new FakeEndpoint().start();
    try {
      const created = await call('POST', '/integrations', {
        name: 'Rotated', kind: 'http', request: { method: 'POST', url: `${sink.url}/hook`, body: { kind: 'keyvalue', pairs: [{ key: 'text', value: '{message.text}' }] } },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'ROTATE' }] },
      });
      const oldSecret = created.body.signingSecret as string;
      const rotated = await call('POST', `/integrations/${created.body.id}/rotate-signing-secret`);
      expect(rotated.status).toBe(200);
      expect(rotated.body.signingSecret).not.toBe(oldSecret);
      expect(Date.parse(rotated.body.previousExpiresAt) - Date.now()).toBeGreaterThan(23 * 3600 * 1000);
      await probe.publish(messageReceived(a.tenantId, 'ROTATE'));
      await expectEventually(() => expect(sink.received).toHaveLength(1), { timeoutMs: 15_000 });
      const r = sink.received[0];
      const headers = { 'webhook-id': String(r.headers['webhook-id']), 'webhook-timestamp': String(r.headers['webhook-timestamp']), 'webhook-signature': String(r.headers['webhook-signature']) };
      expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
      expect(new Webhook(rotated.body.signingSecret as string).verify(r.body, headers)).toEqual({ text: 'ROTATE' });
      expect(new Webhook(oldSecret).verify(r.body, headers)).toEqual({ text: 'ROTATE' });
    } finally {
      await sink.close();
    }
  });

  it('rotating twice within 24 h keeps every secret younger than 24 h signing; a row rotated before (one previous secret) still signs with it', async () => {
    const sink = await new FakeEndpoint().start();
    try {
      const created = await call('POST', '/integrations', {
        name: 'Rotated twice', kind: 'http', request: { method: 'POST', url: `${sink.url}/hook`, body: { kind: 'keyvalue', pairs: [{ key: 'text', value: '{message.text}' }] } },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'ROTATE2' }] },
      });
      const id = created.body.id as string;
      const first = created.body.signingSecret as string;
      const second = (await call('POST', `/integrations/${id}/rotate-signing-secret`)).body.signingSecret as string;
      const third = (await call('POST', `/integrations/${id}/rotate-signing-secret`)).body.signingSecret as string;
      const verifyAll = async (n: number, secrets: string[]) => {
        await probe.publish(messageReceived(a.tenantId, 'ROTATE2'));
        await expectEventually(() => expect(sink.received).toHaveLength(n), { timeoutMs: 15_000 });
        const r = sink.received[n - 1];
        const headers = { 'webhook-id': String(r.headers['webhook-id']), 'webhook-timestamp': String(r.headers['webhook-timestamp']), 'webhook-signature': String(r.headers['webhook-signature']) };
        expect(headers['webhook-signature'].split(' ')).toHaveLength(secrets.length);
        for (const secret of secrets) expect(new Webhook(secret).verify(r.body, headers)).toEqual({ text: 'ROTATE2' });
      };
      await verifyAll(1, [third, second, first]);
      expect(JSON.stringify((await call('GET', `/integrations/${id}`)).body)).not.toMatch(/whsec_/);

      // A row as rotations before this change left it: one previous secret, sealed alone, with its expiry beside it.
      const box = svc.app.get(SecretBox);
      await withDb(infra, (db) =>
        db.query(`UPDATE dispatcher.integrations SET previous_signing_secret_sealed = $2, previous_signing_expires_at = now() + interval '1 hour' WHERE id = $1`, [
          id, box.encrypt(second, `${id}:signing`),
        ]));
      await verifyAll(2, [third, second]);

      // 24 h after its rotation a previous secret stops signing, in either form of the row.
      await withDb(infra, (db) => db.query(`UPDATE dispatcher.integrations SET previous_signing_expires_at = now() - interval '1 minute' WHERE id = $1`, [id]));
      await verifyAll(3, [third]);
      const previous = [{ secret: second, expiresAt: Date.now() - 60_000 }, { secret: first, expiresAt: Date.now() + 3_600_000 }];
      await withDb(infra, (db) =>
        db.query(`UPDATE dispatcher.integrations SET previous_signing_secret_sealed = $2, previous_signing_expires_at = now() + interval '1 hour' WHERE id = $1`, [
          id, box.encrypt(JSON.stringify(previous), `${id}:signing`),
        ]));
      await verifyAll(4, [third, first]);
    } finally {
      await sink.close();
    }
  });

  it('410 answers to several deliveries in flight at once disable the integration once: one integration.disabled event, one audit entry', async () => {
    // Every request is held until four are in flight, then all four are answered 410 together.
    const held: Array<() => void> = [];
    const server = createServer((req, res) => {
      req.resume();
      held.push(() => {
        res.writeHead(410);
        res.end();
      });
      if (held.length === 4) held.forEach((answer) => answer());
    });
    const port = await listen(server);
    try {
      const gone = await call('POST', '/integrations', {
        name: 'Gone together', kind: 'http', request: { method: 'POST', url: `http://127.0.0.1:${port}/gone` },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'GONE4' }] },
      });
      const events = Array.from({ length: 4 }, () => messageReceived(a.tenantId, 'GONE4'));
      await probe.publish(...events);
      const ids = new Set(events.map((e) => e.id));
      await expectEventually(() => expect(probe.ofType<IntegrationDeliveryOutcome>('integration.delivery.failed').filter((e) => ids.has(e.data.eventId))).toHaveLength(4), { timeoutMs: 15_000 });
      expect(probe.ofType<IntegrationDisabled>('integration.disabled').filter((e) => e.data.integrationId === gone.body.id)).toHaveLength(1);
      const audited = await withDb(infra, (db) => db.query(`SELECT 1 FROM auth.audit_log WHERE target_id = $1 AND action = 'integration.auto_disabled'`, [gone.body.id]));
      expect(audited.rowCount).toBe(1);
    } finally {
      await closeServer(server);
    }
  });

  it('an integration failing past its configured period is disabled with the reason; an unknown named integration fails at once', async () => {
    const down = await new FakeEndpoint().start();
    down.handler = () => ({ status: 503 });
    try {
      const created = await call('POST', '/integrations', {
        name: 'Flaky', kind: 'http', request: { method: 'POST', url: `${down.url}/x` },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'FLAKY' }] },
        delivery: { retryScheduleSeconds: [1, 1, 1, 1], disableAfterFailingSeconds: 1 },
      });
      const ev = messageReceived(a.tenantId, 'FLAKY');
      await probe.publish(ev);
      await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.eventId === ev.id, 15_000);
      const view = (await call('GET', `/integrations/${created.body.id}`)).body;
      expect(view).toMatchObject({ enabled: false, disabledReason: expect.stringContaining('no success') });
      // Raised once as an event (several failing deliveries may race to disable it), with the reason admins see.
      await expectEventually(() => expect(probe.ofType<IntegrationDisabled>('integration.disabled').filter((e) => e.data.integrationId === created.body.id)).toHaveLength(1), { timeoutMs: 10_000 });
      expect(probe.ofType<IntegrationDisabled>('integration.disabled').find((e) => e.data.integrationId === created.body.id)!.data)
        .toMatchObject({ cause: 'failing', reason: view.disabledReason, failingSince: expect.any(String) });
      expect(down.received.length).toBeLessThan(5);

      const requestId = randomUUID();
      await probe.publish(createEvent({
        type: 'integration.requested', tenantId: a.tenantId, source: 'elo://chat-ingress',
        data: { requestId, integration: 'does-not-exist', context: {} },
      }));
      const out = await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.requestId === requestId, 10_000);
      expect(out.data).toMatchObject({ errorClass: 'not_found', outcome: 'failed', attempts: 0 });
    } finally {
      await down.close();
    }
  });
  it("an unknown integration's failed outcome carries its request's correlation id, also when two requests arrive in one broker message", async () => {
    const requested = (requestId: string, correlationId: string) =>
      createEvent({
        type: 'integration.requested', tenantId: a.tenantId, source: 'elo://chat-ingress', correlationId,
        data: { requestId, integration: 'nowhere-to-be-found', context: {} },
      });
    const [r1, r2] = [randomUUID(), randomUUID()];
    await probe.publishBatched(requested(r1, `corr-${r1}`), requested(r2, `corr-${r2}`));
    const [o1, o2] = await Promise.all([
      expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.requestId === r1, 15_000),
      expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.requestId === r2, 15_000),
    ]);
    expect([o1.correlationid, o2.correlationid]).toEqual([`corr-${r1}`, `corr-${r2}`]);
  });

  it("a delivery runs in the correlation id of the event that caused it: its outcome and reply carry it, each event's its own, a resend too", async () => {
    const crmApi = await new FakeEndpoint().start();
    crmApi.handler = () => ({ status: 200, body: { protocolo: 'P-7' } });
    try {
      const created = await call('POST', '/integrations', {
        name: 'Correlated', kind: 'http', request: { method: 'POST', url: `${crmApi.url}/c` },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'CORRELATED' }] },
        reply: { success: 'Protocolo {protocolo}' },
      });
      expect(created.status).toBe(201);
      // Two requests' events in one broker message: the consumer's call runs in neither's id, each delivery in its own.
      const events = [randomUUID(), randomUUID()].map((c) => ({ ...messageReceived(a.tenantId, 'CORRELATED'), correlationid: `corr-${c}` }));
      // An event without one: its delivery gets one of its own, shared by its outcome and its reply.
      const bare = messageReceived(a.tenantId, 'CORRELATED');
      await probe.publishBatched(...events);
      await probe.publish(bare);
      const replyTo = (e: CloudEvent) => probe.ofType<ChatMessageSendRequested>('chat.message.send.requested')
        .filter((r) => r.data.conversationId === (e.data as Body).conversationId);
      for (const e of [...events, bare]) {
        const ok = await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.eventId === e.id, 15_000);
        await expectEventually(() => expect(replyTo(e)).toHaveLength(1), { timeoutMs: 10_000 });
        expect(replyTo(e)[0].data.message).toMatchObject({ text: 'Protocolo P-7' });
        const expected = e === bare ? expect.any(String) : e.correlationid;
        expect({ outcome: ok.correlationid, reply: replyTo(e)[0].correlationid }).toEqual({ outcome: expected, reply: ok.correlationid });
        const kept = await withDb(infra, (db) => db.query(`SELECT correlation_id FROM dispatcher.deliveries WHERE id = $1`, [ok.data.deliveryId]));
        expect(kept.rows[0].correlation_id).toEqual(ok.correlationid);
      }

      // A resend, asked for in a request of its own correlation id, runs in the delivery's: it answers the same event.
      const [first] = events;
      const { deliveryId } = (await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.eventId === first.id, 1_000)).data;
      const adminId = `admin-${randomUUID()}`;
      const resent = await fetch(`${svc.url}/deliveries/${deliveryId}/resend`, {
        method: 'POST', headers: { authorization: `Bearer ${a.key}`, 'x-correlation-id': adminId },
      });
      expect(resent.status).toBe(202);
      expect(resent.headers.get('x-correlation-id')).toBe(adminId);
      const outcomes = () => probe.ofType<IntegrationDeliveryOutcome>('integration.delivery.succeeded').filter((o) => o.data.deliveryId === deliveryId);
      await expectEventually(() => expect(outcomes()).toHaveLength(2), { timeoutMs: 15_000 });
      await expectEventually(() => expect(replyTo(first)).toHaveLength(2), { timeoutMs: 10_000 });
      expect([...outcomes(), ...replyTo(first)].map((e) => e.correlationid)).toEqual(Array(4).fill(first.correlationid));
    } finally {
      await crmApi.close();
    }
  });

  it("integration.disabled carries the correlation id of the delivery that disabled it, and so does the worker's log line", async () => {
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(410);
      res.end();
    });
    const port = await listen(server);
    // The worker's log lines, read from a logger of ours put in its place (at warn, as the service runs in these tests).
    const worker = svc.app.get(DeliveryWorker) as unknown as { logger: Logger };
    const original = worker.logger;
    const lines: Array<Record<string, unknown>> = [];
    worker.logger = createLogger('webhook-dispatcher', { level: 'warn', destination: { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) } });
    try {
      const gone = await call('POST', '/integrations', {
        name: 'Gone correlated', kind: 'http', request: { method: 'POST', url: `http://127.0.0.1:${port}/gone` },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'GONE-CORRELATED' }] },
      });
      expect(gone.status).toBe(201);
      const ev = { ...messageReceived(a.tenantId, 'GONE-CORRELATED'), correlationid: `corr-${randomUUID()}` };
      await probe.publish(ev);
      const disabled = () => probe.ofType<IntegrationDisabled>('integration.disabled').filter((e) => e.data.integrationId === gone.body.id);
      await expectEventually(() => expect(disabled()).toHaveLength(1), { timeoutMs: 15_000 });
      // Logged in the transaction that raised the event, so written by the time the event is seen.
      const logged = lines.filter((l) => l['msg'] === 'integration disabled automatically' && l['integrationId'] === gone.body.id);
      expect(logged).toEqual([expect.objectContaining({ correlationId: ev.correlationid })]);
      expect(disabled()[0].correlationid).toBe(ev.correlationid);
      const failed = await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.eventId === ev.id, 10_000);
      expect(failed.correlationid).toBe(ev.correlationid);
    } finally {
      worker.logger = original;
      await closeServer(server);
    }
  });

  it('a success ends the failing period: an integration that failed and then succeeded is no longer failing (GET shows it)', async () => {
    const flaky = await new FakeEndpoint().start();
    flaky.handler = (r) => ({ status: r.body.includes('DOWN') ? 503 : 200 });
    try {
      const created = await call('POST', '/integrations', {
        name: 'Failing then fine', kind: 'http',
        request: { method: 'POST', url: `${flaky.url}/x`, body: { kind: 'keyvalue', pairs: [{ key: 't', value: '{message.text}' }] } },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'contains', value: 'FAILING-PERIOD' }] },
        delivery: { retryScheduleSeconds: [], disableAfterFailingSeconds: 3600 },
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ failingSince: null });
      const down = messageReceived(a.tenantId, 'FAILING-PERIOD DOWN');
      await probe.publish(down);
      await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.eventId === down.id, 15_000);
      const failing = (await call('GET', `/integrations/${created.body.id}`)).body;
      expect(failing).toMatchObject({ enabled: true, failingSince: expect.any(String) });

      const up = messageReceived(a.tenantId, 'FAILING-PERIOD UP');
      await probe.publish(up);
      await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.eventId === up.id, 15_000);
      await expectEventually(async () => expect((await call('GET', `/integrations/${created.body.id}`)).body).toMatchObject({ enabled: true, failingSince: null }), { timeoutMs: 10_000 });
    } finally {
      await flaky.close();
    }
  });

  it('keeps at most the per-integration limit (4 here) in flight against one slow endpoint, and delivers everything', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let served = 0;
    const server = createServer((req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      req.resume();
      setTimeout(() => {
        inFlight--;
        served++;
        res.writeHead(200);
        res.end();
      }, 150);
    });
    const port = await listen(server);
    try {
      await call('POST', '/integrations', {
        name: 'Slow', kind: 'http', request: { method: 'POST', url: `http://127.0.0.1:${port}/slow` },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'SLOW' }] },
      });
      await probe.publish(...Array.from({ length: 12 }, () => messageReceived(a.tenantId, 'SLOW')));
      await expectEventually(() => expect(served).toBe(12), { timeoutMs: 20_000 });
      expect(maxInFlight).toBeGreaterThan(1);
      expect(maxInFlight).toBeLessThanOrEqual(4);
    } finally {
      await closeServer(server);
    }
  });
  it("keeps an integration's own maxConcurrency against a slow sink while another integration's deliveries go through", async () => {
    let slowInFlight = 0;
    let slowMax = 0;
    let slowServed = 0;
    let fastServed = 0;
    // The slow sink holds its requests until the fast integration has been served: that can only
    // happen if the slow integration's backlog (older, and stuck at its limit) does not hold it back.
    const held: Array<() => void> = [];
    let gateOpen = false;
    const open = () => {
      gateOpen = true;
      for (const answer of held.splice(0)) setTimeout(answer, 100);
    };
    const server = createServer((req, res) => {
      req.resume();
      if (req.url === '/fast') {
        fastServed++;
        res.writeHead(200);
        res.end();
        return;
      }
      slowInFlight++;
      slowMax = Math.max(slowMax, slowInFlight);
      const answer = () => {
        slowInFlight--;
        slowServed++;
        res.writeHead(200);
        res.end();
      };
      if (gateOpen) setTimeout(answer, 100);
      else held.push(answer);
    });
    const base = `http://127.0.0.1:${await listen(server)}`;
    try {
      const slow = await call('POST', '/integrations', {
        name: 'Slow own limit', kind: 'http', request: { method: 'POST', url: `${base}/slow` },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'SLOW2' }] },
        // Its requests are held until the other integration has been served: a slow step must not turn them into timeouts.
        delivery: { maxConcurrency: 2, timeoutMs: 60_000 },
      });
      expect(slow.status).toBe(201);
      expect(slow.body.delivery).toMatchObject({ maxConcurrency: 2 });
      await call('POST', '/integrations', {
        name: 'Fast beside slow', kind: 'http', request: { method: 'POST', url: `${base}/fast` },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'FAST2' }] },
      });
      // The slow integration's backlog is published first: it is older than every fast delivery.
      await probe.publish(...Array.from({ length: 16 }, () => messageReceived(a.tenantId, 'SLOW2')));
      await expectEventually(() => expect(slowInFlight).toBe(2), { timeoutMs: 10_000 });
      await probe.publish(...Array.from({ length: 4 }, () => messageReceived(a.tenantId, 'FAST2')));
      await expectEventually(() => expect(fastServed).toBe(4), { timeoutMs: 15_000 });
      // The other integration went through while the slow one sat at its limit with nothing answered.
      expect(slowServed).toBe(0);
      expect(slowInFlight).toBe(2);
      open();
      await expectEventually(() => expect(slowServed).toBe(16), { timeoutMs: 30_000 });
      // 16 requests, never more than 2 at once at the sink.
      expect(slowMax).toBe(2);

      // Invalid limits are refused when saved.
      const bad = await call('PATCH', `/integrations/${slow.body.id}`, { delivery: { maxConcurrency: 0 } });
      expect(bad.status).toBe(400);
    } finally {
      open();
      await closeServer(server);
    }
  });

  it('spreads deliveries to one integration over time when it has a rate limit', async () => {
    const limited = await new FakeEndpoint().start();
    const at: number[] = [];
    limited.handler = () => {
      at.push(Date.now());
      return { status: 200 };
    };
    try {
      await call('POST', '/integrations', {
        name: 'Rate limited', kind: 'http', request: { method: 'POST', url: `${limited.url}/r` },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'RATE' }] },
        delivery: { rateLimitPerSecond: 4 },
      });
      await probe.publish(...Array.from({ length: 10 }, () => messageReceived(a.tenantId, 'RATE')));
      await expectEventually(() => expect(at).toHaveLength(10), { timeoutMs: 20_000 });
      // A burst of 4, then 4 per second: the last 6 need at least 1.5 s (unlimited, all 10 come within a few ms). Arrival
      // times carry the scheduling delays of a loaded machine, a few hundred ms: the first request's alone can eat 400 ms.
      expect(at[9] - at[0]).toBeGreaterThanOrEqual(1_000);
    } finally {
      await limited.close();
    }
  });

  it('an endpoint answering bytes PostgreSQL cannot keep in JSON (a NUL, e.g. a PDF) still has its attempts logged and the delivery closed, once', async () => {
    const pdf = await new FakeEndpoint().start();
    pdf.handler = (r) => (r.url === '/json'
      // JSON whose string holds an escaped NUL: the parsed response carries it into the outcome event.
      ? { status: 200, body: '{"note":"boleto 42\\u0000"}' }
      : { status: r.url === '/ok' ? 200 : 500, headers: { 'content-type': 'application/pdf' }, body: '%PDF-1.4\u0000\u0001 boleto 42' });
    try {
      const make = (name: string, path: string) => call('POST', '/integrations', {
        name, kind: 'http', request: { method: 'POST', url: `${pdf.url}${path}` },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: name }] },
        delivery: { retryScheduleSeconds: [] },
      });
      expect((await make('PDF-OK', '/ok')).status).toBe(201);
      expect((await make('PDF-FAIL', '/fail')).status).toBe(201);
      expect((await make('JSON-NUL', '/json')).status).toBe(201);
      const ok = messageReceived(a.tenantId, 'PDF-OK');
      const fail = messageReceived(a.tenantId, 'PDF-FAIL');
      const json = messageReceived(a.tenantId, 'JSON-NUL');
      await probe.publish(ok, fail, json);
      const succeeded = await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.eventId === ok.id, 15_000);
      const failed = await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.eventId === fail.id, 15_000);
      expect(failed.data).toMatchObject({ httpStatus: 500, attempts: 1 });
      const parsed = await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.eventId === json.id, 15_000);
      expect(parsed.data.response).toEqual({ note: 'boleto 42\uFFFD' });
      for (const outcome of [succeeded, failed, parsed]) {
        const attempts = await call('GET', `/deliveries/${outcome.data.deliveryId}/attempts`);
        expect(attempts.body).toHaveLength(1);
        expect(attempts.body[0].response.body).toContain('boleto 42');
      }
      expect(pdf.received).toHaveLength(3);
    } finally {
      await pdf.close();
    }
  });

  it('a request or response whose 4,096-character cut falls inside an emoji still has its attempt logged and the delivery closed', async () => {
    // The emoji's two UTF-16 halves sit on both sides of the cut: half of one is no text PostgreSQL's jsonb keeps.
    const answer = `${'a'.repeat(4095)}😀 tail`;
    const hook = await new FakeEndpoint().start();
    hook.handler = (r) => ({ status: r.url === '/fail' ? 500 : 200, headers: { 'content-type': 'text/plain' }, body: r.url === '/short' ? 'ok' : answer });
    try {
      const make = (name: string, path: string) => call('POST', '/integrations', {
        name, kind: 'http',
        // The body sent is {"t":"<text>"}: 6 characters before the message's text.
        request: { method: 'POST', url: `${hook.url}${path}`, body: { kind: 'keyvalue', pairs: [{ key: 't', value: '{message.text}' }] } },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'contains', value: name }] },
        delivery: { retryScheduleSeconds: [] },
      });
      expect((await make('CUT-OK', '/ok')).status).toBe(201);
      expect((await make('CUT-FAIL', '/fail')).status).toBe(201);
      expect((await make('CUT-REQUEST', '/short')).status).toBe(201);
      const ok = messageReceived(a.tenantId, 'CUT-OK');
      const fail = messageReceived(a.tenantId, 'CUT-FAIL');
      const request = messageReceived(a.tenantId, `CUT-REQUEST${'b'.repeat(4089 - 'CUT-REQUEST'.length)}😀 tail`);
      await probe.publish(ok, fail, request);
      const outcomes = [
        await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.eventId === ok.id, 15_000),
        await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.eventId === fail.id, 15_000),
        await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.eventId === request.id, 15_000),
      ];
      for (const outcome of outcomes) {
        const attempts = await call('GET', `/deliveries/${outcome.data.deliveryId}/attempts`);
        expect(attempts.body).toHaveLength(1);
      }
      expect(hook.received).toHaveLength(3);
      // The log keeps the first 4,096 characters (4,095 here: not half an emoji) and says how much was cut.
      const logged = async (outcome: (typeof outcomes)[number]) => (await call('GET', `/deliveries/${outcome.data.deliveryId}/attempts`)).body[0] as Body;
      /** Whether `text` is `whole` cut after 4,095 characters, and what follows the cut (short, where the whole text would not be). */
      const cut = (text: string, whole: string) => ({ kept: text.slice(0, 4095) === whole.slice(0, 4095), after: text.slice(4095) });
      expect(cut((await logged(outcomes[0])).response.body as string, answer)).toEqual({ kept: true, after: '…[truncated 7 chars]' });
      expect(cut((await logged(outcomes[1])).response.body as string, answer)).toEqual({ kept: true, after: '…[truncated 7 chars]' });
      const sent = hook.received.find((r) => r.url === '/short')!.body;
      expect(sent.length).toBeGreaterThan(4096);
      const requestLogged = await logged(outcomes[2]);
      expect(cut(requestLogged.request.body as string, sent)).toEqual({ kept: true, after: `…[truncated ${sent.length - 4095} chars]` });
      expect(requestLogged.response.body).toBe('ok');
    } finally {
      await hook.close();
    }
  });

  it('a 2xx answer over the 1 MB response cap is a success, sent once: the attempt log keeps what was read and says it was cut; the reply sees it', async () => {
    const hook = await new FakeEndpoint().start();
    hook.handler = () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: `ticket 42 ${'x'.repeat(1536 * 1024)}` });
    try {
      const created = await call('POST', '/integrations', {
        name: 'BIG-OK', kind: 'http', request: { method: 'POST', url: `${hook.url}/big` },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'BIG-OK' }] },
        delivery: { retryScheduleSeconds: [1, 1] },
        reply: { success: 'Recebido: {response}', failure: 'falhou' },
      });
      expect(created.status).toBe(201);
      const ev = messageReceived(a.tenantId, 'BIG-OK');
      await probe.publish(ev);
      const ok = await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.eventId === ev.id, 15_000);
      expect(ok.data).toMatchObject({ httpStatus: 200, attempts: 1 });
      expect(ok.data.reply?.startsWith('Recebido: ticket 42 xxx')).toBe(true);
      const attempts = await call('GET', `/deliveries/${ok.data.deliveryId}/attempts`);
      expect(attempts.body).toHaveLength(1);
      expect(attempts.body[0]).toMatchObject({ attempt: 1, httpStatus: 200, errorClass: null, response: { status: 200, truncated: true } });
      expect((attempts.body[0].response.body as string).startsWith('ticket 42 xxx')).toBe(true);
      expect(probe.ofType<IntegrationDeliveryOutcome>('integration.delivery.failed').filter((o) => o.data.eventId === ev.id)).toHaveLength(0);
      expect(hook.received).toHaveLength(1);
    } finally {
      await hook.close();
    }
  });

  it("an integration's own Content-Type and webhook-* headers, whatever their case, are sent once: its Content-Type, our signature headers", async () => {
    const hook = await new FakeEndpoint().start();
    try {
      const created = await call('POST', '/integrations', {
        name: 'OWN-HEADERS', kind: 'http',
        request: {
          method: 'POST', url: `${hook.url}/own`,
          headers: 'content-type: application/vnd.crm+json\nWebhook-Id: mine\nWebhook-Timestamp: 1\nWebhook-Signature: v1,forged\nX-Trace: 7',
          body: { kind: 'keyvalue', pairs: [{ key: 't', value: '{message.text}' }] },
        },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'OWN-HEADERS' }] },
        delivery: { retryScheduleSeconds: [] },
      });
      expect(created.status).toBe(201);
      const ev = messageReceived(a.tenantId, 'OWN-HEADERS');
      await probe.publish(ev);
      const ok = await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.eventId === ev.id, 15_000);
      expect(hook.received).toHaveLength(1);
      const req = hook.received[0];
      expect(req.headers['content-type']).toBe('application/vnd.crm+json');
      expect(req.headers['x-trace']).toBe('7');
      expect(req.headers['webhook-id']).toBe(ok.data.deliveryId);
      expect(String(req.headers['webhook-signature']).split(' ')).toHaveLength(1);
      const verified = new Webhook(created.body.signingSecret as string).verify(req.body, {
        'webhook-id': String(req.headers['webhook-id']),
        'webhook-timestamp': String(req.headers['webhook-timestamp']),
        'webhook-signature': String(req.headers['webhook-signature']),
      });
      expect(verified).toEqual({ t: 'OWN-HEADERS' });
      // The attempt log shows the headers as sent: one of each.
      const attempts = await call('GET', `/deliveries/${ok.data.deliveryId}/attempts`);
      const names = Object.keys(attempts.body[0].request.headers as Body).map((n) => n.toLowerCase());
      expect(names.filter((n) => n === 'webhook-signature' || n === 'webhook-id' || n === 'webhook-timestamp')).toHaveLength(3);
    } finally {
      await hook.close();
    }
  });

  it('a filter naming a field no event has, such as constructor, matches nothing and holds back none of the other integrations', async () => {
    const hook = await new FakeEndpoint().start();
    try {
      const make = (name: string, filter: unknown[]) => call('POST', '/integrations', {
        name, kind: 'http', request: { method: 'POST', url: `${hook.url}/${name}` }, trigger: { eventTypes: ['chat.message.received'], filter },
      });
      expect((await make('Odd filter', [{ field: 'constructor', op: 'contains', value: 'x' }])).status).toBe(201);
      const plain = await make('Plain filter', [{ field: 'message.text', op: 'equals', value: 'PROTO' }]);
      const ev = messageReceived(a.tenantId, 'PROTO');
      await probe.publish(ev);
      await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.eventId === ev.id && o.integrationId === plain.body.id, 15_000);
      expect(hook.received.map((r) => r.url)).toEqual(['/Plain filter'.replace(' ', '%20')]);
    } finally {
      await hook.close();
    }
  });

  it('a reply rendered longer than a chat message may be (4,096 characters) goes out cut to the limit; the delivery is closed once', async () => {
    const long = 'ó'.repeat(5000);
    const hook = await new FakeEndpoint().start();
    hook.handler = (r) => (r.url === '/ok' ? { status: 200, body: { text: long } } : { status: 500, body: { text: long } });
    try {
      const make = (name: string, path: string) => call('POST', '/integrations', {
        name, kind: 'http', request: { method: 'POST', url: `${hook.url}${path}` },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: name }] },
        delivery: { retryScheduleSeconds: [] },
        reply: { success: 'OK: {text}', failure: 'FAIL: {text}' },
      });
      expect((await make('LONG-OK', '/ok')).status).toBe(201);
      expect((await make('LONG-FAIL', '/fail')).status).toBe(201);
      const ok = messageReceived(a.tenantId, 'LONG-OK');
      const fail = messageReceived(a.tenantId, 'LONG-FAIL');
      await probe.publish(ok, fail);
      await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.eventId === ok.id, 15_000);
      await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.eventId === fail.id, 15_000);
      for (const [ev, prefix] of [[ok, 'OK: '], [fail, 'FAIL: ']] as const) {
        const conversationId = (ev.data as Body).conversationId as string;
        await expectEventually(() => expect(probe.ofType<ChatMessageSendRequested>('chat.message.send.requested').filter((e) => e.data.conversationId === conversationId)).toHaveLength(1), { timeoutMs: 10_000 });
        const text = probe.ofType<ChatMessageSendRequested>('chat.message.send.requested').find((e) => e.data.conversationId === conversationId)!.data.message.text!;
        expect(text.length).toBe(4096);
        expect(text.startsWith(`${prefix}óóó`)).toBe(true);
      }
      expect(hook.received).toHaveLength(2);
    } finally {
      await hook.close();
    }
  });

  it('a run a bot flow requested is answered once when its integration is deleted meanwhile, waiting for a retry or in flight', async () => {
    const held: Array<() => void> = [];
    const server = createServer((req, res) => {
      req.resume();
      if (req.url === '/retry') {
        // Due again in 30 s (within the requested deadline): pending when the integration is deleted.
        res.writeHead(503, { 'retry-after': '30' });
        res.end();
      } else if (req.url === '/held') {
        held.push(() => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"ok":true}');
        });
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      }
    });
    const base = `http://127.0.0.1:${await listen(server)}`;
    try {
      const make = (name: string, path: string) => call('POST', '/integrations', {
        name, kind: 'http', request: { method: 'POST', url: `${base}${path}` }, trigger: { eventTypes: [] },
      });
      const waiting = await make('Deleted while waiting', '/retry');
      const inFlight = await make('Deleted in flight', '/held');
      const other = await make('Still there', '/ok');
      const requested = (integration: string) => createEvent({
        type: 'integration.requested', tenantId: a.tenantId, source: 'elo://chat-ingress', correlationId: `corr-${randomUUID()}`,
        data: { requestId: randomUUID(), integration, conversationId: randomUUID(), context: {} },
      });
      const outcomes = (e: CloudEvent) => probe.events.filter((o) => o.type.startsWith('integration.delivery.')
        && (o.data as IntegrationDeliveryOutcome).requestId === (e.data as Body).requestId);
      const w = requested(waiting.body.id);
      const f = requested(inFlight.body.id);
      await probe.publish(w, f);
      const pending = async (id: string) => (await call('GET', `/integrations/${id}/deliveries?outcome=pending`)).body;
      await expectEventually(async () => expect(await pending(waiting.body.id)).toMatchObject([{ attempts: 1 }]), { timeoutMs: 15_000 });
      await expectEventually(() => expect(held).toHaveLength(1), { timeoutMs: 15_000 });

      expect((await call('DELETE', `/integrations/${waiting.body.id}`)).status).toBe(204);
      expect((await call('DELETE', `/integrations/${inFlight.body.id}`)).status).toBe(204);
      held.splice(0).forEach((answer) => answer());
      await expectEventually(() => {
        expect(outcomes(w)).toHaveLength(1);
        expect(outcomes(f)).toHaveLength(1);
      }, { timeoutMs: 15_000 });
      expect(outcomes(w)[0]).toMatchObject({ type: 'integration.delivery.failed', data: { integrationId: waiting.body.id, outcome: 'failed', attempts: 1 } });
      expect(outcomes(f)[0]).toMatchObject({ type: 'integration.delivery.failed', data: { integrationId: inFlight.body.id, outcome: 'failed' } });
      // Answered by the admin's deletion, each in its own request's correlation id, not the admin's.
      expect([outcomes(w)[0].correlationid, outcomes(f)[0].correlationid]).toEqual([w.correlationid, f.correlationid]);
      // Successes sent meanwhile are written as ever (a run of a deleted integration does not fail their group),
      // and nothing more comes for the deleted integrations' runs.
      const later = requested(other.body.id);
      await probe.publish(later);
      await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.requestId === (later.data as Body).requestId, 15_000);
      expect(outcomes(w)).toHaveLength(1);
      expect(outcomes(f)).toHaveLength(1);
    } finally {
      held.splice(0).forEach((answer) => answer());
      await closeServer(server);
    }
  });

  it('sends each method as configured (GET, POST, PUT, PATCH, DELETE), each body form with its content type; the attempt log shows the method', async () => {
    const hook = await new FakeEndpoint().start();
    try {
      const cases = [
        { method: 'GET', path: '/get', body: undefined, contentType: undefined, sent: '' },
        { method: 'POST', path: '/post', body: { kind: 'keyvalue', pairs: [{ key: 'deal[contacts][0][name]', value: '{contact.name}' }] },
          contentType: 'application/json', sent: '{"deal":{"contacts":[{"name":"Ana Souza"}]}}' },
        { method: 'PUT', path: '/put', body: { kind: 'raw', contentType: 'application/xml', template: '<deal><name>{contact.name}</name></deal>' },
          contentType: 'application/xml', sent: '<deal><name>Ana Souza</name></deal>' },
        { method: 'PATCH', path: '/patch', body: { kind: 'form', pairs: [{ key: 'name', value: '{contact.name}' }, { key: 'cpf', value: '{attributes.cpf}' }] },
          contentType: 'application/x-www-form-urlencoded', sent: 'name=Ana+Souza&cpf=12345678909' },
        { method: 'DELETE', path: '/delete', body: { kind: 'raw', contentType: 'text/plain', template: 'tchau {contact.name}, até ção ✓' }, contentType: 'text/plain', sent: 'tchau Ana Souza, até ção ✓' },
      ];
      const ids = new Map<string, string>();
      const secrets = new Map<string, string>();
      for (const c of cases) {
        const created = await call('POST', '/integrations', {
          name: `Method ${c.method}`, kind: 'http', request: { method: c.method, url: `${hook.url}${c.path}`, ...(c.body ? { body: c.body } : {}) },
          trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'METHODS' }] },
          delivery: { retryScheduleSeconds: [] },
        });
        expect(created.status).toBe(201);
        ids.set(c.method, created.body.id as string);
        secrets.set(c.method, created.body.signingSecret as string);
      }
      const ev = messageReceived(a.tenantId, 'METHODS');
      await probe.publish(ev);
      // One event, five matching integrations: each gets it (fan-out).
      await expectEventually(() => expect(probe.ofType<IntegrationDeliveryOutcome>('integration.delivery.succeeded').filter((o) => o.data.eventId === ev.id)).toHaveLength(5), { timeoutMs: 15_000 });
      for (const c of cases) {
        const got = hook.received.filter((r) => r.url === c.path);
        expect({ path: c.path, n: got.length }).toEqual({ path: c.path, n: 1 });
        expect({ path: c.path, method: got[0].method, contentType: got[0].headers['content-type'], body: got[0].body })
          .toEqual({ path: c.path, method: c.method, contentType: c.contentType, body: c.sent });
        // Signed over the bytes sent, whatever the body (none, XML, form, non-ASCII text): what a receiver recomputes.
        const h = got[0].headers;
        const key = Buffer.from(secrets.get(c.method)!.slice('whsec_'.length), 'base64');
        const expected = createHmac('sha256', key).update(Buffer.from(`${String(h['webhook-id'])}.${String(h['webhook-timestamp'])}.${got[0].body}`, 'utf8')).digest('base64');
        expect({ path: c.path, signature: h['webhook-signature'] }).toEqual({ path: c.path, signature: `v1,${expected}` });
        const [delivery] = (await call('GET', `/integrations/${ids.get(c.method)}/deliveries`)).body as Body[];
        const attempts = await call('GET', `/deliveries/${delivery.id}/attempts`);
        expect(attempts.body[0].request).toMatchObject({ method: c.method, url: `${hook.url}${c.path}` });
      }
    } finally {
      await hook.close();
    }
  });

  it('a disabled integration is not triggered by events; enabled again, it is', async () => {
    const hook = await new FakeEndpoint().start();
    try {
      const make = (name: string, path: string) => call('POST', '/integrations', {
        name, kind: 'http', request: { method: 'POST', url: `${hook.url}${path}` },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'PAUSED' }] },
      });
      const paused = await make('Paused by an admin', '/paused');
      const beside = await make('Enabled beside it', '/beside');
      expect((await call('POST', `/integrations/${paused.body.id}/disable`)).status).toBe(200);
      const ev = messageReceived(a.tenantId, 'PAUSED');
      await probe.publish(ev);
      // The enabled one's delivery is written in the same transaction as a delivery of the disabled one would be.
      await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.eventId === ev.id && o.integrationId === beside.body.id, 15_000);
      expect((await call('GET', `/integrations/${paused.body.id}/deliveries`)).body).toEqual([]);
      expect(hook.received.map((r) => r.url)).toEqual(['/beside']);

      expect((await call('POST', `/integrations/${paused.body.id}/enable`)).status).toBe(200);
      const again = messageReceived(a.tenantId, 'PAUSED');
      await probe.publish(again);
      await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.eventId === again.id && o.integrationId === paused.body.id, 15_000);
      expect(hook.received.filter((r) => r.url === '/paused')).toHaveLength(1);
      expect(probe.ofType<IntegrationDeliveryOutcome>('integration.delivery.succeeded').filter((o) => o.data.integrationId === paused.body.id).map((o) => o.data.eventId)).toEqual([again.id]);
    } finally {
      await hook.close();
    }
  });

  it('deletes delivery attempts past ATTEMPT_RETENTION_DAYS (90 by default), keeps the younger ones and the deliveries', async () => {
    // The attempts logged by the tests above (a retried delivery has several).
    const ds = svc.app.get(DataSource);
    const deliveries = async () => (await ds.query('SELECT count(*)::int AS n FROM "dispatcher".deliveries'))[0].n as number;
    const before = await deliveries();
    await expectRetained(ds, () => svc.app.get(RetentionSweeper).sweep(), { table: '"dispatcher".attempts', column: 'created_at', days: 90 });
    expect(await deliveries()).toBe(before);
  });
});
