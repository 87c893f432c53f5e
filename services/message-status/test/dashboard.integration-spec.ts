import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { LiveFeed } from '../src/live/live-feed.service';
import { startApp, tenantWithKey, type RunningApp } from './app.fixture';
import { ids, sent, status } from './events.fixture';

const ARTIFACTS = join(__dirname, '../../../test-artifacts');

describe('message-status dashboard in a real browser', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let probe: BusProbe;
  let browser: Browser;
  let page: Page;
  let tenant: { tenantId: string; key: string };

  beforeAll(async () => {
    infra = await createTestInfra('message_status_dashboard');
    svc = await startApp(infra);
    probe = await BusProbe.connect(infra.amqpUrl, []);
    tenant = await tenantWithKey(svc.url);
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
  });

  afterAll(async () => {
    await browser?.close();
    await probe?.close();
    await svc?.close();
    await infra?.cleanup();
  });

  const text = (sel: string) => page.locator(sel).first().textContent({ timeout: 1_000 }).catch(() => null);

  // The tests below go on with the page this one signed in.
  it('signs in with a key, updates counters and the failures board live, drills into a timeline, and shows reconnecting', async () => {
    await page.goto(`${svc.url}/dashboard`);
    await page.fill('#api-key', tenant.key);
    await page.click('#login-form button[type=submit]');
    await expectEventually(async () => expect(await text('#stream-state')).toBe('live'));
    // The key is kept for the tab only and never put in a URL.
    expect(await page.evaluate('Object.values(sessionStorage).length')).toBe(1);
    expect(page.url()).not.toContain(tenant.key);

    const m = ids();
    const now = () => Math.round((Date.now() - Date.parse('2026-01-05T12:00:00Z')) / 1000);
    await probe.publish(sent(tenant.tenantId, { ...m, provider: 'whatsapp', t: now() }));
    await expectEventually(async () => expect(await text(`[data-testid="count-${m.channelId}-sent"]`)).toBe('1'));

    const other = { ...ids(), channelId: m.channelId };
    await probe.publish(sent(tenant.tenantId, { ...other, provider: 'whatsapp', t: now() }));
    await probe.publish(status(tenant.tenantId, { ...other, provider: 'whatsapp', status: 'failed', t: now() + 1, code: '131047', title: 'Re-engagement message' }));
    await expectEventually(async () => {
      expect(await text('[data-testid="total-failed"]')).toBe('1');
      expect(await text(`[data-testid="count-${m.channelId}-sent"]`)).toBe('1');
      expect(await text('.failure[data-reason="outside_window"] .count')).toBe('1');
    });

    await page.click('.failure[data-reason="outside_window"]');
    await page.click('#drill-list li button');
    await expectEventually(async () => expect(await text('#timeline')).toContain('131047'));
    expect(await text('#timeline')).toContain('outside_window');

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'message-status-dashboard.png'), fullPage: true });

    // The stream drops (the server ends it): the page says so, then comes back by itself.
    svc.app.get(LiveFeed).endStreams();
    await expectEventually(async () => expect(await text('#stream-state')).toBe('reconnecting…'), { intervalMs: 20 });
    await expectEventually(async () => expect(await text('#stream-state')).toBe('live'));
    await probe.publish(status(tenant.tenantId, { ...m, provider: 'whatsapp', status: 'read', t: now() + 2 }));
    await expectEventually(async () => expect(await text(`[data-testid="count-${m.channelId}-read"]`)).toBe('1'));
  });

  it('shows delivered and read as not applicable for a channel that cannot report them', async () => {
    const tg = ids();
    const now = () => Math.round((Date.now() - Date.parse('2026-01-05T12:00:00Z')) / 1000);
    await probe.publish(sent(tenant.tenantId, { ...tg, provider: 'telegram', t: now() }));
    await expectEventually(async () => expect(await text(`[data-testid="count-${tg.channelId}-sent"]`)).toBe('1'));
    expect(await text(`[data-testid="count-${tg.channelId}-delivered"]`)).toBe('n/a');
    expect(await text(`[data-testid="count-${tg.channelId}-read"]`)).toBe('n/a');
    expect(await text(`[data-testid="count-${tg.channelId}-failed"]`)).toBe('0');
  });

  it('says when the server stops hearing changes, and is live again (and up to date) when it hears them again', async () => {
    await expectEventually(async () => expect(await text('#stream-state')).toBe('live'));
    const m = ids();
    const now = () => Math.round((Date.now() - Date.parse('2026-01-05T12:00:00Z')) / 1000);
    // The service's LISTEN connection breaks; the page's own stream stays open.
    await svc.app.get(DataSource).query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'message-status-live' AND datname = current_database()`,
    );
    await expectEventually(async () => expect(await text('#stream-state')).toContain('not live'), { intervalMs: 20 });
    // Nothing is published meanwhile, so only the feed's return can make the page read the counters again:
    // what changed while it was away would otherwise stay unseen.
    const reads: number[] = [];
    const onRequest = (r: { url(): string }) => void (new URL(r.url()).pathname === '/stats' && reads.push(Date.now()));
    page.on('request', onRequest);
    try {
      await expectEventually(async () => expect(await text('#stream-state')).toBe('live'));
      await expectEventually(async () => expect(reads.length).toBeGreaterThan(0));
    } finally {
      page.off('request', onRequest);
    }
    // And what is sent once it is back streams as before, without a reload.
    await probe.publish(sent(tenant.tenantId, { ...m, provider: 'whatsapp', t: now() }));
    await expectEventually(async () => expect(await text(`[data-testid="count-${m.channelId}-sent"]`)).toBe('1'));
  });
});
