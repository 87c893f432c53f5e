import { randomUUID } from 'node:crypto';
import { createEvent } from '@elo/contracts';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { closeAll, expectOneOutcome, FakeEndpoint, messageReceived, startApp, tenantApi, withDb, type Api, type RunningApp, type Tenant } from './app.fixture';

/**
 * A run a bot flow requested (`integration.requested`) has a customer waiting on it: it goes ahead of the
 * integration's backlog of event-triggered deliveries, within the integration's limits.
 */
describe('webhook-dispatcher runs a bot flow requested (real PostgreSQL, RabbitMQ, local HTTP endpoints)', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let probe: BusProbe;
  let a: Tenant;
  let call: Api;

  const requested = (integration: string, deadline?: string) => createEvent({
    type: 'integration.requested', tenantId: a.tenantId, source: 'elo://chat-ingress',
    data: { requestId: randomUUID(), integration, conversationId: randomUUID(), context: {}, ...(deadline ? { deadline } : {}) },
  });
  const integration = (name: string, url: string, delivery: Record<string, unknown>) => call('POST', '/integrations', {
    name, kind: 'http', request: { method: 'POST', url },
    trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: name }] },
    delivery,
  });
  /** The integration's deliveries (`status`: only those). */
  const deliveries = (integrationId: string, status?: string) => withDb(infra, async (db) => Number((await db.query(
    `SELECT count(*) AS n FROM "dispatcher".deliveries WHERE integration_id = $1 AND ($2::text IS NULL OR status = $2)`, [integrationId, status ?? null])).rows[0].n));

  /**
   * Publishes a run a bot flow requested and answers how many requests the endpoint had got once its delivery was
   * seen written: none of those waited for it, so a run that goes first is sent next (or one later, when a claim
   * was already under way).
   */
  const publishRequested = async (ev: ReturnType<typeof requested>, endpoint: FakeEndpoint): Promise<number> => {
    await probe.publish(ev);
    return expectEventually(async () => {
      const written = await withDb(infra, async (db) => (await db.query(
        `SELECT 1 FROM "dispatcher".deliveries WHERE event_id = $1`, [ev.id])).rowCount);
      expect(written).toBe(1);
      return endpoint.received.length;
    }, { timeoutMs: 10_000 });
  };

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_requested');
    svc = await startApp(infra);
    probe = await BusProbe.connect(infra.amqpUrl, ['integration.#']);
    ({ tenant: a, call } = await tenantApi(svc.url));
  });

  afterAll(() => closeAll(probe, svc, infra));

  it("answers in its request's correlation id: the outcome of a run a bot flow requested carries the request's", async () => {
    const endpoint = await new FakeEndpoint().start();
    endpoint.handler = () => ({ status: 200, body: { protocolo: 'P-9' } });
    try {
      const created = await integration('Correlated run', `${endpoint.url}/r`, {});
      expect(created.status).toBe(201);
      const ev = { ...requested('Correlated run'), correlationid: `corr-${randomUUID()}` };
      await probe.publish(ev);
      const outcome = await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.requestId === (ev.data as { requestId: string }).requestId, 10_000);
      expect(outcome.data).toMatchObject({ integrationId: created.body.id, response: { protocolo: 'P-9' } });
      expect(outcome.correlationid).toBe(ev.correlationid);
    } finally {
      await endpoint.close();
    }
  });

  it('goes ahead of a backlog its rate limit holds back, and still takes one of its tokens', async () => {
    const endpoint = await new FakeEndpoint().start();
    const at: number[] = [];
    endpoint.handler = () => {
      at.push(Date.now());
      return { status: 200, body: { ok: true } };
    };
    const backlog = 8;
    try {
      // 1 a second (a burst of 1): the backlog takes about 8 s to drain. One token is a whole second, so a run that took
      // none shows, even through the scheduling delays of a loaded machine (hundreds of ms) in the arrival times.
      const created = await integration('Rate limited backlog', `${endpoint.url}/r`, { rateLimitPerSecond: 1 });
      expect(created.status).toBe(201);
      await probe.publish(...Array.from({ length: backlog }, () => messageReceived(a.tenantId, 'Rate limited backlog')));
      await expectEventually(async () => expect(await deliveries(created.body.id as string)).toBe(backlog), { timeoutMs: 10_000 });
      await expectEventually(() => expect(endpoint.received.length).toBeGreaterThanOrEqual(2), { timeoutMs: 10_000 });

      const ev = requested('Rate limited backlog');
      const sentBefore = await publishRequested(ev, endpoint);
      const outcome = await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.requestId === (ev.data as { requestId: string }).requestId, 10_000);
      // Answered while most of the backlog still waits: it took the next token, not the last.
      expect(endpoint.received.length).toBeLessThan(backlog);
      expect(await deliveries(created.body.id as string, 'pending')).toBeGreaterThan(0);
      const position = endpoint.received.findIndex((r) => r.headers['webhook-id'] === outcome.data.deliveryId);
      expect(position).toBeGreaterThanOrEqual(0);
      expect(position).toBeLessThanOrEqual(sentBefore + 1);

      await expectEventually(() => expect(at).toHaveLength(backlog + 1), { timeoutMs: 20_000 });
      // It counted against the limit: 9 requests at 1 a second after a burst of 1 take at least 8 s (7 s had it taken none).
      expect(at[backlog] - at[0]).toBeGreaterThanOrEqual(backlog * 1000 - 500);
    } finally {
      await endpoint.close();
    }
  });

  it('goes ahead of a backlog its concurrency limit holds back, and still takes its one slot', async () => {
    const endpoint = await new FakeEndpoint().start();
    let inFlight = 0;
    let maxInFlight = 0;
    // The endpoint holds the backlog's requests (each keeping the one slot) from its third until the requested run is
    // written, and again from the requested run's request until its outcome is seen: however slow those steps, the
    // backlog cannot have drained before the run exists, nor after it before it is answered.
    let backlogSeen = 0;
    let requestedWritten = false;
    let requestedSent = false;
    let outcomeSeen = false;
    const heldBack: Array<() => void> = [];
    const release = () => heldBack.splice(0).forEach((go) => go());
    endpoint.handler = (r) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const answer = () => new Promise<{ status: number; body: unknown }>((resolve) => setTimeout(() => {
        inFlight--;
        resolve({ status: 200, body: { ok: true } });
      }, 300));
      if (r.url === '/c/integration.requested') {
        requestedSent = true;
        return answer();
      }
      const hold = (++backlogSeen > 2 && !requestedWritten) || (requestedSent && !outcomeSeen);
      return hold ? new Promise((resolve) => heldBack.push(() => resolve(answer()))) : answer();
    };
    const backlog = 12;
    try {
      const created = await integration('One at a time backlog', `${endpoint.url}/c/{event.type}`, { maxConcurrency: 1 });
      expect(created.status).toBe(201);
      await probe.publish(...Array.from({ length: backlog }, () => messageReceived(a.tenantId, 'One at a time backlog')));
      await expectEventually(async () => expect(await deliveries(created.body.id as string)).toBe(backlog), { timeoutMs: 10_000 });
      await expectEventually(() => expect(endpoint.received.length).toBeGreaterThanOrEqual(2), { timeoutMs: 10_000 });

      const ev = requested('One at a time backlog');
      const sentBefore = await publishRequested(ev, endpoint);
      requestedWritten = true;
      release();
      const outcome = await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.requestId === (ev.data as { requestId: string }).requestId, 10_000);
      expect(endpoint.received.length).toBeLessThan(backlog);
      const position = endpoint.received.findIndex((r) => r.headers['webhook-id'] === outcome.data.deliveryId);
      expect(position).toBeGreaterThanOrEqual(0);
      expect(position).toBeLessThanOrEqual(sentBefore + 1);

      outcomeSeen = true;
      release();
      await expectEventually(() => expect(endpoint.received).toHaveLength(backlog + 1), { timeoutMs: 20_000 });
      expect(maxInFlight).toBe(1);
    } finally {
      requestedWritten = true;
      outcomeSeen = true;
      release();
      await endpoint.close();
    }
  });

  it('is not sent when it is claimed only after its requester stopped waiting (failed, expired); a resend by hand sends it', async () => {
    const endpoint = await new FakeEndpoint().start();
    // The one slot is taken by a request the endpoint holds until told to answer.
    const held: Array<() => void> = [];
    endpoint.handler = () => new Promise((resolve) => held.push(() => resolve({ status: 200, body: { ok: true } })));
    try {
      const created = await integration('Held slot', `${endpoint.url}/h`, { maxConcurrency: 1 });
      expect(created.status).toBe(201);
      await probe.publish(messageReceived(a.tenantId, 'Held slot'));
      await expectEventually(() => expect(held).toHaveLength(1), { timeoutMs: 10_000 });

      // The flow waits 1.5 s for this run; the slot is still taken when that wait ends.
      const deadline = new Date(Date.now() + 1_500).toISOString();
      const ev = requested('Held slot', deadline);
      const requestId = (ev.data as { requestId: string }).requestId;
      await probe.publish(ev);
      await expectEventually(async () => expect(await deliveries(created.body.id as string, 'pending')).toBe(2), { timeoutMs: 10_000 });
      await expectEventually(() => expect(Date.now()).toBeGreaterThan(Date.parse(deadline)), { timeoutMs: 5_000 });
      held.splice(0).forEach((answer) => answer());

      const failed = await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.requestId === requestId, 10_000);
      expect(failed.data).toMatchObject({ integrationId: created.body.id, outcome: 'failed', errorClass: 'expired', attempts: 1 });
      expect(failed.data.error).toContain(deadline);
      expect(endpoint.received).toHaveLength(1);
      expect(endpoint.received.some((r) => r.headers['webhook-id'] === failed.data.deliveryId)).toBe(false);

      // Someone resending it by hand wants it sent, deadline or not.
      endpoint.handler = () => ({ status: 200, body: { ok: true } });
      expect((await call('POST', `/deliveries/${failed.data.deliveryId}/resend`)).status).toBe(202);
      const succeeded = await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.requestId === requestId, 10_000);
      expect(succeeded.data).toMatchObject({ deliveryId: failed.data.deliveryId, attempts: 2 });
      expect(endpoint.received.filter((r) => r.headers['webhook-id'] === failed.data.deliveryId)).toHaveLength(1);
    } finally {
      held.splice(0).forEach((answer) => answer());
      await endpoint.close();
    }
  });
});
