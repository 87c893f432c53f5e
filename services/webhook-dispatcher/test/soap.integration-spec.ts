import type { IntegrationDeliveryOutcome } from '@elo/contracts';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { callEnded, closeAll, expectOneOutcome, FakeEndpoint, startApp, tenantApi, type Api, type RunningApp, type Tenant } from './app.fixture';
import { callStatusWsdl, startSoapServer, type SoapFake } from './fakes.soap-server';

describe('webhook-dispatcher SOAP and call status pushes (real PostgreSQL, RabbitMQ, a soap-package server)', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let probe: BusProbe;
  let pbxSoap: SoapFake;
  let a: Tenant;
  let call: Api;

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_soap');
    pbxSoap = await startSoapServer();
    svc = await startApp(infra);
    probe = await BusProbe.connect(infra.amqpUrl, ['integration.#']);
    ({ tenant: a, call } = await tenantApi(svc.url));
  });

  afterAll(() => closeAll(probe, svc, pbxSoap, infra));

  it('telephony.call.ended pushes the call status to a REST endpoint', async () => {
    const remote = await new FakeEndpoint().start();
    try {
      await call('POST', '/integrations', {
        name: 'Call status REST', kind: 'http',
        request: { method: 'POST', url: `${remote.url}/calls/{callId}/status`, body: { kind: 'form', pairs: [{ key: 'ramal', value: '{ramal}' }, { key: 'status', value: '{disposition}' }] } },
        trigger: { eventTypes: ['telephony.call.ended'] },
      });
      await probe.publish(callEnded(a.tenantId, { callId: '1537276453.47245539' }));
      await expectEventually(() => expect(remote.received).toHaveLength(1), { timeoutMs: 15_000 });
      expect(remote.received[0].url).toBe('/calls/1537276453.47245539/status');
      expect(remote.received[0].body).toBe('ramal=2001&status=ANSWERED');
    } finally {
      await remote.close();
    }
  });

  it('the same push to a SOAP endpoint: WSDL fetched, SOAP 1.1 envelope, response turned into JSON', async () => {
    const created = await call('POST', '/integrations', {
      name: 'Call status SOAP', kind: 'soap',
      soap: {
        wsdlUrl: `${pbxSoap.url}/calls?wsdl`, operation: 'UpdateCallStatus', version: '1.1',
        params: [{ name: 'callId', value: '{callId}' }, { name: 'ramal', value: '{ramal}' }, { name: 'status', value: '{disposition}' }, { name: 'duration', value: '{durationSeconds}' }],
      },
      trigger: { eventTypes: ['telephony.call.ended'] },
    });
    expect(created.status).toBe(201);
    expect(created.body.soap).toMatchObject({ operation: 'UpdateCallStatus' });

    const preview = await call('POST', `/integrations/${created.body.id}/preview`, { data: { callId: 'c<1>', ramal: '1', disposition: 'X', durationSeconds: 1 } });
    expect(preview.status).toBe(200);
    expect(preview.body.request.headers).toMatchObject({ SOAPAction: '"http://pbx.example/calls/UpdateCallStatus"', 'Content-Type': 'text/xml; charset=utf-8' });
    expect(preview.body.request.body).toContain('<tns:callId>c&lt;1&gt;</tns:callId>');

    const callId = '1537276999.1';
    await probe.publish(callEnded(a.tenantId, { callId }));
    const ok = await expectOneOutcome(probe, 'integration.delivery.succeeded', (o) => o.integrationId === created.body.id, 15_000);
    expect(pbxSoap.calls).toEqual([{ callId, ramal: '2001', status: 'ANSWERED', duration: 42 }]);
    expect(ok.data.response).toMatchObject({ UpdateCallStatusResponse: { accepted: true, ticket: `T-${callId}` } });
  });

  it('calls the SOAP 1.2 binding with an application/soap+xml envelope', async () => {
    const created = await call('POST', '/integrations', {
      name: 'Call status SOAP 1.2', kind: 'soap',
      soap: {
        wsdlUrl: `${pbxSoap.url}/calls?wsdl`, operation: 'UpdateCallStatus', version: '1.2',
        params: [{ name: 'callId', value: '{callId}' }, { name: 'ramal', value: '{ramal}' }, { name: 'status', value: 'done' }, { name: 'duration', value: '1' }],
      },
      trigger: { eventTypes: ['telephony.call.ended'] },
    });
    const preview = await call('POST', `/integrations/${created.body.id}/preview`, { data: { callId: 'p', ramal: '1' } });
    expect(preview.body.request.headers['Content-Type']).toBe('application/soap+xml; charset=utf-8; action="http://pbx.example/calls/UpdateCallStatus"');
    expect(preview.body.request.body).toContain('http://www.w3.org/2003/05/soap-envelope');
    const test = await call('POST', `/integrations/${created.body.id}/test`, { data: { callId: 'x12', ramal: '7' } });
    expect(test.body).toMatchObject({ ok: true, httpStatus: 200 });
    // The soap package serves both ports on one path and answers in its own envelope; what matters is that
    // it accepted the SOAP 1.2 request and the answer came back as JSON.
    expect(test.body.parsed).toMatchObject({ UpdateCallStatusResponse: { accepted: true, ticket: 'T-x12' } });
    expect(test.body.request.headers['Content-Type']).toContain('application/soap+xml');
  });

  it("an integration's own content-type and soapaction headers, whatever their case, give way to the SOAP version's: one of each", async () => {
    const created = await call('POST', '/integrations', {
      name: 'SOAP own headers', kind: 'soap',
      soap: {
        wsdlUrl: `${pbxSoap.url}/calls?wsdl`, operation: 'UpdateCallStatus', version: '1.1',
        params: [{ name: 'callId', value: '{callId}' }, { name: 'ramal', value: '{ramal}' }, { name: 'status', value: 'done' }, { name: 'duration', value: '1' }],
        headers: 'content-type: application/xml\nsoapaction: "urn:other"\nX-Tenant: 9',
      },
      trigger: { eventTypes: ['telephony.call.ended'] },
    });
    expect(created.status).toBe(201);
    const before = pbxSoap.posted.length;
    const test = await call('POST', `/integrations/${created.body.id}/test`, { data: { callId: 'own1', ramal: '7' } });
    expect(test.body).toMatchObject({ ok: true, httpStatus: 200 });
    expect(pbxSoap.posted).toHaveLength(before + 1);
    expect(pbxSoap.posted[before]).toMatchObject({
      'content-type': 'text/xml; charset=utf-8', soapaction: '"http://pbx.example/calls/UpdateCallStatus"', 'x-tenant': '9',
    });
    expect(Object.keys(test.body.request.headers as Record<string, string>).filter((n) => /^(content-type|soapaction)$/i.test(n))).toHaveLength(2);
  });

  it('a SOAP Fault, or a page that is no SOAP envelope, answered with a 200 is a failed call, not a success', async () => {
    // Serves the call-status WSDL at /<case>.wsdl, its operation at /<case>/calls answering as the case says.
    const remote = await new FakeEndpoint().start();
    const fault = '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
      + '<faultcode>soap:Server</faultcode><faultstring>call not found</faultstring></soap:Fault></soap:Body></soap:Envelope>';
    remote.handler = (r) => {
      const [, kind, wsdl] = /^\/(fault|html)(\.wsdl)?/.exec(r.url) ?? [];
      if (!kind) return { status: 404 };
      if (wsdl) return { status: 200, body: callStatusWsdl(`${remote.url}/${kind}`), headers: { 'content-type': 'text/xml' } };
      return kind === 'fault'
        ? { status: 200, body: fault, headers: { 'content-type': 'text/xml; charset=utf-8' } }
        : { status: 200, body: '<html><body>Service Unavailable</body></html>', headers: { 'content-type': 'text/html' } };
    };
    try {
      const make = (kind: string) => call('POST', '/integrations', {
        name: `SOAP ${kind} answer`, kind: 'soap',
        soap: { wsdlUrl: `${remote.url}/${kind}.wsdl`, operation: 'UpdateCallStatus', version: '1.1', params: [{ name: 'callId', value: '{callId}' }] },
        trigger: { eventTypes: ['telephony.call.ended'] }, delivery: { retryScheduleSeconds: [] },
      });
      const faulty = await make('fault');
      const html = await make('html');
      expect([faulty.status, html.status]).toEqual([201, 201]);
      await probe.publish(callEnded(a.tenantId, { callId: '1537277001.3' }));
      const failedFault = await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.integrationId === faulty.body.id, 15_000);
      expect(failedFault.data).toMatchObject({ outcome: 'failed', httpStatus: 200, errorClass: 'http_status', attempts: 1 });
      expect(failedFault.data.error).toContain('SOAP fault');
      const failedHtml = await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.integrationId === html.body.id, 15_000);
      expect(failedHtml.data).toMatchObject({ outcome: 'failed', httpStatus: 200, attempts: 1 });
      expect(failedHtml.data.error).toContain('not a SOAP envelope');
      expect(probe.ofType<IntegrationDeliveryOutcome>('integration.delivery.succeeded').filter((o) => [faulty.body.id, html.body.id].includes(o.data.integrationId))).toEqual([]);
      expect(remote.received.filter((r) => r.method === 'POST').map((r) => r.url).sort()).toEqual(['/fault/calls', '/html/calls']);
    } finally {
      await remote.close();
    }
  });

  it('refuses a WSDL with a DOCTYPE (no external entities): the delivery fails without retrying', async () => {
    const evil = await new FakeEndpoint().start();
    evil.handler = () => ({
      status: 200,
      body: '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><definitions>&x;</definitions>',
      headers: { 'content-type': 'text/xml' },
    });
    try {
      const created = await call('POST', '/integrations', {
        name: 'Evil WSDL', kind: 'soap',
        soap: { wsdlUrl: `${evil.url}/wsdl`, operation: 'Op', params: [] },
        trigger: { eventTypes: ['telephony.call.ended'] },
      });
      await probe.publish(callEnded(a.tenantId, { callId: '1537277000.2' }));
      const failed = await expectOneOutcome(probe, 'integration.delivery.failed', (o) => o.integrationId === created.body.id, 15_000);
      expect(failed.data).toMatchObject({ attempts: 1, errorClass: 'invalid' });
      expect(failed.data.error).toContain('DOCTYPE');
    } finally {
      await evil.close();
    }
  });
});
