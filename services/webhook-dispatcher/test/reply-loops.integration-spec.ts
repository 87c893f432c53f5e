import { randomUUID } from 'node:crypto';
import { createEvent, type ChatMessageSendRequested } from '@elo/contracts';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, outboxEmpty, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { closeAll, expectOneOutcome, FakeEndpoint, startApp, tenantApi, withDb, type Api, type RunningApp, type Tenant } from './app.fixture';

/**
 * An integration's reply into the chat is a `chat.message.send.requested`, which chat-ingress sends (`chat.message.sent`,
 * then statuses, then message-status's moves). An integration triggered by any of those that replied would trigger
 * itself with each reply, for ever: it is refused when saved, and one saved before that does not reply.
 */
describe('webhook-dispatcher: a reply that would trigger its own integration (real PostgreSQL, RabbitMQ, a local endpoint)', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let probe: BusProbe;
  let hook: FakeEndpoint;
  let a: Tenant;
  let call: Api;

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_reply_loops');
    hook = await new FakeEndpoint().start();
    hook.handler = () => ({ status: 200, body: { ok: true } });
    svc = await startApp(infra);
    probe = await BusProbe.connect(infra.amqpUrl, ['chat.message.send.requested', 'integration.#']);
    ({ tenant: a, call } = await tenantApi(svc.url));
  });

  afterAll(() => closeAll(probe, svc, hook, infra));

  const http = (name: string, eventTypes: string[], reply?: Record<string, string>) => ({
    name, kind: 'http', request: { method: 'POST', url: `${hook.url}/${name}` }, trigger: { eventTypes }, ...(reply ? { reply } : {}),
  });

  it('refuses a reply on an integration triggered by what a reply sets off, when created and when changed, and changes nothing', async () => {
    for (const type of ['chat.message.send.requested', 'chat.message.sent', 'chat.message.status', 'message.status.changed', 'message.failed']) {
      const r = await call('POST', '/integrations', http(`loop-${type}`, ['chat.message.received', type], { failure: 'Falhou' }));
      expect(r.status).toBe(400);
      expect(r.body.detail).toBe(`reply: an integration triggered by ${type} cannot reply into the chat: each reply would trigger it again`);
    }
    expect((await call('GET', '/integrations')).body).toEqual([]);

    // Without a reply it may have such a trigger; with another trigger, a reply.
    const tracker = await call('POST', '/integrations', http('tracker', ['chat.message.sent']));
    expect(tracker.status).toBe(201);
    const replier = await call('POST', '/integrations', http('replier', ['chat.message.received'], { success: 'Ok' }));
    expect(replier.status).toBe(201);
    // Either change that joins the two is refused, as the merged integration would loop.
    const addReply = await call('PATCH', `/integrations/${tracker.body.id}`, { reply: { success: 'Enviado' } });
    expect(addReply.status).toBe(400);
    const addTrigger = await call('PATCH', `/integrations/${replier.body.id}`, { trigger: { eventTypes: ['chat.message.received', 'chat.message.send.requested'] } });
    expect(addTrigger.status).toBe(400);
    expect((await call('GET', `/integrations/${tracker.body.id}`)).body.reply ?? {}).toEqual({});
    expect((await call('GET', `/integrations/${replier.body.id}`)).body.trigger).toEqual({ eventTypes: ['chat.message.received'] });
  });

  it('an integration saved with such a reply before it was refused is sent the event but does not reply', async () => {
    const created = await call('POST', '/integrations', http('old-loop', ['chat.message.send.requested']));
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    // As it could be saved before: the reply written straight into its row.
    await withDb(infra, (db) => db.query(`UPDATE dispatcher.integrations SET reply = $2 WHERE id = $1`, [id, { success: 'Recebido' }]));
    const conversationId = randomUUID();
    const ev = createEvent({
      type: 'chat.message.send.requested', tenantId: a.tenantId, source: 'elo://chat-ingress', subject: conversationId,
      data: { messageId: randomUUID(), conversationId, message: { kind: 'text', text: 'Olá' }, origin: 'agent' },
    });
    await probe.publish(ev);
    await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.integrationId === id && o.eventId === ev.id, 15_000);
    const ds = new DataSource({ type: 'postgres', url: infra.databaseUrl });
    await ds.initialize();
    try {
      await probe.settled(outboxEmpty(ds, 'dispatcher'), 15_000);
    } finally {
      await ds.destroy();
    }
    // Only the event published above: no reply went out (a reply would have been delivered to it again, and so on).
    expect(probe.ofType<ChatMessageSendRequested>('chat.message.send.requested').map((e) => e.id)).toEqual([ev.id]);
    expect(hook.received.filter((r) => r.url === '/old-loop')).toHaveLength(1);
  });
});
