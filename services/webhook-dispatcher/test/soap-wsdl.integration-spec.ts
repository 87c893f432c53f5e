import type { IntegrationDeliveryOutcome } from '@elo/contracts';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { callEnded, closeAll, expectOneOutcome, FakeEndpoint, startApp, tenantApi, type Body, type RunningApp } from './app.fixture';
import { callStatusWsdl, startSoapServer, type SoapFake } from './fakes.soap-server';

describe('webhook-dispatcher SOAP: a WSDL server that is down for a moment (real PostgreSQL, RabbitMQ, soap-package server)', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let probe: BusProbe;
  let pbxSoap: SoapFake;
  let wsdlHost: FakeEndpoint;

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_soap_wsdl');
    pbxSoap = await startSoapServer();
    wsdlHost = await new FakeEndpoint().start();
    svc = await startApp(infra);
    probe = await BusProbe.connect(infra.amqpUrl, ['integration.#']);
  });

  afterAll(() => closeAll(probe, svc, wsdlHost, pbxSoap, infra));

  it('retries on the schedule while the WSDL answers 503 (not a permanent failure), then calls the operation', async () => {
    let wsdlUp = false;
    wsdlHost.handler = () => (wsdlUp ? { status: 200, body: callStatusWsdl(pbxSoap.url), headers: { 'content-type': 'text/xml' } } : { status: 503, body: 'maintenance' });
    const { tenant: a, call } = await tenantApi(svc.url);
    const created = await call('POST', '/integrations', {
      name: 'Call status SOAP, flaky WSDL', kind: 'soap',
      soap: {
        wsdlUrl: `${wsdlHost.url}/calls.wsdl`, operation: 'UpdateCallStatus', version: '1.1',
        params: [{ name: 'callId', value: '{callId}' }, { name: 'ramal', value: '{ramal}' }, { name: 'status', value: '{disposition}' }, { name: 'duration', value: '{durationSeconds}' }],
      },
      trigger: { eventTypes: ['telephony.call.ended'] },
      delivery: { retryScheduleSeconds: [1, 1, 1] },
    });
    expect(created.status).toBe(201);

    const callId = '1537276453.47245539';
    await probe.publish(callEnded(a.tenantId, { callId, durationSeconds: 7 }));
    const id = created.body.id as string;
    // Failed on the 503 and waiting for a retry; a slow look may find it after the first retry (due 1 s later) already.
    await expectEventually(async () => {
      const list = await call('GET', `/integrations/${id}/deliveries`);
      expect(list.body[0]).toMatchObject({ outcome: 'pending', lastErrorClass: 'http_status' });
      expect(list.body[0].attempts).toBeGreaterThanOrEqual(1);
    }, { timeoutMs: 15_000 });
    wsdlUp = true;
    const ok = await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.integrationId === id, 15_000);
    expect(ok.data.attempts).toBeGreaterThanOrEqual(2);
    expect(ok.data.response).toMatchObject({ UpdateCallStatusResponse: { accepted: true, ticket: `T-${callId}` } });
    expect(pbxSoap.calls).toEqual([{ callId, ramal: '2001', status: 'ANSWERED', duration: 7 }]);
    const attempts = await call('GET', `/deliveries/${ok.data.deliveryId}/attempts`);
    expect(attempts.body[0]).toMatchObject({ errorClass: 'http_status', error: 'WSDL fetch answered HTTP 503' });
    expect((attempts.body as Body[]).at(-1)).toMatchObject({ httpStatus: 200 });

    // The WSDL is cached (10 minutes): the next call is made without fetching it again.
    const fetched = wsdlHost.received.length;
    const next = callEnded(a.tenantId, { callId: '1537276453.2', durationSeconds: 9 });
    await probe.publish(next);
    await expectEventually(() => expect(probe.ofType<IntegrationDeliveryOutcome>('integration.delivery.succeeded').filter((o) => o.data.eventId === next.id)).toHaveLength(1), { timeoutMs: 15_000 });
    expect(pbxSoap.calls).toHaveLength(2);
    expect(wsdlHost.received).toHaveLength(fetched);
  });
});
