import { mkdirSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { createEvent } from '@elo/contracts';
import { BusProbe } from '@elo/messaging';
import { callApi, createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import type { Browser, Page } from 'playwright-core';
import { listen } from 'soap';
import { ADMIN_KEY, buildOnce, launchChromium, root, STACK_START_MS, STACK_STOP_MS, startService, stopAll, type RunningService } from './stack';

/** A CRM the integration calls: records what it got, answers 201 with a ticket and a header of its own. */
async function fakeCrm(): Promise<{ url: string; got: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }>; close(): Promise<void> }> {
  const got: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      got.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      res.writeHead(201, { 'content-type': 'application/json', 'x-crm-request': 'req-77' });
      res.end(JSON.stringify({ ticket: 'T-1001', queue: 'financeiro' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, got, close: () => new Promise((r) => server.close(() => r())) };
}

/**
 * One journey's budget: a real browser against several service processes takes ~20 s at most with the
 * CPU saturated (seconds when idle); CI runs it on a shared 2-core machine beside another jest worker.
 */
const JOURNEY_MS = 90_000;

const NS = 'http://erp.example/tickets';
/** An ISP ERP with two operations, served by the `soap` package; OpenTicket takes cpf and subject. */
function erpWsdl(base: string): string {
  const el = (name: string, fields: string[]) =>
    `<xsd:element name="${name}"><xsd:complexType><xsd:sequence>${fields.map((f) => `<xsd:element name="${f}" type="xsd:string"/>`).join('')}</xsd:sequence></xsd:complexType></xsd:element>`;
  const op = (name: string) => `<operation name="${name}"><soap:operation soapAction="${NS}/${name}"/><input><soap:body use="literal"/></input><output><soap:body use="literal"/></output></operation>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<definitions name="Tickets" targetNamespace="${NS}" xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:tns="${NS}" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <types><xsd:schema targetNamespace="${NS}" elementFormDefault="qualified">
    ${el('CloseTicketRequest', ['ticketId'])}${el('CloseTicketResponse', ['closed'])}
    ${el('OpenTicketRequest', ['cpf', 'subject'])}${el('OpenTicketResponse', ['protocol'])}
  </xsd:schema></types>
  <message name="CloseTicketIn"><part name="body" element="tns:CloseTicketRequest"/></message>
  <message name="CloseTicketOut"><part name="body" element="tns:CloseTicketResponse"/></message>
  <message name="OpenTicketIn"><part name="body" element="tns:OpenTicketRequest"/></message>
  <message name="OpenTicketOut"><part name="body" element="tns:OpenTicketResponse"/></message>
  <portType name="TicketsPort">
    <operation name="CloseTicket"><input message="tns:CloseTicketIn"/><output message="tns:CloseTicketOut"/></operation>
    <operation name="OpenTicket"><input message="tns:OpenTicketIn"/><output message="tns:OpenTicketOut"/></operation>
  </portType>
  <binding name="TicketsBinding" type="tns:TicketsPort"><soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>${op('CloseTicket')}${op('OpenTicket')}</binding>
  <service name="TicketsService"><port name="TicketsPort" binding="tns:TicketsBinding"><soap:address location="${base}/tickets"/></port></service>
</definitions>`;
}

async function fakeErp(): Promise<{ url: string; calls: Array<Record<string, unknown>>; close(): Promise<void> }> {
  const calls: Array<Record<string, unknown>> = [];
  const server: Server = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const impl = {
    TicketsService: {
      TicketsPort: {
        OpenTicket(args: Record<string, unknown>) {
          calls.push(args);
          return { protocol: `P-${String(args['cpf'])}` };
        },
        CloseTicket: () => ({ closed: 'true' }),
      },
    },
  };
  listen(server, '/tickets', impl, erpWsdl(url), () => undefined);
  return { url, calls, close: () => new Promise((r) => server.close(() => r())) };
}

/**
 * The console's integration and access journeys in a real browser (Debian's chromium), against
 * chat-ingress and webhook-dispatcher started as processes and the console forwarding to them: an
 * HTTP integration with bracket-key rows and a secret, previewed and tested against a local CRM; a
 * SOAP integration whose operation is picked from the WSDL; a key revoked and the console signing out.
 */
describe('console: integrations, keys and access in the browser', () => {
  let infra: TestInfra;
  let chat: RunningService;
  let dispatcher: RunningService;
  let consoleApp: RunningService;
  let browser: Browser;
  let crm: Awaited<ReturnType<typeof fakeCrm>>;
  let erp: Awaited<ReturnType<typeof fakeErp>>;
  let tenantId: string;
  const artifacts = join(root, 'test-artifacts');

  const newKey = async (name: string, permissions: string[]) =>
    (await callApi<{ id: string; key: string }>(chat.url, 'POST', `/tenants/${tenantId}/keys`, ADMIN_KEY, { name, permissions })).body;

  beforeAll(async () => {
    await buildOnce();
    infra = await createTestInfra('e2e_console');
    [crm, erp] = await Promise.all([fakeCrm(), fakeErp()]);
    // The fake CRM and ERP listen on 127.0.0.1, which the egress policy refuses unless allowed.
    const env = { DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, EGRESS_ALLOW_PRIVATE: '127.0.0.1/32' };
    [chat, dispatcher] = await Promise.all([startService('chat-ingress', env), startService('webhook-dispatcher', env)]);
    consoleApp = await startService('console', {
      CHAT_INGRESS_URL: chat.url,
      WEBHOOK_DISPATCHER_URL: dispatcher.url,
      VIABILITY_URL: 'http://127.0.0.1:9',
      TELEPHONY_BRIDGE_URL: 'http://127.0.0.1:9',
      MESSAGE_STATUS_URL: 'http://127.0.0.1:9',
    });
    tenantId = (await callApi<{ id: string }>(chat.url, 'POST', '/tenants', ADMIN_KEY, { name: 'Provedor Integrações' })).body.id;
    browser = await launchChromium();
    mkdirSync(artifacts, { recursive: true });
  }, STACK_START_MS);

  afterAll(async () => {
    await browser?.close();
    try {
      await stopAll([consoleApp, chat, dispatcher]);
    } finally {
      await Promise.all([crm?.close(), erp?.close()]);
      await infra?.cleanup();
    }
  }, STACK_STOP_MS);

  async function signIn(key: string, viewport = { width: 1280, height: 900 }): Promise<Page> {
    const page = await (await browser.newContext({ viewport })).newPage();
    page.setDefaultTimeout(10_000);
    page.on('dialog', (d) => void d.accept());
    await page.goto(consoleApp.url);
    await page.fill('input[name="key"]', key);
    await page.click('button[type="submit"]');
    await page.waitForSelector('#nav:not([hidden])');
    expect(page.url()).not.toContain(key);
    return page;
  }

  it('creates an HTTP integration with bracket-key rows and a secret; Preview shows the built JSON; Test shows status, headers and body', async () => {
    const { key } = await newKey('integrator', ['integrations:manage', 'integrations:read']);
    const page = await signIn(key);
    await page.click('button:has-text("New HTTP integration")');
    await page.fill('input[name="name"]', 'Abrir chamado no CRM');
    await page.check('input[value="chat.message.received"]');
    await page.selectOption('select[name="method"]', 'POST');
    await page.fill('input[name="url"]', `${crm.url}/crm/tickets`);
    await page.fill('textarea[name="filters"]', 'message.text contains boleto');
    await page.click('summary:has-text("Delivery:")');
    await page.fill('input[name="timeoutMs"]', '5000');
    // A header row whose value is a secret token, the secret typed once below.
    await page.click('button:has-text("Add header")');
    await page.fill('[data-field="request.headers.0.name"]', 'X-Api-Key');
    await page.fill('[data-field="request.headers.0.value"]', '{secret.crmKey}');
    await page.click('button:has-text("Add secret name")');
    await page.fill('[data-field="secrets.0.key"]', 'crmKey');
    await page.fill('[data-field="secrets.0.value"]', 'crm-secret-4242');
    // Body rows with bracket keys; the second value comes from the token picker.
    await page.click('button:has-text("Add key")');
    await page.fill('[data-field="request.body.pairs.0.key"]', 'customer[name]');
    await page.fill('[data-field="request.body.pairs.0.value"]', '{contact.name}');
    await page.click('button:has-text("Add key")');
    await page.fill('[data-field="request.body.pairs.1.key"]', 'customer[docs][0][cpf]');
    await page.click('[data-field="request.body.pairs.1.value"]');
    await page.click('summary:has-text("Insert a token")');
    // The list is filled on the details' toggle event, which the browser fires after the click returns.
    await expectEventually(async () => expect(await page.locator('button.token:has-text("{message.text}")').count()).toBe(1)); // a field of chat.message.received
    await page.click('button.token:has-text("{attributes.cpf}")');
    expect(await page.inputValue('[data-field="request.body.pairs.1.value"]')).toBe('{attributes.cpf}');
    await page.fill('textarea[name="replySuccess"]', 'Chamado {ticket} aberto na fila {queue}.');
    await page.click('summary:has-text("Sample event")');
    await page.fill('textarea[name="sample"]', JSON.stringify({ contact: { name: 'Ana Souza', attributes: { cpf: '01234567890' } }, message: { text: 'boleto' } }));

    await page.getByRole('button', { name: 'Preview', exact: true }).click();
    const built = page.locator('pre.built-json');
    await built.waitFor();
    expect(JSON.parse((await built.textContent()) ?? '')).toEqual({ customer: { name: 'Ana Souza', docs: [{ cpf: '01234567890' }] } });
    const previewText = (await page.textContent('section.preview')) ?? '';
    expect(previewText).toContain(`POST ${crm.url}/crm/tickets`);
    expect(previewText).not.toContain('crm-secret-4242'); // masked in the preview
    expect(crm.got).toHaveLength(0); // Preview sends nothing
    // Saved once: the secret is shown masked, its value gone from the page.
    await page.waitForSelector('.saved-secrets code:has-text("{secret.crmKey}")');
    expect(await page.locator('[data-field="secrets.0.value"]').count()).toBe(0);
    expect(await page.content()).not.toContain('crm-secret-4242');
    await page.screenshot({ path: join(artifacts, 'console-integration-preview.png'), fullPage: true });

    await page.getByRole('button', { name: 'Test', exact: true }).click();
    const result = page.locator('section.test-result');
    await result.waitFor();
    expect(await result.textContent()).toContain('HTTP 201');
    expect(await result.locator('td:has-text("x-crm-request") + td').textContent()).toBe('req-77');
    expect(JSON.parse((await page.textContent('pre.response-body')) ?? '')).toEqual({ ticket: 'T-1001', queue: 'financeiro' });
    expect(await page.textContent('.reply-text')).toBe('Chamado T-1001 aberto na fila financeiro.');
    expect(crm.got).toHaveLength(1);
    expect(crm.got[0]!.headers['x-api-key']).toBe('crm-secret-4242');
    expect(JSON.parse(crm.got[0]!.body)).toEqual({ customer: { name: 'Ana Souza', docs: [{ cpf: '01234567890' }] } });
    // The reply template renders live as it is edited.
    await page.fill('textarea[name="replySuccess"]', 'Protocolo {ticket}');
    expect(await page.textContent('.reply-text')).toBe('Protocolo T-1001');
    await page.screenshot({ path: join(artifacts, 'console-integration-test.png'), fullPage: true });

    // Headers as text lines: the rows carry over; a line the API refuses gets its problem beside the text.
    await page.selectOption('select[name="headersMode"]', 'text');
    expect(await page.inputValue('textarea[name="headersText"]')).toBe('X-Api-Key: {secret.crmKey}');
    await page.fill('textarea[name="headersText"]', 'X-Api-Key: {secret.crmKey}\nnot a header line');
    await page.click('button[type="submit"]:has-text("Save")');
    const headersError = page.locator('textarea[name="headersText"] + .error');
    await expectEventually(async () => expect(await headersError.textContent()).toContain('is not "Name: value"'));
    expect(await page.getAttribute('textarea[name="headersText"]', 'aria-invalid')).toBe('true');
    await page.fill('textarea[name="headersText"]', 'X-Api-Key: {secret.crmKey}');
    await page.click('button[type="submit"]:has-text("Save")');
    await expectEventually(async () => expect(await headersError.textContent()).toBe(''));

    const saved = await callApi<Array<{ name: string; trigger: unknown; delivery: { timeoutMs: number } }>>(dispatcher.url, 'GET', '/integrations', key);
    const mine = saved.body.find((i) => i.name === 'Abrir chamado no CRM');
    expect(mine?.trigger).toEqual({ eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'contains', value: 'boleto' }] });
    expect(mine?.delivery.timeoutMs).toBe(5000);
    await page.goto(`${consoleApp.url}/#/integrations`);
    await page.waitForSelector('td:has-text("Abrir chamado no CRM")');
    await expectEventually(async () => expect(await page.locator('tbody tr').first().textContent()).toContain('Enabled'));

    // Rotate the signing secret (shown once), then delete the integration.
    await page.click('tbody tr:has-text("Abrir chamado no CRM") a:has-text("Edit")');
    await page.click('button:has-text("Rotate signing secret")');
    expect(await page.locator('code.secret-once').textContent()).toMatch(/^whsec_/);
    await page.click('button:has-text("Delete integration")');
    await page.waitForSelector('h1:has-text("Integrations")');
    await page.waitForSelector('#status:has-text("Integration Abrir chamado no CRM deleted.")');
    await expectEventually(async () => expect(await page.locator('td:has-text("Abrir chamado no CRM")').count()).toBe(0));
    expect((await callApi(dispatcher.url, 'GET', '/integrations', key)).body).toEqual([]);
  }, JOURNEY_MS);

  it('creates a SOAP integration by picking the operation from the WSDL and filling its parameters', async () => {
    const { key } = await newKey('soap', ['integrations:manage', 'integrations:read']);
    const page = await signIn(key, { width: 360, height: 740 });
    await page.click('button:has-text("New SOAP integration")');
    await page.fill('input[name="name"]', 'Protocolo no ERP');
    await page.check('input[value="chat.message.received"]');
    await page.fill('input[name="wsdlUrl"]', `${erp.url}/tickets?wsdl`);
    await page.click('button:has-text("Load operations")');
    await page.waitForSelector('select[name="operation"] option[value="OpenTicket"]', { state: 'attached' });
    expect(await page.locator('select[name="operation"] option').allTextContents()).toEqual(['CloseTicket', 'OpenTicket']);
    await page.selectOption('select[name="operation"]', 'OpenTicket');
    await page.fill('input[data-param="cpf"]', '{attributes.cpf}');
    await page.fill('input[data-param="subject"]', '{message.text}');
    expect(await page.locator('input[data-param="ticketId"]').count()).toBe(0);
    await page.click('summary:has-text("Sample event")');
    await page.fill('textarea[name="sample"]', JSON.stringify({ contact: { attributes: { cpf: '98765432100' } }, message: { text: 'sem internet' } }));
    await page.getByRole('button', { name: 'Test', exact: true }).click();
    await page.waitForSelector('section.test-result:has-text("HTTP 200")');
    expect(erp.calls).toEqual([{ cpf: '98765432100', subject: 'sem internet' }]);
    expect(await page.textContent('pre.response-body')).toContain('P-98765432100');
    await page.screenshot({ path: join(artifacts, 'console-soap-360.png'), fullPage: true });
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360);

    const list = await callApi<Array<{ name: string; soap: unknown }>>(dispatcher.url, 'GET', '/integrations', key);
    expect(list.body.find((i) => i.name === 'Protocolo no ERP')?.soap).toEqual({
      wsdlUrl: `${erp.url}/tickets?wsdl`, operation: 'OpenTicket', version: '1.1',
      params: [{ name: 'cpf', value: '{attributes.cpf}' }, { name: 'subject', value: '{message.text}' }],
    });
  }, JOURNEY_MS);

  it('lists deliveries with their masked attempts, filters them, resends one, then the filtered set with progress', async () => {
    const { key } = await newKey('deliveries', ['integrations:manage', 'integrations:read']);
    const created = await callApi<{ id: string }>(dispatcher.url, 'POST', '/integrations', key, {
      name: 'Chamadas no CRM', kind: 'http',
      request: { method: 'POST', url: `${crm.url}/crm/calls`, headers: 'X-Api-Key: {secret.crmKey}', body: { kind: 'keyvalue', pairs: [{ key: 'call[id]', value: '{callId}' }] } },
      trigger: { eventTypes: ['telephony.call.ended'] },
      secrets: { crmKey: 'calls-secret-9090' },
    });
    expect(created.status).toBe(201);
    const probe = await BusProbe.connect(infra.amqpUrl, ['integration.#']);
    try {
      const calls = ['c-1', 'c-2', 'c-3'];
      await probe.publish(...calls.map((callId) => createEvent({
        type: 'telephony.call.ended', tenantId, source: 'elo://telephony', subject: callId,
        data: { callId, profileId: '6f1c5d1e-1111-4111-8111-111111111111', ramal: '2001', durationSeconds: 5, disposition: 'ANSWERED' },
      })));
      const toCalls = () => crm.got.filter((g) => g.url === '/crm/calls');
      await expectEventually(() => expect(toCalls()).toHaveLength(3), { timeoutMs: 15_000 });

      const page = await signIn(key);
      await page.goto(`${consoleApp.url}/#/deliveries/${created.body.id}`);
      await expectEventually(async () => expect(await page.locator('tbody tr:has-text("succeeded")').count()).toBe(3));
      await page.locator('button:has-text("Attempts")').first().click();
      const attempt = page.locator('.attempt').first();
      await attempt.waitFor();
      const attemptText = (await attempt.textContent()) ?? '';
      expect(attemptText).toContain('X-Api-Key: ••••');
      expect(attemptText).not.toContain('calls-secret-9090');
      expect(attemptText).toContain('HTTP 201');

      await page.selectOption('select[name="outcome"]', 'failed');
      await page.click('form.filters button[type="submit"]');
      await page.waitForSelector('p:has-text("No deliveries match.")');
      await page.selectOption('select[name="outcome"]', 'succeeded');
      await page.click('form.filters button[type="submit"]');
      await expectEventually(async () => expect(await page.locator('tbody tr').count()).toBe(3));

      await page.locator('tbody button:has-text("Resend")').first().click();
      await expectEventually(() => expect(toCalls()).toHaveLength(4), { timeoutMs: 15_000 });
      // Pending while it is sent again, so out of the "succeeded" listing until it succeeds once more.
      await expectEventually(async () => {
        await page.click('form.filters button[type="submit"]');
        await page.waitForSelector('form.filters button[type="submit"]:not([aria-busy])'); // that listing has loaded
        expect(await page.locator('tbody tr:has-text("succeeded")').count()).toBe(3);
      }, { timeoutMs: 15_000 });
      await page.click('button:has-text("Resend every finished delivery matching the filters")');
      await page.waitForSelector('.bulk-status:has-text("Done: 3 queued again")');
      expect(await page.getAttribute('.bulk progress', 'value')).toBe('3');
      await expectEventually(() => expect(toCalls()).toHaveLength(7), { timeoutMs: 15_000 });
      // The same webhook-id on a resend: the receiver can tell it is the same delivery.
      const ids = toCalls().map((g) => g.headers['webhook-id']);
      expect(new Set(ids).size).toBe(3);
      await page.screenshot({ path: join(artifacts, 'console-deliveries.png'), fullPage: true });
    } finally {
      await probe.close();
    }
  }, JOURNEY_MS);

  it('at 360 px, shows only what the key may do, creates a key shown once, and signs out when its own key is revoked', async () => {
    const { key } = await newKey('keys-admin', ['keys:manage', 'audit:read', 'integrations:read']);
    const page = await signIn(key, { width: 360, height: 740 });
    // What the key may not do is not shown: no channels, telephony, viability; integrations read-only.
    const nav = await page.locator('#nav a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    expect(nav).toEqual(expect.arrayContaining(['#/integrations', '#/deliveries', '#/keys']));
    expect(nav).not.toContain('#/channels');
    await page.waitForSelector('h1:has-text("Integrations")');
    expect(await page.locator('button:has-text("New HTTP integration")').count()).toBe(0);

    await page.click('#nav a[href="#/keys"]');
    await page.fill('form.create-key input[name="name"]', 'relatórios');
    await page.check('form.create-key input[value="integrations:read"]');
    expect(await page.locator('form.create-key input[value="channels:manage"]').count()).toBe(0); // not held, so not grantable
    await page.click('form.create-key button[type="submit"]');
    const shown = (await page.locator('code.key-once').textContent()) ?? '';
    expect(shown).toMatch(/^elo_/);
    expect((await callApi(chat.url, 'GET', '/auth/me', shown)).body).toMatchObject({ name: 'relatórios', permissions: ['integrations:read'] });
    await page.waitForSelector('td:has-text("key.created")');
    await page.screenshot({ path: join(artifacts, 'console-keys-360.png'), fullPage: true });
    const width = await page.evaluate('document.documentElement.scrollWidth');
    expect(width).toBeLessThanOrEqual(360);

    // Revoke the key this session uses: the console loses access and says so.
    await page.click(`button[aria-label^="Revoke keys-admin"]`);
    await page.waitForSelector('form.signin .notice.bad');
    expect(await page.textContent('form.signin .notice.bad')).toContain('Signed out');
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    expect((await callApi(chat.url, 'GET', '/auth/me', key)).status).toBe(401);
    await page.screenshot({ path: join(artifacts, 'console-signed-out.png'), fullPage: true });
  }, JOURNEY_MS);

  it('the bootstrap admin key sees only tenants and keys: creates a tenant and its first key', async () => {
    const page = await signIn(ADMIN_KEY);
    expect(await page.locator('#nav a').evaluateAll((as) => as.map((a) => a.getAttribute('href')))).toEqual(['#/keys']);
    await page.fill('input[name="tenantName"]', 'Fibra Sul');
    await page.click('form.create-tenant button[type="submit"]');
    await page.waitForSelector('form.create-key');
    const tenant = /#\/keys\/([0-9a-f-]{36})/.exec(page.url())?.[1];
    expect(tenant).toBeDefined();
    await page.fill('form.create-key input[name="name"]', 'primeira');
    await page.check('form.create-key input[value="channels:manage"]');
    await page.click('form.create-key button[type="submit"]');
    const shown = (await page.locator('code.key-once').textContent()) ?? '';
    expect((await callApi(chat.url, 'GET', '/auth/me', shown)).body).toMatchObject({ tenantId: tenant, permissions: ['channels:manage'] });
  }, JOURNEY_MS);

  it('a key revoked from another session loses access at its next step', async () => {
    const { key, id } = await newKey('reader', ['integrations:read']);
    const page = await signIn(key);
    await page.waitForSelector('h1:has-text("Integrations")');
    // The list's per-integration figures load after it; let them finish, so the next step is the first call with the revoked key.
    await expectEventually(async () => expect(await page.locator('td span.muted:has-text("…")').count()).toBe(0));
    expect((await callApi(chat.url, 'DELETE', `/tenants/${tenantId}/keys/${id}`, ADMIN_KEY)).status).toBe(204);
    await page.click('#nav a[href="#/deliveries"]');
    await page.waitForSelector('form.signin .notice.bad');
    expect(await page.textContent('form.signin .notice.bad')).toContain('not valid or was revoked');
    // Keyboard only: type the key and press Enter.
    await page.fill('input[name="key"]', key);
    await page.press('input[name="key"]', 'Enter');
    await expectEventually(async () => expect(await page.textContent('[data-error-for="key"]')).toContain('not a valid API key'));
    expect(await page.getAttribute('input[name="key"]', 'aria-invalid')).toBe('true');
  }, JOURNEY_MS);
});
