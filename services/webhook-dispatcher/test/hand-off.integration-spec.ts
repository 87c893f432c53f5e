import { randomUUID } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import { createEvent } from '@elo/contracts';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { Client } from 'pg';
import { api, messageReceived, startApp, tenantWithKey, type RunningApp } from './app.fixture';

/**
 * Events that trigger integrations take no inbox row (the handler is idempotent: deliveries are keyed by
 * event and integration). Deliveries the consumer takes at birth (written already claimed and handed to this replica's worker
 * when their transaction commits) are sent without a claim; those still waiting for a slot when the
 * service stops are due again at once, for the next run or another replica, not after their lease.
 */
describe('webhook-dispatcher deliveries taken at birth (real PostgreSQL, RabbitMQ, a local endpoint)', () => {
  let infra: TestInfra;
  let db: Client;
  let probe: BusProbe;

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_hand_off');
    probe = await BusProbe.connect(infra.amqpUrl, []);
    db = new Client({ connectionString: infra.databaseUrl });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await probe?.close();
    await infra?.cleanup();
  });

  it('sends them once each; those not started when the service stops are due at once and sent by the next run', async () => {
    const received: string[] = [];
    const held: ServerResponse[] = [];
    let hold = true;
    const server = createServer((req, res) => {
      req.resume();
      received.push(String(req.headers['webhook-id']));
      if (hold) held.push(res);
      else res.writeHead(200).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    let first: RunningApp | undefined = await startApp(infra);
    let second: RunningApp | undefined;
    try {
      const a = await tenantWithKey(first.url);
      const created = await api(first.url, a.key)('POST', '/integrations', {
        name: 'One at a time', kind: 'http', request: { method: 'POST', url: `http://127.0.0.1:${(server.address() as { port: number }).port}/h` },
        trigger: { eventTypes: ['chat.message.received'] }, delivery: { maxConcurrency: 1 },
      });
      expect(created.status).toBe(201);
      await probe.publish(...Array.from({ length: 3 }, (_, i) => messageReceived(a.tenantId, `m${i}`)));

      // All three written already claimed (a lease ahead, no claim): one at the endpoint, two waiting for its slot.
      await expectEventually(async () => {
        const { rows } = await db.query(`SELECT count(*)::int AS n FROM dispatcher.deliveries WHERE next_attempt_at > now() + interval '200 seconds'`);
        expect(rows[0].n).toBe(3);
        expect(received).toHaveLength(1);
      }, { timeoutMs: 15_000 });

      // Stopping waits for the request in flight; the two never started are due again at once.
      const stopping = first.close();
      first = undefined;
      hold = false;
      for (const res of held.splice(0)) res.writeHead(200).end();
      await stopping;
      const { rows } = await db.query(
        `SELECT status, next_attempt_at <= now() AS due FROM dispatcher.deliveries ORDER BY status DESC, id`,
      );
      expect(rows).toEqual([
        { status: 'succeeded', due: false },
        { status: 'pending', due: true },
        { status: 'pending', due: true },
      ]);

      second = await startApp(infra);
      await expectEventually(async () => {
        const done = await db.query(`SELECT count(*)::int AS n FROM dispatcher.deliveries WHERE status = 'succeeded'`);
        expect(done.rows[0].n).toBe(3);
      }, { timeoutMs: 15_000 });
      // Each delivery reached the endpoint once, under its own webhook-id.
      expect(received).toHaveLength(3);
      expect(new Set(received).size).toBe(3);
    } finally {
      hold = false;
      for (const res of held.splice(0)) res.writeHead(200).end();
      await first?.close();
      await second?.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

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
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const app = await startApp(infra);
    try {
      const a = await tenantWithKey(app.url);
      const created = await api(app.url, a.key)('POST', '/integrations', {
        name: 'Echo', kind: 'http', request: { method: 'POST', url: `http://127.0.0.1:${(server.address() as { port: number }).port}/e`,
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
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
