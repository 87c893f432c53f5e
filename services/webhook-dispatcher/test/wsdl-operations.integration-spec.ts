import { createTestInfra, type TestInfra } from '@elo/testing';
import { api, closeAll, FakeEndpoint, keyFor, startApp, tenantApi, tenantWithKey, type RunningApp } from './app.fixture';
import { startSoapServer, type SoapFake } from './fakes.soap-server';

describe('webhook-dispatcher POST /wsdl/operations: the operations of a WSDL for the console (real PostgreSQL, RabbitMQ, soap-package server)', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let pbx: SoapFake;

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_wsdl_ops');
    pbx = await startSoapServer();
    svc = await startApp(infra);
  });

  afterAll(() => closeAll(svc, pbx, infra));

  it('lists each operation with its SOAP versions, action and request parameters in schema order', async () => {
    const a = await tenantWithKey(svc.url);
    const res = await api(svc.url, a.key)('POST', '/wsdl/operations', { wsdlUrl: `${pbx.url}/calls?wsdl` });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      operations: [
        {
          name: 'UpdateCallStatus',
          versions: ['1.1', '1.2'],
          soapAction: 'http://pbx.example/calls/UpdateCallStatus',
          params: [
            { name: 'callId', type: 'string' },
            { name: 'ramal', type: 'string' },
            { name: 'status', type: 'string' },
            { name: 'duration', type: 'int' },
          ],
        },
      ],
    });
  });

  it('a wsdlUrl that is not an absolute http or https URL is a 400 problem naming wsdlUrl, and nothing is fetched', async () => {
    const { call } = await tenantApi(svc.url);
    const endpoint = await new FakeEndpoint().start();
    endpoint.handler = () => ({ status: 404 });
    try {
      for (const wsdlUrl of ['file:///etc/passwd', 'ftp://x/y.wsdl', 'not a url', '/calls?wsdl', `http:${endpoint.url.slice('http://'.length)}/calls?wsdl`]) {
        const res = await call('POST', '/wsdl/operations', { wsdlUrl });
        expect({ wsdlUrl, status: res.status, type: res.headers.get('content-type') })
          .toEqual({ wsdlUrl, status: 400, type: expect.stringContaining('application/problem+json') });
        expect(res.body.errors).toEqual([{ field: 'wsdlUrl', message: expect.stringContaining('must be an absolute http or https URL') }]);
      }
      // Fetched as written: a token would be sent as literal braces, so it is refused too.
      const templated = await call('POST', '/wsdl/operations', { wsdlUrl: `${endpoint.url}/{secret.x}?wsdl` });
      expect(templated.status).toBe(400);
      expect(templated.body.errors).toEqual([{ field: 'wsdlUrl', message: expect.stringContaining('takes no tokens') }]);
      expect(endpoint.received).toEqual([]);
      // The same endpoint, written as an absolute http URL, is fetched (it answers 404: a 422).
      expect((await call('POST', '/wsdl/operations', { wsdlUrl: `${endpoint.url}/calls?wsdl` })).status).toBe(422);
      expect(endpoint.received).toHaveLength(1);
    } finally {
      await endpoint.close();
    }
  });

  it('a WSDL that cannot be read is a 422 problem naming the wsdlUrl field; a key without integrations:manage gets 403', async () => {
    const { tenant: a, call } = await tenantApi(svc.url);
    const missing = await call('POST', '/wsdl/operations', { wsdlUrl: `${pbx.url}/nothing-here` });
    expect(missing.status).toBe(422);
    expect(missing.body.errors).toEqual([{ field: 'wsdlUrl', message: expect.stringContaining('the WSDL could not be read') }]);
    // Fetched through the egress policy: the cloud metadata address is refused before any connection.
    const metadata = await call('POST', '/wsdl/operations', { wsdlUrl: 'http://169.254.169.254/latest/meta-data?wsdl' });
    expect(metadata.status).toBe(422);
    expect(metadata.body.errors[0].message).toMatch(/block|not allowed|refused/i);
    expect((await call('POST', '/wsdl/operations', {})).status).toBe(400);
    const reader = await keyFor(svc.url, a.tenantId, ['integrations:read']);
    expect((await api(svc.url, reader)('POST', '/wsdl/operations', { wsdlUrl: `${pbx.url}/calls?wsdl` })).status).toBe(403);
  });
});
