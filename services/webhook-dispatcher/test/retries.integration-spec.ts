import { randomUUID } from 'node:crypto';
import { createEvent } from '@elo/contracts';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { callEnded, closeAll, expectOneOutcome, FakeEndpoint, messageReceived, startApp, tenantApi, withDb, type Api, type Body, type RunningApp, type Tenant } from './app.fixture';

describe('webhook-dispatcher retries: requested runs, resends, Retry-After, redirects (real PostgreSQL, RabbitMQ, local HTTP endpoints)', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let probe: BusProbe;
  let endpoint: FakeEndpoint;
  let a: Tenant;
  let call: Api;

  const requested = (integration: string, requestId = randomUUID()) => createEvent({
    type: 'integration.requested', tenantId: a.tenantId, source: 'elo://chat-ingress',
    data: { requestId, integration, conversationId: randomUUID(), context: { cep: '01001000' } },
  });
  const integration = (name: string, path: string, retryScheduleSeconds: number[], text = name) => call('POST', '/integrations', {
    name, kind: 'http', request: { method: 'POST', url: `${endpoint.url}${path}` },
    trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: text }] },
    delivery: { retryScheduleSeconds },
  });

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_retries');
    endpoint = await new FakeEndpoint().start();
    // Requested runs: two quick retries and a 20 s deadline (production: 2,5,10 and 90 s).
    svc = await startApp(infra, { DISPATCHER_REQUESTED_RETRY_SECONDS: '0,1', DISPATCHER_REQUESTED_DEADLINE_SECONDS: '20' });
    probe = await BusProbe.connect(infra.amqpUrl, ['integration.#']);
    ({ tenant: a, call } = await tenantApi(svc.url));
  });

  afterAll(() => closeAll(probe, svc, endpoint, infra));

  it('a run a bot flow requested takes the short requested schedule, not the integration\'s hours-long one, and answers failed within seconds', async () => {
    endpoint.handler = (r) => (r.url === '/down' ? { status: 500, body: { error: 'down' } } : { status: 404 });
    const created = await integration('Down for hours', '/down', [3600, 3600, 3600, 3600]);
    expect(created.status).toBe(201);
    const ev = requested('Down for hours');
    const requestId = (ev.data as Body).requestId as string;
    const started = Date.now();
    await probe.publish(ev);
    const failed = await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.requestId === requestId, 15_000);
    expect(Date.now() - started).toBeLessThan(15_000);
    // The first attempt and the two requested retries.
    expect(failed.data).toMatchObject({ integrationId: created.body.id, outcome: 'failed', attempts: 3, httpStatus: 500, errorClass: 'http_status' });
    expect(endpoint.received.filter((r) => r.url === '/down')).toHaveLength(3);

    // An integration whose own schedule has no retries keeps it for requested runs too.
    const once = await integration('No retries', '/down', []);
    const ev2 = requested('No retries');
    await probe.publish(ev2);
    const failed2 = await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.requestId === (ev2.data as Body).requestId, 10_000);
    expect(failed2.data).toMatchObject({ integrationId: once.body.id, attempts: 1 });
  });

  it('a delivery the worker retries later and that finally fails carries the correlation id of the event that caused it', async () => {
    endpoint.handler = (r) => (r.url === '/down-correlated' ? { status: 500 } : { status: 404 });
    const created = await integration('Retried correlated', '/down-correlated', [1], 'RETRIED-CORRELATED');
    expect(created.status).toBe(201);
    const ev = { ...messageReceived(a.tenantId, 'RETRIED-CORRELATED'), correlationid: `corr-${randomUUID()}` };
    await probe.publish(ev);
    const failed = await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.eventId === ev.id, 15_000);
    // The first attempt, and the retry a second later, sent and closed by the worker long after the event was handled.
    expect(failed.data).toMatchObject({ integrationId: created.body.id, outcome: 'failed', attempts: 2, httpStatus: 500 });
    expect(endpoint.received.filter((r) => r.url === '/down-correlated')).toHaveLength(2);
    expect(failed.correlationid).toBe(ev.correlationid);
  });

  it('a requested run gets no retry due after its deadline: a long Retry-After ends it failed at once', async () => {
    endpoint.handler = (r) => (r.url === '/busy' ? { status: 503, headers: { 'retry-after': '120' }, body: { error: 'busy' } } : { status: 404 });
    const created = await integration('Busy', '/busy', [1, 1, 1]);
    const ev = requested('Busy');
    const requestId = (ev.data as Body).requestId as string;
    await probe.publish(ev);
    const failed = await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.requestId === requestId, 10_000);
    expect(failed.data).toMatchObject({ integrationId: created.body.id, attempts: 1, httpStatus: 503 });
    expect(endpoint.received.filter((r) => r.url === '/busy')).toHaveLength(1);
  });

  it('a resend keeps numbering attempts where they stopped, and restarts the retry schedule', async () => {
    let answers = [500, 500, 500, 200];
    endpoint.handler = (r) => (r.url === '/flaky' ? { status: answers.shift() ?? 200 } : { status: 404 });
    const created = await integration('Flaky', '/flaky', [1], 'FLAKY');
    const ev = messageReceived(a.tenantId, 'FLAKY');
    await probe.publish(ev);
    const { deliveryId } = (await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.eventId === ev.id, 15_000)).data;

    expect((await call('POST', `/deliveries/${deliveryId}/resend`)).status).toBe(202);
    // The resent delivery fails once more (attempt 3), is retried on its restarted schedule and succeeds (attempt 4).
    const succeeded = await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.deliveryId === deliveryId, 15_000);
    expect(succeeded.data).toMatchObject({ attempts: 4 });
    const attempts = await call('GET', `/deliveries/${deliveryId}/attempts`);
    expect(attempts.body.map((x: Body) => [x.attempt, x.httpStatus])).toEqual([[1, 500], [2, 500], [3, 500], [4, 200]]);
    const listed = await call('GET', `/integrations/${created.body.id}/deliveries`);
    expect(listed.body[0]).toMatchObject({ id: deliveryId, outcome: 'succeeded', attempts: 4 });
    answers = [];
  });

  it('resends sent at once put a finished delivery back once: it is sent once more, not once per resend', async () => {
    let fail = true;
    const sends: number[] = [];
    // The resend's attempt is held open until every resend has been answered: a resend that came after it
    // finished would rightly put the delivery back again, which a slow machine made happen now and then.
    let answered!: () => void;
    const allAnswered = new Promise<void>((resolve) => (answered = resolve));
    endpoint.handler = async (r) => {
      if (r.url !== '/twice') return { status: 404 };
      sends.push(Date.now());
      if (fail) return { status: 500 };
      await allAnswered;
      return { status: 200 };
    };
    await integration('Twice', '/twice', [], 'TWICE');
    const ev = messageReceived(a.tenantId, 'TWICE');
    await probe.publish(ev);
    const { deliveryId } = (await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.eventId === ev.id, 10_000)).data;
    fail = false;
    const statuses = await Promise.all(Array.from({ length: 20 }, () => call('POST', `/deliveries/${deliveryId}/resend`).then((r) => r.status)));
    answered();
    await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.deliveryId === deliveryId, 10_000);
    // The first attempt, and one for the resend.
    expect(sends).toHaveLength(2);
    // One resend put it back; the others found it pending again.
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s !== 202).every((s) => s === 409)).toBe(true);
  });

  it('a resend is refused (409) while the integration is disabled, and nothing is sent; enabled again, the resend goes out', async () => {
    endpoint.handler = (r) => (r.url === '/paused-resend' ? { status: 500 } : { status: 404 });
    const created = await integration('Paused resend', '/paused-resend', [], 'PAUSED-RESEND');
    const ev = messageReceived(a.tenantId, 'PAUSED-RESEND');
    await probe.publish(ev);
    const { deliveryId } = (await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.eventId === ev.id, 10_000)).data;
    expect((await call('POST', `/integrations/${created.body.id}/disable`)).status).toBe(200);
    const refused = await call('POST', `/deliveries/${deliveryId}/resend`);
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toContain('disabled');
    expect((await call('GET', `/integrations/${created.body.id}/deliveries`)).body).toMatchObject([{ id: deliveryId, outcome: 'failed', attempts: 1 }]);

    endpoint.handler = (r) => (r.url === '/paused-resend' ? { status: 200 } : { status: 404 });
    expect((await call('POST', `/integrations/${created.body.id}/enable`)).status).toBe(200);
    expect((await call('POST', `/deliveries/${deliveryId}/resend`)).status).toBe(202);
    await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.deliveryId === deliveryId, 10_000);
    // The first attempt and the resend: the refused resend sent nothing.
    expect(endpoint.received.filter((r) => r.url === '/paused-resend')).toHaveLength(2);
  });

  it('spreads retries with ±10 % jitter around the schedule: deliveries failed together are not all due at the same moment', async () => {
    endpoint.handler = (r) => (r.url === '/jitter' ? { status: 500 } : { status: 404 });
    const created = await integration('Jittered', '/jitter', [100], 'JITTER');
    const n = 6;
    await probe.publish(...Array.from({ length: n }, () => messageReceived(a.tenantId, 'JITTER')));
    const waits: number[] = [];
    await expectEventually(async () => {
      const list = (await call('GET', `/integrations/${created.body.id}/deliveries`)).body as Body[];
      expect(list.filter((d) => d.outcome === 'pending' && d.attempts === 1)).toHaveLength(n);
      waits.length = 0;
      for (const d of list) {
        const [attempt] = (await call('GET', `/deliveries/${d.id}/attempts`)).body as Body[];
        waits.push(Date.parse(d.nextAttemptAt as string) - Date.parse(attempt.at as string));
      }
    }, { timeoutMs: 15_000 });
    // 100 s ± 10 % from when the attempt's outcome was recorded, which is after the attempt began (its `at`): at least
    // 90 s after it, and at most 110 s plus however long the attempt took (room for a loaded machine).
    for (const wait of waits) {
      expect(wait).toBeGreaterThanOrEqual(89_000);
      expect(wait).toBeLessThanOrEqual(125_000);
    }
    // Without jitter all six would be due 100 s after their attempt, within a few ms of each other; with it, six draws of
    // ±10 s all falling within one second of each other is a chance of about two in a million.
    expect(Math.max(...waits) - Math.min(...waits)).toBeGreaterThan(1_000);
  });

  it('honours Retry-After: the next attempt comes when the response said, not on the schedule', async () => {
    const at: number[] = [];
    endpoint.handler = (r) => {
      if (r.url !== '/later') return { status: 404 };
      at.push(Date.now());
      return at.length === 1 ? { status: 503, headers: { 'retry-after': '5' } } : { status: 200, body: { ok: true } };
    };
    const created = await integration('Later', '/later', [1], 'LATER');
    const ev = messageReceived(a.tenantId, 'LATER');
    await probe.publish(ev);
    await expectEventually(async () => {
      const list = await call('GET', `/integrations/${created.body.id}/deliveries`);
      expect(list.body[0]).toMatchObject({ outcome: 'pending', attempts: 1, lastHttpStatus: 503 });
      // Scheduled from the header (5 s, time enough to look on a loaded machine), not from the schedule (1 s ± 10 %).
      const due = new Date(list.body[0].nextAttemptAt as string).getTime();
      expect(due - at[0]).toBeGreaterThanOrEqual(4_500);
    }, { timeoutMs: 10_000 });
    await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.eventId === ev.id, 15_000);
    expect(at).toHaveLength(2);
    expect(at[1] - at[0]).toBeGreaterThanOrEqual(4_900);
  });

  it('does not follow redirects: a 3xx is a failed attempt and its Location is never requested', async () => {
    endpoint.handler = (r) => (r.url === '/moved' ? { status: 302, headers: { location: '/elsewhere' } } : { status: 200, body: { followed: true } });
    const created = await integration('Moved', '/moved', [], 'MOVED');
    const ev = messageReceived(a.tenantId, 'MOVED');
    await probe.publish(ev);
    const failed = await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.eventId === ev.id, 10_000);
    expect(failed.data).toMatchObject({ integrationId: created.body.id, httpStatus: 302, errorClass: 'http_status', attempts: 1 });
    const attempts = await call('GET', `/deliveries/${failed.data.deliveryId}/attempts`);
    expect(attempts.body).toHaveLength(1);
    expect(attempts.body[0]).toMatchObject({ attempt: 1, httpStatus: 302, errorClass: 'http_status', response: { status: 302, headers: { location: '/elsewhere' } } });
    expect(endpoint.received.map((r) => r.url)).not.toContain('/elsewhere');
  });

  it('filters the deliveries listing by event type, error class and HTTP status, and the cursor keeps those filters', async () => {
    const { tenant: t, call: callT } = await tenantApi(svc.url);
    endpoint.handler = (r) => ({ status: r.url === '/sort/ok' ? 200 : r.url === '/sort/missing' ? 404 : 500 });
    const created = await callT('POST', '/integrations', {
      name: 'Sorter', kind: 'http', request: { method: 'POST', url: `${endpoint.url}/sort/{message.text}` },
      trigger: { eventTypes: ['chat.message.received', 'telephony.call.ended'] }, delivery: { retryScheduleSeconds: [] },
    });
    expect(created.status).toBe(201);
    // No {message.text} in a call: a template failure.
    await probe.publish(...['ok', 'bad', 'bad', 'missing'].map((text) => messageReceived(t.tenantId, text)), callEnded(t.tenantId, { callId: '1.2', ramal: '200', durationSeconds: 3 }));
    const id = created.body.id as string;
    await expectEventually(async () => {
      const all = (await callT('GET', `/integrations/${id}/deliveries`)).body as Body[];
      expect(all.map((d) => d.outcome).sort()).toEqual(['failed', 'failed', 'failed', 'failed', 'succeeded']);
    }, { timeoutMs: 15_000 });

    const q = async (query: string) => ((await callT('GET', `/integrations/${id}/deliveries?${query}`)).body as Body[]);
    expect((await q('eventType=telephony.call.ended')).map((d) => [d.eventType, d.lastErrorClass])).toEqual([['telephony.call.ended', 'template']]);
    expect(await q('errorClass=template')).toHaveLength(1);
    expect(await q('errorClass=http_status')).toHaveLength(3);
    expect((await q('httpStatus=500')).map((d) => d.lastHttpStatus)).toEqual([500, 500]);
    expect((await q('httpStatus=404&eventType=chat.message.received')).map((d) => d.lastHttpStatus)).toEqual([404]);
    expect(await q('httpStatus=200&outcome=succeeded')).toHaveLength(1);
    expect(await q('eventType=chat.message.sent')).toEqual([]);
    // from (inclusive) and to (exclusive) bound created_at: the call's delivery a day before the messages'.
    await withDb(infra, (db) => db.query(
      `UPDATE dispatcher.deliveries SET created_at = CASE WHEN event_type = 'telephony.call.ended' THEN timestamptz '2026-01-01T10:00:00Z'
         ELSE timestamptz '2026-01-02T10:00:00Z' END WHERE integration_id = $1`, [id]));
    const types = async (query: string) => (await q(query)).map((d) => d.eventType as string);
    expect(await types('from=2026-01-02T10:00:00Z')).toEqual(Array(4).fill('chat.message.received'));
    expect(await types('to=2026-01-02T10:00:00Z')).toEqual(['telephony.call.ended']);
    expect(await types('from=2026-01-01T10:00:00Z&to=2026-01-01T10:00:00.001Z')).toEqual(['telephony.call.ended']);
    expect(await types('from=2026-01-01T10:00:00.001Z&to=2026-01-02T10:00:00Z')).toEqual([]);
    expect(await types('from=2026-01-03')).toEqual([]);
    expect(await types('to=2026-01-03&errorClass=http_status')).toHaveLength(3);
    for (const bad of ['httpStatus=abc', 'httpStatus=99', 'errorClass=DROP%20TABLE']) {
      expect({ bad, status: (await callT('GET', `/integrations/${id}/deliveries?${bad}`)).status }).toEqual({ bad, status: 400 });
    }

    // Page by page with limit=1: the cursor alone keeps httpStatus=500.
    const first = await callT('GET', `/integrations/${id}/deliveries?httpStatus=500&limit=1`);
    const cursor = first.headers.get('x-next-cursor')!;
    expect(cursor).toBeTruthy();
    const second = await callT('GET', `/integrations/${id}/deliveries?limit=1&cursor=${encodeURIComponent(cursor)}`);
    expect(second.body.map((d: Body) => d.lastHttpStatus)).toEqual([500]);
    expect(second.headers.get('x-next-cursor')).toBeNull();
    expect((await callT('GET', `/integrations/${id}/deliveries?httpStatus=404&cursor=${encodeURIComponent(cursor)}`)).status).toBe(400);
  });
});
