import { createServer } from 'node:http';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { Client } from 'pg';
import { REPLICA_GONE_MS, REPLICA_HEARTBEAT_MS } from '../src/deliveries/replicas';
import { closeAll, closeServer, listen, messageReceived, startApp, tenantApi, type Api, type RunningApp, type Tenant } from './app.fixture';

describe('webhook-dispatcher replicas share each integration\'s limits (real PostgreSQL, RabbitMQ, two replicas)', () => {
  let infra: TestInfra;
  let one: RunningApp;
  let two: RunningApp;
  let probe: BusProbe;
  let db: Client;
  let a: Tenant;
  let call: Api;

  const liveReplicas = async (): Promise<number> => {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "dispatcher".replicas WHERE seen_at > now() - make_interval(secs => $1)`,
      [REPLICA_GONE_MS / 1000],
    );
    return rows[0].n;
  };

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_replicas');
    one = await startApp(infra);
    two = await startApp(infra);
    db = new Client({ connectionString: infra.databaseUrl });
    await db.connect();
    probe = await BusProbe.connect(infra.amqpUrl, ['integration.#']);
    ({ tenant: a, call } = await tenantApi(one.url));
  });

  afterAll(() => closeAll(probe, one, two, db, infra));

  it("keeps an integration's maxConcurrency across both replicas, each taking its share", async () => {
    // Both replicas are live; once each has had a heartbeat since, each has counted the other (N = 2).
    await expectEventually(async () => expect(await liveReplicas()).toBe(2), { timeoutMs: 15_000 });
    const { rows: [{ both }] } = await db.query<{ both: Date }>('SELECT now() AS both');
    await expectEventually(async () => {
      const { rows } = await db.query<{ ok: boolean }>(`SELECT bool_and(seen_at > $1) AS ok FROM "dispatcher".replicas`, [both]);
      expect(rows[0].ok).toBe(true);
    }, { timeoutMs: 3 * REPLICA_HEARTBEAT_MS });

    let inFlight = 0;
    let maxInFlight = 0;
    let served = 0;
    const server = createServer((req, res) => {
      req.resume();
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => {
        inFlight--;
        served++;
        res.writeHead(200);
        res.end();
      }, 300);
    });
    const port = await listen(server);
    try {
      const created = await call('POST', '/integrations', {
        name: 'Slow shared', kind: 'http', request: { method: 'POST', url: `http://127.0.0.1:${port}/slow` },
        trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'SHARED' }] },
        delivery: { maxConcurrency: 2 },
      });
      expect(created.status).toBe(201);
      await probe.publish(...Array.from({ length: 12 }, () => messageReceived(a.tenantId, 'SHARED')));
      await expectEventually(() => expect(served).toBe(12), { timeoutMs: 30_000 });
      // Two replicas, each with a share of 1: never more than the integration's 2 at once at the sink, and 2
      // at once only when both replicas were sending.
      expect(maxInFlight).toBe(2);
    } finally {
      await closeServer(server);
    }
  });
});
