import { randomUUID } from 'node:crypto';
import { createEvent, type ChatMessageSendRequested } from '@elo/contracts';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, outboxEmpty, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { callEnded, closeAll, expectOneOutcome, FakeEndpoint, startApp, tenantApi, withDb, type Api, type RunningApp, type Tenant } from './app.fixture';

/**
 * What triggers an integration. A trigger's filter names the event's fields as its tokens do: by their path inside `data`
 * (`ramal`) and the same under the name of the entity the event type names (`call.ramal` for `telephony.call.*`,
 * `viability.status` for `viability.checked`), the names the issue gives the event's fields. And an integration's reply
 * into the chat is a `chat.message.send.requested`, which chat-ingress sends (`chat.message.sent`, then statuses, then
 * message-status's moves): an integration triggered by any of those that replied would trigger itself with each reply,
 * for ever. It is refused when saved, and one saved before that does not reply.
 */
describe('webhook-dispatcher triggers (real PostgreSQL, RabbitMQ, a local endpoint)', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let probe: BusProbe;
  let hook: FakeEndpoint;
  let a: Tenant;
  let call: Api;

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_triggers');
    hook = await new FakeEndpoint().start();
    svc = await startApp(infra);
    probe = await BusProbe.connect(infra.amqpUrl, ['chat.message.send.requested', 'integration.#']);
    ({ tenant: a, call } = await tenantApi(svc.url));
  });

  afterAll(() => closeAll(probe, svc, hook, infra));

  describe('filters', () => {
    const make = async (name: string, eventType: string, field: string, value: string): Promise<string> => {
      const created = await call('POST', '/integrations', {
        name, kind: 'http', request: { method: 'POST', url: `${hook.url}/${name}` },
        trigger: { eventTypes: [eventType], filter: [{ field, op: 'equals', value }] },
      });
      expect(created.status).toBe(201);
      return created.body.id as string;
    };

    it('a filter on {call.ramal} or {viability.status} matches the events those tokens read, and only them', async () => {
      const byAlias = await make('by-alias', 'telephony.call.ended', 'call.ramal', '2001');
      const byPath = await make('by-path', 'telephony.call.ended', 'ramal', '2002');
      const viable = await make('viable', 'viability.checked', 'viability.status', 'viable');

      const other = callEnded(a.tenantId, { ramal: '2002' });
      const mine = callEnded(a.tenantId, { ramal: '2001' });
      const checked = (status: string) => createEvent({
        type: 'viability.checked', tenantId: a.tenantId, source: 'elo://viability', data: { status, via: 'address' },
      });
      const notViable = checked('not_viable');
      const isViable = checked('viable');
      await probe.publish(other, mine, notViable, isViable);

      await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.integrationId === byAlias && o.eventId === mine.id, 15_000);
      await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.integrationId === byPath && o.eventId === other.id, 15_000);
      await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.integrationId === viable && o.eventId === isViable.id, 15_000);
      // Every event was handled (each was sent to the integration it matches): none reached one it does not match.
      expect(hook.received.map((r) => r.url).sort()).toEqual(['/by-alias', '/by-path', '/viable']);
    });
  });

  describe('a reply that would trigger its own integration', () => {
    // A tenant of their own: the refusals are checked against an empty list of integrations.
    let own: { tenant: Tenant; call: Api };
    beforeAll(async () => {
      own = await tenantApi(svc.url);
    });

    const http = (name: string, eventTypes: string[], reply?: Record<string, string>) => ({
      name, kind: 'http', request: { method: 'POST', url: `${hook.url}/${name}` }, trigger: { eventTypes }, ...(reply ? { reply } : {}),
    });

    it('refuses a reply on an integration triggered by what a reply sets off, when created and when changed, and changes nothing', async () => {
      for (const type of ['chat.message.send.requested', 'chat.message.sent', 'chat.message.status', 'message.status.changed', 'message.failed']) {
        const r = await own.call('POST', '/integrations', http(`loop-${type}`, ['chat.message.received', type], { failure: 'Falhou' }));
        expect(r.status).toBe(400);
        expect(r.body.detail).toBe(`reply: an integration triggered by ${type} cannot reply into the chat: each reply would trigger it again`);
      }
      expect((await own.call('GET', '/integrations')).body).toEqual([]);

      // Without a reply it may have such a trigger; with another trigger, a reply.
      const tracker = await own.call('POST', '/integrations', http('tracker', ['chat.message.sent']));
      expect(tracker.status).toBe(201);
      const replier = await own.call('POST', '/integrations', http('replier', ['chat.message.received'], { success: 'Ok' }));
      expect(replier.status).toBe(201);
      // Either change that joins the two is refused, as the merged integration would loop.
      const addReply = await own.call('PATCH', `/integrations/${tracker.body.id}`, { reply: { success: 'Enviado' } });
      expect(addReply.status).toBe(400);
      const addTrigger = await own.call('PATCH', `/integrations/${replier.body.id}`, { trigger: { eventTypes: ['chat.message.received', 'chat.message.send.requested'] } });
      expect(addTrigger.status).toBe(400);
      expect((await own.call('GET', `/integrations/${tracker.body.id}`)).body.reply ?? {}).toEqual({});
      expect((await own.call('GET', `/integrations/${replier.body.id}`)).body.trigger).toEqual({ eventTypes: ['chat.message.received'] });
    });

    it('an integration saved with such a reply before it was refused is sent the event but does not reply', async () => {
      const created = await own.call('POST', '/integrations', http('old-loop', ['chat.message.send.requested']));
      expect(created.status).toBe(201);
      const id = created.body.id as string;
      // As it could be saved before: the reply written straight into its row.
      await withDb(infra, (db) => db.query(`UPDATE dispatcher.integrations SET reply = $2 WHERE id = $1`, [id, { success: 'Recebido' }]));
      const conversationId = randomUUID();
      const ev = createEvent({
        type: 'chat.message.send.requested', tenantId: own.tenant.tenantId, source: 'elo://chat-ingress', subject: conversationId,
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
});
