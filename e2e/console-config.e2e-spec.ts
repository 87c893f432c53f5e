import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callApi, createTestInfra, expectEventually, TEST_REQUEST_PRIVATE_RANGES, type TestInfra } from '@elo/testing';
import type { Browser, Page } from 'playwright-core';
import { ADMIN_KEY, buildOnce, launchChromium, root, STACK_START_MS, STACK_STOP_MS, startService, stopAll, type RunningService } from './stack';

/**
 * One journey's budget: a real browser against several service processes takes ~20 s at most with the
 * CPU saturated (seconds when idle); CI runs it on a shared 2-core machine beside another jest worker.
 */
const JOURNEY_MS = 90_000;

/**
 * The console's configuration journeys in a real browser (Debian's chromium), against chat-ingress
 * and viability started as processes and the console forwarding to them: a bot flow refused with
 * its problem beside the step, then published; an inventory file imported (one bad line reported)
 * and a point checked, showing the chosen box and a refused one, at 360 px; a channel created and
 * its webhook URL copied; a PBX profile from a preset and a test Click2Call, answered then refused.
 */
describe('console: channels, bot flow and viability in the browser', () => {
  let infra: TestInfra;
  let chat: RunningService;
  let viability: RunningService;
  let telephony: RunningService;
  /** A PBX speaking the generic HTTP protocol: answers a call id, or `failure` when set. */
  let pbx: Server;
  let pbxUrl: string;
  const pbxState: { failure?: { status: number; body: string }; calls: string[] } = { calls: [] };
  let consoleApp: RunningService;
  let browser: Browser;
  let key: string;
  const artifacts = join(root, 'test-artifacts');
  const HOME = { lat: -25.4284, lng: -49.2733 };

  beforeAll(async () => {
    await buildOnce();
    infra = await createTestInfra('e2e_console_config');
    pbx = createServer((req, res) => {
      pbxState.calls.push(req.url ?? '');
      if (pbxState.failure) {
        res.writeHead(pbxState.failure.status, { 'content-type': 'text/plain' }).end(pbxState.failure.body);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end('1537276453.47245539');
    });
    await new Promise<void>((r) => pbx.listen(0, '127.0.0.1', r));
    pbxUrl = `http://127.0.0.1:${(pbx.address() as { port: number }).port}`;
    const env = { DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl };
    [chat, viability, telephony] = await Promise.all([
      startService('chat-ingress', env),
      startService('viability', env),
      // The PBX stand-in listens on loopback: let a profile's pbxHost open it, as a LAN PBX would be.
      startService('telephony-bridge', { ...env, EGRESS_REQUEST_PRIVATE_RANGES: TEST_REQUEST_PRIVATE_RANGES }),
    ]);
    // The dispatcher and message-status are not needed here: their URLs point at nothing.
    consoleApp = await startService('console', {
      CHAT_INGRESS_URL: chat.url,
      VIABILITY_URL: viability.url,
      TELEPHONY_BRIDGE_URL: telephony.url,
      WEBHOOK_DISPATCHER_URL: 'http://127.0.0.1:9',
      MESSAGE_STATUS_URL: 'http://127.0.0.1:9',
    });
    const tenant = await callApi<{ id: string }>(chat.url, 'POST', '/tenants', ADMIN_KEY, { name: 'Provedor Console' });
    const created = await callApi<{ key: string }>(chat.url, 'POST', `/tenants/${tenant.body.id}/keys`, ADMIN_KEY, {
      name: 'console-config',
      permissions: ['channels:manage', 'viability:manage', 'viability:check', 'telephony:manage', 'telephony:call'],
    });
    key = created.body.key;
    browser = await launchChromium();
    mkdirSync(artifacts, { recursive: true });
  }, STACK_START_MS);

  afterAll(async () => {
    await browser?.close();
    try {
      await stopAll([consoleApp, chat, viability, telephony]);
    } finally {
      await new Promise((r) => pbx?.close(r));
      await infra?.cleanup();
    }
  }, STACK_STOP_MS);

  /** A signed-in page; every request it makes is recorded, to show nothing leaves the console's origin. */
  async function signIn(viewport: { width: number; height: number }): Promise<{ page: Page; outside: string[] }> {
    const context = await browser.newContext({ viewport });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: consoleApp.url });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000); // a missing element fails with its selector, inside the test's time
    const outside: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(consoleApp.url) && !r.url().startsWith('data:')) outside.push(r.url());
    });
    await page.goto(consoleApp.url);
    await page.fill('input[name="key"]', key);
    await page.click('button[type="submit"]');
    await page.waitForSelector('#nav a[href="#/channels"]');
    return { page, outside };
  }

  /** Form controls in the page without a label (a <label>, aria-label or aria-labelledby); there must be some controls. */
  async function unlabelled(page: Page): Promise<string[]> {
    const { total, missing } = await page.evaluate<{ total: number; missing: string[] }>(`(() => {
      const all = [...document.querySelectorAll('main input, main select, main textarea')].filter((el) => el.type !== 'hidden');
      const missing = all.filter((el) => !el.labels?.length && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'));
      return { total: all.length, missing: missing.map((el) => el.name || el.outerHTML.slice(0, 80)) };
    })()`);
    expect(total).toBeGreaterThan(5);
    return missing;
  }

  it('publishes a bot flow after showing the problem of a broken one beside its step', async () => {
    const { page, outside } = await signIn({ width: 1280, height: 900 });
    await page.click('#nav a[href="#/channels"]');
    await page.waitForSelector('[data-step="menu"]');
    // A question step with no attribute and no next step: chat-ingress refuses it, naming both fields.
    await page.fill('input[name="new-step-id"]', 'ask_cpf');
    await page.selectOption('select[name="new-step-type"]', 'question');
    await page.click('button:has-text("Add step")');
    await page.fill('textarea[name="steps.ask_cpf.text"]', 'Qual é o seu CPF?');
    await page.click('button:has-text("Validate and publish")');
    const nextError = page.locator('[data-error-for="steps.ask_cpf.next"]');
    await expectEventually(async () => expect(await nextError.textContent()).toContain('names no step'));
    expect(await page.textContent('[data-error-for="steps.ask_cpf.attribute"]')).toContain('must be non-empty text');
    expect(await page.getAttribute('select[name="steps.ask_cpf.next"]', 'aria-invalid')).toBe('true');
    expect((await callApi(chat.url, 'GET', '/flow', key)).status).toBe(404); // nothing was saved
    await page.screenshot({ path: join(artifacts, 'console-flow-invalid.png'), fullPage: true });

    // Fixed: the menu leads to the question, the question to the human queue.
    await page.fill('input[name="steps.ask_cpf.attribute"]', 'cpf');
    await page.selectOption('select[name="steps.ask_cpf.validate"]', 'cpf_cnpj');
    await page.selectOption('select[name="steps.ask_cpf.next"]', 'human');
    await page.selectOption('select[name="steps.menu.options.0.next"]', 'ask_cpf');
    expect(await page.isChecked('input[name="steps.menu.buttons"]')).toBe(true); // the engine's default
    expect(await page.textContent('[data-step="ask_cpf"] [data-unreached]')).toBe(''); // the menu leads there now
    expect(await page.textContent('[data-step="bye"] [data-unreached]')).toContain('nothing leads here');
    await page.uncheck('input[name="steps.menu.buttons"]');
    await page.click('button:has-text("Validate and publish")');
    await page.waitForSelector('[data-flow-status]:has-text("Published: version 1")');
    expect(await nextError.textContent()).toBe('');
    await page.waitForSelector('table td:has-text("1")');
    const saved = await callApi<{ version: number; definition: { start: string; steps: Record<string, Record<string, unknown>> } }>(chat.url, 'GET', '/flow', key);
    expect(saved.body.version).toBe(1);
    expect(saved.body.definition.steps.ask_cpf).toEqual({ type: 'question', text: 'Qual é o seu CPF?', validate: 'cpf_cnpj', attribute: 'cpf', next: 'human' });
    expect(saved.body.definition.steps.menu).toMatchObject({ buttons: false, options: [{ id: '1', title: 'Falar com um atendente', next: 'ask_cpf' }] });
    await page.screenshot({ path: join(artifacts, 'console-flow-published.png'), fullPage: true });
    expect(await unlabelled(page)).toEqual([]);
    expect(outside).toEqual([]);
  }, JOURNEY_MS);

  it('imports an inventory file with a bad line, then checks a point at 360 px: chosen box and a refused one', async () => {
    const { page, outside } = await signIn({ width: 360, height: 740 });
    // ~1.11 m per 1e-5 degree of latitude: OK about 55 m north, FULL about 22 m south.
    const csv = [
      'external_id,name,lat,lng,status,port_capacity,ports_in_use',
      `CTO-OK,CTO Jardim,${(HOME.lat + 0.0005).toFixed(6)},${HOME.lng},deployed,16,3`,
      `CTO-FULL,CTO Praça,${(HOME.lat - 0.0002).toFixed(6)},${HOME.lng},deployed,8,8`,
      `CTO-BAD,CTO Torta,${HOME.lat},${HOME.lng},flying,8,0`,
    ].join('\n');
    const dir = mkdtempSync(join(tmpdir(), 'elo-console-'));
    const file = join(dir, 'network.csv');
    writeFileSync(file, csv);
    await page.click('#nav a[href="#/viability"]');
    await page.setInputFiles('input[name="file"]', file);
    await page.click('button:has-text("Import")');
    await page.waitForSelector('[data-import-summary]');
    rmSync(dir, { recursive: true, force: true }); // read by the browser by now: the import is answered
    expect(await page.textContent('[data-import-summary]')).toBe('2 inserted, 0 updated, 1 refused.');
    const badRow = page.locator('[data-import-result] tbody tr');
    expect(await badRow.count()).toBe(1);
    expect(await badRow.textContent()).toMatch(/4.*status must be one of/);

    await page.waitForSelector('.point-map.leaflet-container');
    await page.fill('input[name="lat"]', String(HOME.lat));
    await page.fill('input[name="lng"]', String(HOME.lng));
    await page.press('input[name="lng"]', 'Enter'); // the keyboard is enough
    await page.waitForSelector('[data-check-result] [data-status="viable"]');
    expect(await page.textContent('[data-chosen-box="CTO-OK"]')).toMatch(/CTO Jardim \(CTO-OK\) at 5\d m, 13 free ports/);
    const refused = await page.textContent('[data-refused] tbody');
    expect(refused).toContain('CTO-FULL');
    expect(refused).toContain('full (no free port)');
    // The point, the drop-distance circle and both boxes are drawn, without any tile server.
    expect(await page.locator('.point-map path.leaflet-interactive').count()).toBe(4);
    // The check is on record: the history, filtered to viable ones, lists it with its box.
    await page.selectOption('select[name="historyStatus"]', 'viable');
    await page.waitForSelector('[data-check-history] tbody tr');
    expect(await page.locator('[data-check-history] tbody tr').count()).toBe(1);
    expect(await page.textContent('[data-check-history] tbody tr')).toMatch(/Coordinates.*Viable: CTO Jardim at 5\d m/);
    // Nothing wider than the phone's screen.
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360);
    await page.screenshot({ path: join(artifacts, 'console-viability-360.png'), fullPage: true });
    expect(await unlabelled(page)).toEqual([]);
    expect(outside).toEqual([]);
  }, JOURNEY_MS);

  it('creates a WhatsApp channel and copies its webhook URL', async () => {
    const { page } = await signIn({ width: 1280, height: 900 });
    await page.click('#nav a[href="#/channels"]');
    await page.waitForSelector('select[name="provider"]');
    await page.selectOption('select[name="provider"]', 'whatsapp');
    await page.fill('input[name="name"]', 'Suporte');
    await page.fill('input[name="phoneNumberId"]', '109876543210987');
    await page.fill('input[name="credentials.appSecret"]', 'console-e2e-app-secret');
    await page.click('button:has-text("Create channel")');
    await page.waitForSelector('.once input[name="webhookUrl"]');
    const [channel] = (await callApi<Array<{ id: string }>>(chat.url, 'GET', '/channels', key)).body;
    const expected = `${chat.url}/webhooks/whatsapp/${channel!.id}`;
    expect(await page.inputValue('.once input[name="webhookUrl"]')).toBe(expected);
    expect(await page.inputValue('.once input[name="verifyToken"]')).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    await page.click('.once button:has-text("Copy webhook url")');
    await expectEventually(async () => expect(await page.evaluate<string>('navigator.clipboard.readText()')).toBe(expected));
    // The list shows the channel with the same URL (and the token only masked from now on).
    await page.waitForSelector(`table code:has-text("${expected}")`);
    await page.screenshot({ path: join(artifacts, 'console-channel-created.png'), fullPage: true });
    // The same page on a phone: nothing wider than the screen.
    await page.setViewportSize({ width: 360, height: 740 });
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360);
    await page.screenshot({ path: join(artifacts, 'console-channels-360.png'), fullPage: true });
  }, JOURNEY_MS);

  it('creates a PBX profile from a preset (a bad allow-list entry shown beside it) and sends a test Click2Call', async () => {
    const { page } = await signIn({ width: 1280, height: 900 });
    await page.click('#nav a[href="#/telephony"]');
    await page.waitForSelector('form[aria-labelledby="pbx-new"]');
    const form = page.locator('form[aria-labelledby="pbx-new"]');
    await form.locator('input[name="name"]').fill('PABX matriz');
    await form.locator('select[name="preset"]').selectOption('generic-http');
    await form.locator('input[name="baseUrl"]').fill(pbxUrl);
    await form.locator('input[name="chave"]').fill('segredo-do-pabx');
    await form.locator('input[name="pbxHost"]').fill('127.0.0.1');
    await form.locator('textarea[name="allowedCidrs"]').fill('203.0.113.0/24\n10.0.0.300');
    await form.locator('button:has-text("Create profile")').click();
    const cidrError = form.locator('[data-error-for="allowedCidrs"]');
    await expectEventually(async () => expect(await cidrError.textContent()).toContain('10.0.0.300 is not an IP address or CIDR'));
    await form.locator('textarea[name="allowedCidrs"]').fill('203.0.113.0/24');
    await form.locator('button:has-text("Create profile")').click();
    await page.waitForSelector('table td:has-text("PABX matriz")');
    expect(await page.textContent('table')).toContain('203.0.113.0/24');

    const test = page.locator('form[aria-labelledby="pbx-test"]');
    await test.locator('input[name="ramal"]').fill('1001');
    await test.locator('input[name="telefone"]').fill('(41) 98844-5566');
    await test.locator('button:has-text("Send test Click2Call")').click();
    await page.waitForSelector('[data-call-id="1537276453.47245539"]');
    expect(pbxState.calls.at(-1)).toMatch(/^\/click2call\?ramal=1001&telefone=41988445566&chave=segredo-do-pabx$/);
    // The PBX refuses: its own answer is what the admin reads.
    pbxState.failure = { status: 503, body: 'ramal ocupado' };
    await test.locator('button:has-text("Send test Click2Call")').click();
    await page.waitForSelector('[data-call-result] .notice.bad');
    expect(await page.textContent('[data-call-result]')).toMatch(/HTTP 502: .*HTTP 503: ramal ocupado/);
    await page.screenshot({ path: join(artifacts, 'console-telephony.png'), fullPage: true });
    expect(await unlabelled(page)).toEqual([]);
    await page.setViewportSize({ width: 360, height: 740 });
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360);
  }, JOURNEY_MS);
});
