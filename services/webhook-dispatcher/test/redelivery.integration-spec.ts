import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { createEvent } from '@elo/contracts';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { Client } from 'pg';
import { api, closeAll, closeServer, listen, messageReceived, startApp, tenantWithKey } from './app.fixture';

/**
 * Events that trigger integrations take no inbox row (their handler is idempotent: deliveries are keyed by
 * event and integration and written only if absent); integration.requested, which may answer with an
 * outcome event, keeps its inbox row.
 */
describe('webhook-dispatcher redelivered events (real PostgreSQL, RabbitMQ, a local endpoint)', () => {
  let infra: TestInfra;
  let db: Client;
  let probe: BusProbe;

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_redelivery');
    probe = await BusProbe.connect(infra.amqpUrl, []);
    db = new Client({ connectionString: infra.databaseUrl });
    await db.connect();
  });

  afterAll(() => closeAll(db, probe, infra));

  it('a redelivered event adds no delivery and sends nothing again (no inbox row); integration.requested keeps its inbox row', async () => {
    const received: string[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string }).id);
        res.writeHead(200).end();
      });
    });
    const port = await listen(server);
    const app = await startApp(infra);
    try {
      const a = await tenantWithKey(app.url);
      const created = await api(app.url, a.key)('POST', '/integrations', {
        name: 'Echo', kind: 'http', request: { method: 'POST', url: `http://127.0.0.1:${port}/e`,
          body: { kind: 'keyvalue', pairs: [{ key: 'id', value: '{event.id}' }] } },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'DUP' }] },
      });
      expect(created.status).toBe(201);
      const ev = messageReceived(a.tenantId, 'DUP');
      await probe.publish(ev);
      await expectEventually(() => expect(received).toEqual([ev.id]), { timeoutMs: 15_000 });

      // The same event again, twice, then a new one behind them: once the new one is sent, the copies were handled.
      const after = messageReceived(a.tenantId, 'DUP');
      await probe.publish(ev, ev, after);
      await expectEventually(() => expect(received).toContain(after.id), { timeoutMs: 15_000 });
      expect(received.filter((id) => id === ev.id)).toHaveLength(1);
      const { rows } = await db.query(`SELECT event_id FROM dispatcher.deliveries WHERE integration_id = $1 ORDER BY created_at`, [created.body.id]);
      expect(rows.map((r: { event_id: string }) => r.event_id)).toEqual([ev.id, after.id]);
      const inbox = await db.query(`SELECT count(*)::int AS n FROM dispatcher.inbox WHERE event_id = ANY($1)`, [[ev.id, after.id]]);
      expect(inbox.rows[0].n).toBe(0);

      // A request answers with an outcome event (an unknown name at once): it is recorded in the inbox, so it is answered once.
      const request = createEvent({
        type: 'integration.requested', tenantId: a.tenantId, source: 'elo://chat-ingress',
        data: { requestId: randomUUID(), integration: 'echo', conversationId: randomUUID(), context: {} },
      });
      await probe.publish(request);
      await expectEventually(() => expect(received).toContain(request.id), { timeoutMs: 15_000 });
      const requested = await db.query(`SELECT count(*)::int AS n FROM dispatcher.inbox WHERE event_id = $1`, [request.id]);
      expect(requested.rows[0].n).toBe(1);
    } finally {
      await app.close();
      await closeServer(server);
    }
  });
});
