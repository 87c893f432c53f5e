import { randomUUID } from 'node:crypto';
import { BusProbe } from '@elo/messaging';
import { RetentionSweeper } from '@elo/platform';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { startApp, tenantWithKey, type RunningApp } from './app.fixture';
import { at, ids, integrationFailed, integrationSucceeded, sendRequested, sent, status } from './events.fixture';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, checked field by field
type Body = Record<string, any>;

/** Seconds from the fixtures' T0 to `daysAgo` days before now: their times are given that way. */
const ago = (daysAgo: number) => Math.round((Date.now() - daysAgo * 86_400_000 - Date.parse(at(0))) / 1000);

describe('message-status retention (real PostgreSQL and RabbitMQ)', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let probe: BusProbe;

  beforeAll(async () => {
    infra = await createTestInfra('message_status_retention');
    svc = await startApp(infra);
    probe = await BusProbe.connect(infra.amqpUrl, []);
  });

  afterAll(async () => {
    await probe?.close();
    await svc?.close();
    await infra?.cleanup();
  });

  it('deletes messages, their timelines, integration failures and the successes kept for them past MESSAGE_RETENTION_DAYS (90 by default); recent ones and the dashboard\'s recent ranges stay as they were', async () => {
    const t = await tenantWithKey(svc.url);
    const get = async (path: string) => {
      const res = await fetch(`${svc.url}${path}`, { headers: { authorization: `Bearer ${t.key}` } });
      return { status: res.status, body: (await res.json()) as Body };
    };
    const channelId = randomUUID();
    const [recent, failing, old] = [ids(), ids(), ids()].map((m) => ({ ...m, channelId }));
    /** A message queued, sent and then `last` (with a code when failed), `daysAgo` days ago. */
    const track = (m: typeof recent, daysAgo: number, last: 'read' | 'failed') => {
      const s = ago(daysAgo);
      return probe.publish(
        sendRequested(t.tenantId, { messageId: m.messageId, channelId, time: s }),
        sent(t.tenantId, { ...m, provider: 'whatsapp', t: s + 1 }),
        status(t.tenantId, { ...m, provider: 'whatsapp', status: last, t: s + 2, ...(last === 'failed' ? { code: '131026' } : {}) }),
      );
    };
    await track(recent, 0.01, 'read');
    await track(failing, 0.01, 'failed');
    await track(old, 91, 'failed');
    const [recentDelivery, oldDelivery] = [randomUUID(), randomUUID()];
    await probe.publish(
      integrationFailed(t.tenantId, { errorClass: 'timeout', deliveryId: recentDelivery, time: ago(0.01) }),
      integrationFailed(t.tenantId, { errorClass: 'timeout', deliveryId: oldDelivery, time: ago(91) }),
    );
    // Successes after failed attempts, kept for failures that come after them: the old one goes with the old failures.
    const [recentSuccess, oldSuccess] = [randomUUID(), randomUUID()];
    await probe.publish(
      integrationSucceeded(t.tenantId, { deliveryId: recentSuccess, time: ago(0.01), attempts: 3 }),
      integrationSucceeded(t.tenantId, { deliveryId: oldSuccess, time: ago(91), attempts: 3 }),
    );
    await expectEventually(async () => {
      expect(await svc.app.get(DataSource).query('SELECT 1 FROM message_status.integration_successes WHERE tenant_id = $1', [t.tenantId])).toHaveLength(2);
      const states = await Promise.all([recent, failing, old].map(async (m) => (await get(`/messages/${m.messageId}`)).body.status));
      expect(states).toEqual(['read', 'failed', 'failed']);
      expect((await get('/failures')).body.groups.find((g: Body) => g.reason === 'integration:timeout')?.count).toBe(2);
    });
    const ds = svc.app.get(DataSource);
    // The old message's timeline arrived as it happened, 91 days ago (here it arrived just now).
    await ds.query(`UPDATE message_status.message_events SET received_at = now() - interval '91 days' WHERE message_id = $1`, [old.messageId]);
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const dashboard = () => Promise.all([`/stats?from=${from}&bucket=minute`, `/failures?from=${from}`, `/messages?from=${from}`].map(async (p) => (await get(p)).body));
    const before = await dashboard();
    expect(before[2].items.map((m: Body) => m.id).sort()).toEqual([recent.messageId, failing.messageId].sort());

    expect(await svc.app.get(RetentionSweeper).sweep()).toEqual({
      '"message_status".messages': 1, '"message_status".message_events': 3, '"message_status".integration_failures': 1,
      '"message_status".integration_successes': 1,
    });
    expect(await ds.query('SELECT delivery_id FROM message_status.integration_successes WHERE tenant_id = $1', [t.tenantId])).toEqual([{ delivery_id: recentSuccess }]);
    expect((await get(`/messages/${old.messageId}`)).status).toBe(404);
    expect(await ds.query('SELECT 1 FROM message_status.message_events WHERE message_id = $1', [old.messageId])).toEqual([]);
    expect(await ds.query('SELECT delivery_id FROM message_status.integration_failures WHERE tenant_id = $1', [t.tenantId])).toEqual([{ delivery_id: recentDelivery }]);
    expect(await dashboard()).toEqual(before);
    expect((await get(`/messages/${recent.messageId}`)).body.timeline.map((e: Body) => e.status)).toEqual(['queued', 'sent', 'read']);
  });
});
