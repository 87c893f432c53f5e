import { BusProbe } from '@elo/messaging';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { closeAll, FakeEndpoint, messageReceived, startApp, tenantApi, withDb, type Api, type Body, type RunningApp, type Tenant } from './app.fixture';

describe('webhook-dispatcher listings paged by cursor (real PostgreSQL, RabbitMQ, a local endpoint)', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let probe: BusProbe;
  let sink: FakeEndpoint;
  let a: Tenant;
  let call: Api;

  /** Every page of `path` (with `query`), following X-Next-Cursor with the cursor alone. */
  async function pages(path: string, query: string): Promise<Body[][]> {
    const out: Body[][] = [];
    let next: string | null = null;
    do {
      const res = await call('GET', `${path}?${next ? `cursor=${encodeURIComponent(next)}&limit=3` : query}`);
      expect(res.status).toBe(200);
      out.push(res.body as unknown as Body[]);
      next = res.headers.get('x-next-cursor');
    } while (next && out.length < 20);
    return out;
  }

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_pagination');
    sink = await new FakeEndpoint().start();
    svc = await startApp(infra);
    probe = await BusProbe.connect(infra.amqpUrl, []);
    ({ tenant: a, call } = await tenantApi(svc.url));
  });

  afterAll(() => closeAll(probe, svc, sink, infra));

  it('pages deliveries newest first in a stable order, keeping the filters in the cursor; bad cursors are 400', async () => {
    sink.handler = (r) => (r.body.includes('FAIL') ? { status: 400 } : { status: 200 });
    const created = await call('POST', '/integrations', {
      name: 'Paged', kind: 'http', request: { method: 'POST', url: `${sink.url}/p`, body: { kind: 'keyvalue', pairs: [{ key: 't', value: '{message.text}' }] } },
      trigger: { eventTypes: ['chat.message.received'] }, delivery: { retryScheduleSeconds: [] },
    });
    const id = created.body.id as string;
    await probe.publish(...Array.from({ length: 7 }, (_, i) => messageReceived(a.tenantId, `OK ${i}`)), ...Array.from({ length: 2 }, () => messageReceived(a.tenantId, 'FAIL')));
    await expectEventually(async () => {
      const all = await call('GET', `/integrations/${id}/deliveries`);
      expect((all.body as unknown as Body[]).filter((d) => d.outcome !== 'pending')).toHaveLength(9);
    }, { timeoutMs: 15_000 });
    // Same created_at for several rows: the id breaks the tie, so pages neither skip nor repeat one.
    await withDb(infra, (db) => db.query(`UPDATE dispatcher.deliveries SET created_at = date_trunc('second', now()) WHERE integration_id = $1 AND status = 'succeeded'
      AND id IN (SELECT id FROM dispatcher.deliveries WHERE integration_id = $1 AND status = 'succeeded' ORDER BY id LIMIT 4)`, [id]));

    const whole = (await call('GET', `/integrations/${id}/deliveries?outcome=succeeded&limit=500`));
    expect(whole.headers.get('x-next-cursor')).toBeNull();
    const expected = (whole.body as unknown as Body[]).map((d) => d.id as string);
    expect(expected).toHaveLength(7);

    const got = await pages(`/integrations/${id}/deliveries`, 'outcome=succeeded&limit=3&from=2020-01-01T00:00:00Z');
    expect(got.map((p) => p.length)).toEqual([3, 3, 1]);
    // The cursor alone kept outcome=succeeded: no failed delivery on any page.
    expect(got.flat().every((d) => d.outcome === 'succeeded')).toBe(true);
    expect(got.flat().map((d) => d.id)).toEqual(expected);
    const times = got.flat().map((d) => Date.parse(d.createdAt as string));
    expect([...times].sort((x, y) => y - x)).toEqual(times);

    // The old parameters still work on their own, and the filters combine with the cursor when repeated.
    expect((await call('GET', `/integrations/${id}/deliveries?outcome=failed`)).body).toHaveLength(2);
    const first = await call('GET', `/integrations/${id}/deliveries?outcome=succeeded&limit=3`);
    const cursor = first.headers.get('x-next-cursor')!;
    const again = await call('GET', `/integrations/${id}/deliveries?outcome=succeeded&limit=3&cursor=${encodeURIComponent(cursor)}`);
    expect((again.body as unknown as Body[]).map((d) => d.id)).toEqual(expected.slice(3, 6));
    const conflicting = await call('GET', `/integrations/${id}/deliveries?outcome=failed&cursor=${encodeURIComponent(cursor)}`);
    expect(conflicting.status).toBe(400);
    expect(conflicting.body.detail).toContain('outcome');
    // A filter the first page did not have would change the listing halfway through: a 400 too.
    const added = await call('GET', `/integrations/${id}/deliveries?outcome=succeeded&errorClass=timeout&cursor=${encodeURIComponent(cursor)}`);
    expect(added.status).toBe(400);
    expect(added.body.detail).toContain('errorClass');

    for (const bad of ['x', 'eyJrIjoiMSJ9', Buffer.from('{"k":"99999999999999999999","id":"00000000-0000-4000-8000-000000000000"}').toString('base64url'),
      Buffer.from('{"k":"1","id":"00000000-0000-4000-8000-000000000000","f":{"from":"2026-02-30T00:00:00Z"}}').toString('base64url')]) {
      const res = await call('GET', `/integrations/${id}/deliveries?cursor=${bad}`);
      expect(res.status).toBe(400);
      expect(res.body.detail).toContain('cursor');
    }
  });

  it('answers 400 naming from or to for an ISO 8601 form PostgreSQL cannot read (a bare year, a week date), never a 500', async () => {
    const created = await call('POST', '/integrations', {
      name: 'Dated', kind: 'http', request: { method: 'POST', url: `${sink.url}/d` }, trigger: { eventTypes: ['chat.message.received'] },
    });
    for (const [k, v] of [['from', '2026'], ['to', '2026-W01'], ['from', '2026-W01-1'], ['to', '2026-01-01T10']]) {
      const res = await call('GET', `/integrations/${created.body.id}/deliveries?${k}=${v}`);
      expect([k, v, res.status]).toEqual([k, v, 400]);
      expect(res.body.detail).toContain(k);
    }
    const forged = Buffer.from('{"k":"1","id":"00000000-0000-4000-8000-000000000000","f":{"from":"2026"}}').toString('base64url');
    expect((await call('GET', `/integrations/${created.body.id}/deliveries?cursor=${forged}`)).status).toBe(400);
    // Forms PostgreSQL reads stay accepted.
    for (const v of ['2026-01-01', '2026-01-01T10:00:00Z', '2026-01-01T10:00:00.123456+03:00']) {
      expect((await call('GET', `/integrations/${created.body.id}/deliveries?from=${encodeURIComponent(v)}`)).status).toBe(200);
    }
  });

  it('pages the attempts of a delivery, first to last', async () => {
    sink.handler = () => ({ status: 503 });
    const created = await call('POST', '/integrations', {
      name: 'Retried', kind: 'http', request: { method: 'POST', url: `${sink.url}/r` },
      trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: 'RETRY' }] },
      delivery: { retryScheduleSeconds: [0, 0, 0, 0] },
    });
    // The attempt ids straddle a power of ten (from 98 on): ordered as text, 100 would come before 98 and 99.
    await withDb(infra, (db) => db.query(`SELECT setval(pg_get_serial_sequence('dispatcher.attempts', 'id'), 97)`));
    await probe.publish(messageReceived(a.tenantId, 'RETRY'));
    let deliveryId = '';
    await expectEventually(async () => {
      const list = await call('GET', `/integrations/${created.body.id}/deliveries?outcome=failed`);
      expect(list.body).toHaveLength(1);
      deliveryId = list.body[0].id as string;
    }, { timeoutMs: 15_000 });
    const all = await call('GET', `/deliveries/${deliveryId}/attempts`);
    expect((all.body as unknown as Body[]).map((x) => x.attempt)).toEqual([1, 2, 3, 4, 5]);
    const got = await pages(`/deliveries/${deliveryId}/attempts`, 'limit=3');
    expect(got.map((p) => p.map((x) => x.attempt))).toEqual([[1, 2, 3], [4, 5]]);
    const byTwo = await pages(`/deliveries/${deliveryId}/attempts`, 'limit=2');
    expect(byTwo.flat().map((x) => x.attempt)).toEqual([1, 2, 3, 4, 5]);
    // Documented in the OpenAPI: the cursor parameter and the header carrying the next one.
    const doc = (await (await fetch(`${svc.url}/docs/openapi.json`)).json()) as Body;
    for (const path of ['/integrations/{id}/deliveries', '/deliveries/{id}/attempts']) {
      const op = doc.paths[path].get as Body;
      expect((op.parameters as Body[]).map((x) => x.name)).toEqual(expect.arrayContaining(['cursor', 'limit']));
      expect(op.responses['200'].headers['X-Next-Cursor']).toBeDefined();
    }
    const wrongKind = await call('GET', `/integrations/${created.body.id}/deliveries?cursor=${Buffer.from('{"k":"3"}').toString('base64url')}`);
    expect(wrongKind.status).toBe(400);
  });

  it('documents the integration bodies field by field in OpenAPI', async () => {
    const doc = (await (await fetch(`${svc.url}/docs/openapi.json`)).json()) as { components: { schemas: Record<string, { properties?: Record<string, unknown> }> } };
    const fields = (name: string) => Object.keys(doc.components.schemas[name]?.properties ?? {});
    expect(fields('CreateIntegrationDto')).toEqual(expect.arrayContaining(['name', 'description', 'kind', 'request', 'soap', 'trigger', 'delivery', 'secrets', 'reply', 'enabled']));
    expect(fields('UpdateIntegrationDto')).toEqual(expect.arrayContaining(['name', 'request', 'soap', 'trigger', 'delivery', 'secrets', 'reply']));
    expect(fields('HttpRequestDto')).toEqual(expect.arrayContaining(['method', 'url', 'headers', 'query', 'body', 'auth']));
    expect(fields('SoapRequestDto')).toEqual(expect.arrayContaining(['wsdlUrl', 'operation', 'version', 'params']));
    expect(fields('TriggerDto')).toEqual(['eventTypes', 'filter']);
    expect(fields('SampleEventDto')).toEqual(['type', 'data']);
    expect(fields('WsdlOperationsDto')).toEqual(['wsdlUrl']);
  });
});
