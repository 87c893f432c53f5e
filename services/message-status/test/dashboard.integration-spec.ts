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
  /**
   * From now on the page itself writes down, in order, each text #stream-state shows and each read of the counters
   * (/stats): a state shown for about a second (the page retries its stream, the server its LISTEN, after one) is
   * seen however late this test looks, and a read is known to come after it. `log()` answers what was written.
   * (Page code as text: this file is not compiled with the DOM's types.)
   */
  const recordStates = async () => {
    await page.evaluate(`(() => {
      if (window.streamLog) return void (window.streamLog.length = 0);
      const log = (window.streamLog = []);
      const state = document.getElementById('stream-state');
      // Each text set is a text node added: read from the records, two set in one task are both written down.
      new MutationObserver((records) => records.forEach((r) => r.addedNodes.forEach((n) => log.push(n.textContent)))).observe(state, { childList: true });
      const f = window.fetch.bind(window);
      window.fetch = (input, init) => {
        if (new URL(String(input), location.href).pathname === '/stats') log.push('read /stats');
        return f(input, init);
      };
    })()`);
    return { log: async () => (await page.evaluate('window.streamLog.slice()')) as string[] };
  };

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
    const states = await recordStates();
    svc.app.get(LiveFeed).endStreams();
    await expectEventually(async () => expect(await states.log()).toContain('reconnecting…'));
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

  it('a read that answers after a later one does not show its older counts over the newer ones', async () => {
    // Each filter change (and each change streamed) started a read at once, whatever was still in flight: one that
    // answered late was drawn over the later one's answer, and stayed so (the channel chosen before, the counts of then).
    const x = ids();
    const y = ids();
    const now = () => Math.round((Date.now() - Date.parse('2026-01-05T12:00:00Z')) / 1000);
    await probe.publish(sent(tenant.tenantId, { ...x, provider: 'whatsapp', t: now() }), sent(tenant.tenantId, { ...y, provider: 'whatsapp', t: now() }));
    const p = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
    try {
      // Signed in as the first test left the tab; the page's reads of the board, counted once their answer is read.
      // (Page code as text: this file is not compiled with the DOM's types.)
      await p.addInitScript(`(() => {
        sessionStorage.setItem('elo.message-status.apiKey', ${JSON.stringify(tenant.key)});
        const reads = (window.boardReads = { started: 0, done: 0 });
        const f = window.fetch.bind(window);
        window.fetch = async (input, init) => {
          if (!['/stats', '/failures'].includes(new URL(String(input), location.href).pathname)) return f(input, init);
          reads.started++;
          const res = await f(input, init);
          const json = res.json.bind(res);
          res.json = () => json().finally(() => reads.done++);
          return res;
        };
      })()`);
      /** How many reads of the board are in flight (started, their answer not read yet). */
      const inFlight = async () => {
        const r = (await p.evaluate('window.boardReads')) as { started: number; done: number };
        return r.started - r.done;
      };
      const cell = (id: string) => p.locator(`[data-testid="${id}"]`).first().textContent({ timeout: 1_000 }).catch(() => null);
      await p.goto(`${svc.url}/dashboard`);
      await expectEventually(async () => {
        expect(await cell(`count-${y.channelId}-sent`)).toBe('1');
        expect(await p.locator(`#f-channel option[value="${x.channelId}"]`).count()).toBe(1);
      });
      await expectEventually(async () => expect(await inFlight()).toBe(0));
      // The read of channel x answers only once the read of all channels, chosen after it, could have answered.
      let held = false;
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      await p.route((u) => u.pathname === '/stats' && u.searchParams.get('channelId') === x.channelId, async (route) => {
        held = true;
        await gate;
        await route.continue();
      });
      await p.selectOption('#f-channel', x.channelId);
      await expectEventually(() => expect(held).toBe(true));
      await p.selectOption('#f-channel', '');
      // Only the held one is left in flight: the other read of the board, if one started, has answered and was drawn.
      await expectEventually(async () => expect(await inFlight()).toBe(1));
      release();
      await expectEventually(async () => expect(await inFlight()).toBe(0));
      expect(await p.inputValue('#f-channel')).toBe('');
      await expectEventually(async () => {
        expect(await cell(`count-${y.channelId}-sent`)).toBe('1');
        expect(await cell(`count-${x.channelId}-sent`)).toBe('1');
      });
    } finally {
      await p.close();
    }
  });

  it('a failure group clicked after another shows its own examples, even when the first one\'s answer comes last', async () => {
    // Each click read the group's examples and drew them when they came: the first group's, answering late, were
    // drawn under the second group's title, and stayed.
    const t = await tenantWithKey(svc.url);
    const [window131047, rate130429] = [ids(), ids()];
    const now = () => Math.round((Date.now() - Date.parse('2026-01-05T12:00:00Z')) / 1000);
    await probe.publish(
      sent(t.tenantId, { ...window131047, provider: 'whatsapp', t: now() }), sent(t.tenantId, { ...rate130429, provider: 'whatsapp', t: now() }),
      status(t.tenantId, { ...window131047, provider: 'whatsapp', status: 'failed', t: now() + 1, code: '131047', title: 'Re-engagement message' }),
      status(t.tenantId, { ...rate130429, provider: 'whatsapp', status: 'failed', t: now() + 1, code: '130429', title: 'Rate limit hit' }),
    );
    const p = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
    try {
      // Signed in with the new tenant's key; the page's reads of a group's examples, counted once their answer is read.
      await p.addInitScript(`(() => {
        sessionStorage.setItem('elo.message-status.apiKey', ${JSON.stringify(t.key)});
        const reads = (window.exampleReads = { started: 0, done: 0 });
        const f = window.fetch.bind(window);
        window.fetch = async (input, init) => {
          if (new URL(String(input), location.href).searchParams.get('examples') !== '20') return f(input, init);
          reads.started++;
          const res = await f(input, init);
          const json = res.json.bind(res);
          res.json = () => json().finally(() => reads.done++);
          return res;
        };
      })()`);
      const reads = async () => (await p.evaluate('window.exampleReads')) as { started: number; done: number };
      const drillText = (sel: string) => p.locator(sel).first().textContent({ timeout: 1_000 }).catch(() => null);
      await p.goto(`${svc.url}/dashboard`);
      await expectEventually(async () => {
        expect(await p.locator('.failure[data-reason="outside_window"]').count()).toBe(1);
        expect(await p.locator('.failure[data-reason="rate_limited"]').count()).toBe(1);
      });
      // The first group's examples answer only once the second group's have been drawn.
      let held = false;
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      await p.route((u) => u.pathname === '/failures' && u.searchParams.get('examples') === '20', async (route) => {
        if (held) return route.continue();
        held = true;
        await gate;
        await route.continue();
      });
      await p.click('.failure[data-reason="outside_window"]');
      await expectEventually(() => expect(held).toBe(true));
      await p.click('.failure[data-reason="rate_limited"]');
      await expectEventually(async () => expect(await drillText('#drill-list')).toContain('130429'));
      release();
      await expectEventually(async () => expect(await reads()).toEqual({ started: 2, done: 2 }));
      expect(await drillText('#drill-title')).toBe('rate_limited (1)');
      expect(await drillText('#drill-list')).toContain('130429');
      expect(await drillText('#drill-list')).not.toContain('131047');
    } finally {
      await p.close();
    }
  });

  it('says when the server stops hearing changes, and is live again (and up to date) when it hears them again', async () => {
    await expectEventually(async () => expect(await text('#stream-state')).toBe('live'));
    const m = ids();
    const now = () => Math.round((Date.now() - Date.parse('2026-01-05T12:00:00Z')) / 1000);
    const states = await recordStates();
    // The service's LISTEN connection breaks; the page's own stream stays open.
    await svc.app.get(DataSource).query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'message-status-live' AND datname = current_database()`,
    );
    // The page says so, then is live again. Nothing is published meanwhile, so only the feed's return can make the
    // page read the counters again after that: what changed while it was away would otherwise stay unseen.
    await expectEventually(async () => {
      const log = await states.log();
      const down = log.findIndex((e) => e.startsWith('not live'));
      const back = log.indexOf('live', down);
      expect({ down: down >= 0, back: back > down, readAfter: log.indexOf('read /stats', back) > back }).toEqual({ down: true, back: true, readAfter: true });
    });
    // And what is sent once it is back streams as before, without a reload.
    await probe.publish(sent(tenant.tenantId, { ...m, provider: 'whatsapp', t: now() }));
    await expectEventually(async () => expect(await text(`[data-testid="count-${m.channelId}-sent"]`)).toBe('1'));
  });
});
