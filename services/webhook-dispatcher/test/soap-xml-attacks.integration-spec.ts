import { createServer, type Server } from 'node:http';
import { createTestInfra, type TestInfra } from '@elo/testing';
import { api, listen, startApp, tenantWithKey, type RunningApp } from './app.fixture';
import { callStatusWsdl } from './fakes.soap-server';
import { bytesOf, soapResponse, wsdl, xmlAttacks } from './fakes.xml-attacks';

/*
 * Hostile XML from a real HTTP server, through both places webhook-dispatcher reads XML from outside:
 * the WSDL it fetches (the console's operation picker and an integration's Test) and the SOAP response
 * of the operation it calls. Every document is refused with a reason, nothing is expanded (the answers
 * stay small and quick), and no external entity is ever fetched (the server's canary path stays unhit).
 */
describe('webhook-dispatcher SOAP: external entities and entity bombs in WSDLs and responses (real HTTP server)', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let xmlHost: Server;
  let base: string;
  const canaryHits: string[] = [];
  const attacks = () => xmlAttacks(`${base}/canary`);
  let call: ReturnType<typeof api>;

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_soap_xml');
    xmlHost = createServer((req, res) => {
      req.resume();
      const path = req.url ?? '';
      const [, kind, index] = /^\/(evil-wsdl|evil-soap|good-wsdl)\/(\d+)/.exec(path) ?? [];
      if (path.startsWith('/canary')) canaryHits.push(path);
      const attack = index === undefined ? undefined : attacks()[Number(index)];
      if (!attack) return res.writeHead(404).end();
      const body =
        kind === 'evil-wsdl' ? bytesOf(attack, wsdl(attack))
          : kind === 'evil-soap' ? bytesOf(attack, soapResponse(attack))
            // A valid WSDL whose operation endpoint answers the hostile SOAP response.
            : Buffer.from(callStatusWsdl(`${base}/evil-soap/${index}`));
      res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8' }).end(body);
    });
    base = `http://127.0.0.1:${await listen(xmlHost)}`;
    svc = await startApp(infra);
    call = api(svc.url, (await tenantWithKey(svc.url)).key);
  });

  afterAll(async () => {
    await svc?.close();
    await new Promise((r) => xmlHost?.close(r));
    await infra?.cleanup();
  });

  const refusal = /DOCTYPE or ENTITY declarations is refused|NUL characters/;
  /**
   * An answer this late means something was expanded or fetched (a billion laughs runs for minutes or exhausts the
   * heap); a refusal takes milliseconds, and up to a few seconds on a loaded machine, so the bound leaves room for that.
   */
  const QUICK_MS = 15_000;

  it('refuses every hostile WSDL in the operation picker (422 with the reason), quickly and without fetching anything', async () => {
    for (const [i, attack] of attacks().entries()) {
      const started = Date.now();
      const r = await call('POST', '/wsdl/operations', { wsdlUrl: `${base}/evil-wsdl/${i}` });
      expect({ attack: attack.id, status: r.status }).toEqual({ attack: attack.id, status: 422 });
      expect(r.body.detail).toMatch(refusal);
      expect(JSON.stringify(r.body)).not.toMatch(/lollol|AAAAAAAA|root:/);
      expect(Date.now() - started).toBeLessThan(QUICK_MS);
    }
    expect(canaryHits).toEqual([]);
  });

  it("refuses every hostile WSDL at an integration's Test: not ok, class invalid, the reason given", async () => {
    for (const [i, attack] of attacks().entries()) {
      const created = await call('POST', '/integrations', {
        name: `evil wsdl ${i}`, kind: 'soap', soap: { wsdlUrl: `${base}/evil-wsdl/${i}`, operation: 'UpdateCallStatus', params: [] },
        trigger: { eventTypes: ['telephony.call.ended'] },
      });
      expect(created.status).toBe(201);
      const test = await call('POST', `/integrations/${String(created.body.id)}/test`, { data: {} });
      expect({ attack: attack.id, ok: test.body.ok, errorClass: test.body.errorClass }).toEqual({ attack: attack.id, ok: false, errorClass: 'invalid' });
      expect(test.body.error).toMatch(refusal);
    }
    expect(canaryHits).toEqual([]);
  });

  it('refuses every hostile SOAP response: the call fails with the reason and nothing expanded reaches the answer', async () => {
    for (const [i, attack] of attacks().entries()) {
      const created = await call('POST', '/integrations', {
        name: `evil soap ${i}`, kind: 'soap',
        soap: { wsdlUrl: `${base}/good-wsdl/${i}`, operation: 'UpdateCallStatus', version: '1.1', params: [{ name: 'callId', value: 'x' }] },
        trigger: { eventTypes: ['telephony.call.ended'] },
      });
      expect(created.status).toBe(201);
      const started = Date.now();
      const test = await call('POST', `/integrations/${String(created.body.id)}/test`, { data: {} });
      expect({ attack: attack.id, ok: test.body.ok, httpStatus: test.body.httpStatus }).toEqual({ attack: attack.id, ok: false, httpStatus: 200 });
      expect(test.body.error).toMatch(/^SOAP response does not parse: /);
      expect(test.body.error).toMatch(refusal);
      // The raw answer may be echoed (truncated), but never an expansion of it.
      expect(JSON.stringify(test.body).length).toBeLessThan(2 * 1024 * 1024);
      expect(JSON.stringify(test.body)).not.toMatch(/(lol){11}|root:x:0/);
      expect(Date.now() - started).toBeLessThan(QUICK_MS);
    }
    expect(canaryHits).toEqual([]);
  });
});
