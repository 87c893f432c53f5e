import { createEvent } from '@elo/contracts';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, type TestInfra } from '@elo/testing';
import { callEnded, closeAll, expectOneOutcome, FakeEndpoint, startApp, tenantApi, type Api, type RunningApp, type Tenant } from './app.fixture';

/**
 * A trigger's filter names the event's fields as its tokens do: by their path inside `data` (`ramal`) and the same
 * under the name of the entity the event type names (`call.ramal` for `telephony.call.*`, `viability.status` for
 * `viability.checked`), the names the issue gives the event's fields.
 */
describe('webhook-dispatcher trigger filters (real PostgreSQL, RabbitMQ, a local endpoint)', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let probe: BusProbe;
  let hook: FakeEndpoint;
  let a: Tenant;
  let call: Api;

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_trigger_filters');
    hook = await new FakeEndpoint().start();
    svc = await startApp(infra);
    probe = await BusProbe.connect(infra.amqpUrl, ['integration.#']);
    ({ tenant: a, call } = await tenantApi(svc.url));
  });

  afterAll(() => closeAll(probe, svc, hook, infra));

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
