import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { loadConfig } from '@elo/platform';
import { expectEventually } from '@elo/testing';
import { chromium, type Browser } from 'playwright-core';
import { ConsoleConfig } from '../src/config/console.config';
import { createConsoleApp } from '../src/console-app';

/**
 * The built console (web/dist) in a real browser (Debian's chromium), against a fake chat-ingress and
 * viability: the check card's map, where a click picks the point to check.
 */
describe('console: the viability map in the browser', () => {
  let upstream: Server;
  let app: NestExpressApplication;
  let base: string;
  let browser: Browser;
  const checks: Array<{ lat: number; lng: number }> = [];

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        if (req.url === '/auth/me') {
          res.end(JSON.stringify({ keyId: 'k1', name: 'ops', prefix: 'elo_k1', tenantId: 't1', permissions: ['viability:check'], isAdmin: false }));
          return;
        }
        if (req.method === 'POST' && req.url === '/viability') {
          const point = JSON.parse(body) as { lat: number; lng: number };
          checks.push(point);
          if (Math.abs(point.lng) > 180) {
            // As viability answers: the coordinates are validated.
            res.statusCode = 400;
            res.setHeader('content-type', 'application/problem+json');
            res.end(JSON.stringify({ status: 400, title: 'Bad Request', detail: 'invalid request', errors: [{ field: 'lng', message: 'lng must be a longitude string or number' }] }));
            return;
          }
          res.end(JSON.stringify({ status: 'not_found', mode: 'radius', maxDropMeters: 150, alternatives: [], refused: [] }));
          return;
        }
        res.statusCode = 404;
        res.end('{}');
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const up = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    app = await createConsoleApp(loadConfig(ConsoleConfig, { PORT: '0', CHAT_INGRESS_URL: up, VIABILITY_URL: up, LOG_LEVEL: 'silent' }));
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await new Promise((r) => upstream?.close(r));
  });

  it('a point clicked on a copy of the world beyond the antimeridian is checked with its longitude within ±180', async () => {
    const page = await (await browser.newContext({ viewport: { width: 1000, height: 900 } })).newPage();
    await page.goto(`${base}/#/viability`);
    await page.fill('input[name="key"]', 'elo_k1_secret');
    await page.click('form.signin button[type="submit"]');
    await page.waitForSelector('.point-map.leaflet-container');
    // Zoomed out to the whole world, the map shows its copies side by side: the left edge is west of -180°.
    while (!(await page.$('.point-map .leaflet-control-zoom-out.leaflet-disabled'))) {
      await page.click('.point-map .leaflet-control-zoom-out');
      await page.waitForTimeout(300);
    }
    const box = (await page.locator('.point-map').boundingBox())!;
    await page.mouse.click(box.x + 4, box.y + box.height / 2);
    await expectEventually(() => expect(checks).toHaveLength(1));
    expect(Math.abs(checks[0]!.lng)).toBeLessThanOrEqual(180);
    expect(Math.abs(Number(await page.inputValue('input[name="lng"]')))).toBeLessThanOrEqual(180);
    await page.waitForSelector('[data-check-result] [data-status="not_found"]');
  }, 45_000);
});
