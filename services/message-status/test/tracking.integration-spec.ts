import type { INestApplicationContext } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { CloudEvent } from '@elo/contracts';
import { BusProbe } from '@elo/messaging';
import { createTestInfra, expectEventually, outboxEmpty, type TestInfra } from '@elo/testing';
import { DataSource, type EntityManager } from 'typeorm';
import { MessageQueryService } from '../src/api/message-query.service';
import { LiveFeed } from '../src/live/live-feed.service';
import { PendingSweeper } from '../src/tracking/pending-sweeper.service';
import { TrackingService, type LiveChange, type StatusInput } from '../src/tracking/tracking.service';
import { at, ids, integrationFailed, integrationSucceeded, sendRequested, sent, status } from './events.fixture';
import { startTrackingCore } from './tracking-core.module';

describe('message-status tracking (real PostgreSQL and RabbitMQ)', () => {
  let infra: TestInfra;
  let app: INestApplicationContext;
  let probe: BusProbe;
  let queries: MessageQueryService;
  let ds: DataSource;
  const tenant = randomUUID();

  beforeAll(async () => {
    infra = await createTestInfra('message_status_tracking');
    // The default age (7 days), looked at every 200 ms instead of every 10 minutes.
    app = await startTrackingCore(infra.databaseUrl, infra.amqpUrl, { pendingExpiry: { intervalMs: 200 } });
    queries = app.get(MessageQueryService);
    ds = app.get(DataSource);
    probe = await BusProbe.connect(infra.amqpUrl, ['message.#']);
  });

  afterAll(async () => {
    await probe?.close();
    await app?.close();
    await infra?.cleanup();
  });

  const message = (id: string, tenantId = tenant) => queries.get(tenantId, id);
  const statusOf = async (id: string) => (await message(id))?.status;
  /** Waits until every event the service had written is on the probe (BusProbe.settled): absence and exact counts are then final. */
  const settled = () => probe.settled(outboxEmpty(ds, 'message_status'), 15_000);
  /**
   * Streams tenant `t`'s live changes into `streamed`. A change reaches the feed by NOTIFY some time after its commit,
   * so one made before a step can arrive during it: `settle(n)` waits for the first n changes and forgets them.
   */
  const watch = (t: string) => {
    const streamed: LiveChange[] = [];
    const unsubscribe = app.get(LiveFeed).subscribe(t, { change: (c) => streamed.push(c) });
    const settle = async (n: number) => {
      await expectEventually(() => expect(streamed).toHaveLength(n));
      streamed.length = 0;
    };
    return { streamed, unsubscribe, settle };
  };
  const changesOf = (id: string) =>
    probe.ofType<{ messageId: string; status: string; previousStatus?: string }>('message.status.changed').filter((e) => e.data.messageId === id);

  it('follows a WhatsApp message queued → sent → delivered → read and publishes each move', async () => {
    const m = ids();
    await probe.publish(sendRequested(tenant, { messageId: m.messageId, channelId: m.channelId, time: 0 }));
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('queued'));
    await probe.publish(sent(tenant, { ...m, provider: 'whatsapp', t: 1 }));
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('sent'));
    await probe.publish(status(tenant, { ...m, provider: 'whatsapp', status: 'delivered', t: 2 }));
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('delivered'));
    await probe.publish(status(tenant, { ...m, provider: 'whatsapp', status: 'read', t: 3 }));
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('read'));
    await expectEventually(() =>
      expect(changesOf(m.messageId).map((e) => `${e.data.previousStatus ?? '-'}>${e.data.status}`)).toEqual([
        '->queued', 'queued>sent', 'sent>delivered', 'delivered>read',
      ]),
    );
    const msg = await message(m.messageId);
    expect(msg!.statusAt).toBe(at(3));
    expect(msg!.timeline.map((e) => e.status)).toEqual(['queued', 'sent', 'delivered', 'read']);
  });

  it('publishes each move of a batch of several requests\' events in the correlation id of the event behind it', async () => {
    const [m1, m2, m3, m4, m5] = [ids(), ids(), ids(), ids(), ids()];
    const as = (correlationid: string | undefined, e: CloudEvent): CloudEvent => (correlationid ? { ...e, correlationid } : e);
    // m3 and m4 are sent first, in no request's id: a status handled before its message is known would wait and move
    // it when the sent event came, in that event's id.
    await probe.publish(sent(tenant, { ...m3, provider: 'whatsapp', t: 1 }), sent(tenant, { ...m4, provider: 'whatsapp', t: 1 }));
    await expectEventually(async () => expect([await statusOf(m3.messageId), await statusOf(m4.messageId)]).toEqual(['sent', 'sent']));
    // One mixed batch (two broker messages, as the relay groups consecutive events of a type): no id is the batch's own.
    await probe.publishBatched(
      as('req-1', sendRequested(tenant, { messageId: m1.messageId, channelId: m1.channelId, time: 2 })),
      as('req-2', sendRequested(tenant, { messageId: m2.messageId, channelId: m2.channelId, time: 2 })),
      as('req-5', sendRequested(tenant, { messageId: m5.messageId, channelId: m5.channelId, time: 2 })),
      as('req-4', status(tenant, { ...m3, provider: 'whatsapp', status: 'delivered', t: 3 })),
      as('req-6', status(tenant, { channelId: m5.channelId, provider: 'whatsapp', status: 'failed', t: 3, eloMessageId: m5.messageId, code: '131026' })),
      // m4's move takes the read, which came with no id: the move carries the id of the message's other fact.
      as(undefined, status(tenant, { ...m4, provider: 'whatsapp', status: 'read', t: 4 })),
      as('req-7', status(tenant, { ...m4, provider: 'whatsapp', status: 'delivered', t: 3 })),
    );
    await expectEventually(async () => expect(await statusOf(m4.messageId)).toBe('read'));
    await expectEventually(async () => expect(await statusOf(m5.messageId)).toBe('failed'));
    await expectEventually(async () => expect(await statusOf(m3.messageId)).toBe('delivered'));
    await settled();
    const moves = (id: string) => changesOf(id).map((e) => `${e.data.status} ${e.correlationid ?? '-'}`);
    expect(moves(m1.messageId)).toEqual(['queued req-1']);
    expect(moves(m2.messageId)).toEqual(['queued req-2']);
    // m5's request and its failure came in different broker messages, handled in either order (they name no subject):
    // its queued move is there only when the request came first. Each move carries its own event's id.
    expect(moves(m5.messageId)).toContain('failed req-6');
    for (const x of moves(m5.messageId)) expect(['queued req-5', 'failed req-6']).toContain(x);
    expect(probe.ofType<{ messageId: string }>('message.failed').filter((e) => e.data.messageId === m5.messageId).map((e) => e.correlationid)).toEqual(['req-6']);
    expect(moves(m3.messageId)).toEqual(['sent -', 'delivered req-4']);
    expect(moves(m4.messageId)).toEqual(['sent -', 'read req-7']);
  });

  it('read before delivered: ends read, keeps delivered in the timeline in provider order', async () => {
    const m = ids();
    await probe.publish(sent(tenant, { ...m, provider: 'whatsapp', t: 1 }));
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('sent'));
    await probe.publish(status(tenant, { ...m, provider: 'whatsapp', status: 'read', t: 30 }));
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('read'));
    await probe.publish(status(tenant, { ...m, provider: 'whatsapp', status: 'delivered', t: 25 }));
    await expectEventually(async () => expect((await message(m.messageId))!.timeline).toHaveLength(2 + 0 + 1));
    const msg = await message(m.messageId);
    expect(msg!.status).toBe('read');
    expect(msg!.timeline.map((e) => [e.status, e.applied])).toEqual([['sent', true], ['delivered', false], ['read', true]]);
    // The changes reach the bus through the outbox relay, after their commit: an exact list only once it has published them.
    await settled();
    expect(changesOf(m.messageId).map((e) => e.data.status)).toEqual(['sent', 'read']);
  });

  it('failed is sticky: a later sent or delivered does not revive it; the reason comes from the code', async () => {
    const m = ids();
    await probe.publish(sendRequested(tenant, { messageId: m.messageId, channelId: m.channelId, time: 30 }));
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('queued'));
    // The provider's callbacks reach us before chat-ingress reports the send (fixture whatsapp-statuses-batch).
    await probe.publish(
      status(tenant, { ...m, provider: 'whatsapp', status: 'failed', t: 40, code: '131047', title: 'Re-engagement message' }),
      status(tenant, { ...m, provider: 'whatsapp', status: 'delivered', t: 41 }),
    );
    await probe.publish(sent(tenant, { ...m, provider: 'whatsapp', t: 35 }));
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('failed'));
    await probe.publish(status(tenant, { ...m, provider: 'whatsapp', status: 'read', t: 50 }));
    await expectEventually(async () => expect((await message(m.messageId))!.timeline).toHaveLength(5));
    const msg = await message(m.messageId);
    expect(msg!.status).toBe('failed');
    expect(msg!.failure).toEqual({ reason: 'outside_window', retryable: false, code: '131047', title: 'Re-engagement message', details: null });
    expect(msg!.timeline.map((e) => e.status)).toEqual(['queued', 'sent', 'failed', 'delivered', 'read']);
    await expectEventually(() => {
      const failed = probe.ofType<{ messageId: string; reason: string; retryable: boolean; error?: { code: string } }>('message.failed')
        .filter((e) => e.data.messageId === m.messageId);
      expect(failed).toHaveLength(1);
      expect(failed[0].data).toMatchObject({ reason: 'outside_window', retryable: false, error: { code: '131047' } });
    });
  });

  it('keeps statuses that arrive before the message is known and applies them when it appears', async () => {
    const m = ids();
    await probe.publish(
      status(tenant, { ...m, provider: 'whatsapp', status: 'read', t: 12 }),
      status(tenant, { ...m, provider: 'whatsapp', status: 'delivered', t: 11 }),
    );
    await expectEventually(async () => {
      const [{ n }] = await ds.query(`SELECT count(*)::int AS n FROM message_status.pending_statuses WHERE provider_message_id = $1`, [m.pmid]);
      expect(n).toBe(2);
    });
    expect(await message(m.messageId)).toBeUndefined();
    await probe.publish(sent(tenant, { ...m, provider: 'whatsapp', t: 10 }));
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('read'));
    await probe.publish(sendRequested(tenant, { messageId: m.messageId, channelId: m.channelId, time: 5 }));
    await expectEventually(async () => expect((await message(m.messageId))!.timeline).toHaveLength(4));
    const msg = await message(m.messageId);
    expect(msg!.status).toBe('read');
    expect(msg!.createdAt).toBe(at(5));
    expect(msg!.timeline.map((e) => e.status)).toEqual(['queued', 'sent', 'delivered', 'read']);
    const [{ n }] = await ds.query(`SELECT count(*)::int AS n FROM message_status.pending_statuses WHERE provider_message_id = $1`, [m.pmid]);
    expect(n).toBe(0);
  });

  it('a provider status with a bogus early timestamp (epoch 0) does not move a message\'s creation earlier, applied at once or after waiting', async () => {
    // created_at took the earliest timestamp of every fact, a provider's too: a status stamped 1970 put the message
    // out of every time range of the dashboard and the API (and, past the retention, up for deletion).
    const epoch = -Date.parse(at(0)) / 1000;
    const known = ids();
    await probe.publish(sendRequested(tenant, { messageId: known.messageId, channelId: known.channelId, time: 0 }), sent(tenant, { ...known, provider: 'whatsapp', t: 1 }));
    await expectEventually(async () => expect(await statusOf(known.messageId)).toBe('sent'));
    await probe.publish(status(tenant, { ...known, provider: 'whatsapp', status: 'delivered', t: epoch }));
    await expectEventually(async () => expect((await message(known.messageId))!.timeline).toHaveLength(3));
    // The status waits for its message, and is applied with the `sent` that makes it known.
    const waited = ids();
    await probe.publish(status(tenant, { ...waited, provider: 'whatsapp', status: 'read', t: epoch }));
    await expectEventually(async () => {
      const [{ n }] = await ds.query(`SELECT count(*)::int AS n FROM message_status.pending_statuses WHERE provider_message_id = $1`, [waited.pmid]);
      expect(n).toBe(1);
    });
    await probe.publish(sent(tenant, { ...waited, provider: 'whatsapp', t: 7 }));
    await expectEventually(async () => expect(await statusOf(waited.messageId)).toBe('read'));
    expect([(await message(known.messageId))!.createdAt, (await message(waited.messageId))!.createdAt]).toEqual([at(0), at(7)]);
    // Still in the time ranges they were created in.
    const listed = (await queries.list(tenant, { from: at(0), to: at(8) })).items.map((x) => x.id);
    expect(listed).toEqual(expect.arrayContaining([known.messageId, waited.messageId]));
  });

  it('deletes, on schedule, statuses whose message never appeared once older than the configured age; younger ones still wait', async () => {
    const orphan = ids();
    const young = ids();
    const waiting = async (pmid: string) =>
      ((await ds.query(`SELECT count(*)::int AS n FROM message_status.pending_statuses WHERE provider_message_id = $1`, [pmid])) as Array<{ n: number }>)[0].n;
    await probe.publish(
      status(tenant, { ...orphan, provider: 'whatsapp', status: 'delivered', t: 1 }),
      status(tenant, { ...young, provider: 'whatsapp', status: 'delivered', t: 1 }),
    );
    await expectEventually(async () => expect([await waiting(orphan.pmid), await waiting(young.pmid)]).toEqual([1, 1]));
    // As if the first had waited 8 days: past the default age of 7.
    await ds.query(`UPDATE message_status.pending_statuses SET received_at = now() - interval '8 days' WHERE provider_message_id = $1`, [orphan.pmid]);
    await expectEventually(async () => expect(await waiting(orphan.pmid)).toBe(0));
    expect(await waiting(young.pmid)).toBe(1);
    await probe.publish(sent(tenant, { ...young, provider: 'whatsapp', t: 0 }));
    await expectEventually(async () => expect(await statusOf(young.messageId)).toBe('delivered'));
    expect(await waiting(young.pmid)).toBe(0);
  });

  it('a send-time failure known only by Elo id creates the message as failed', async () => {
    const m = ids();
    await probe.publish(status(tenant, { eloMessageId: m.messageId, channelId: m.channelId, provider: 'telegram', status: 'failed', t: 3, code: '403', title: 'Forbidden: bot was blocked by the user' }));
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('failed'));
    expect((await message(m.messageId))!.failure).toMatchObject({ reason: 'recipient_unreachable', retryable: false, code: '403' });
  });

  it('a send-time failure is classified by chat-ingress\'s reason over a generic code, and keeps the raw error in the timeline and in message.failed', async () => {
    // Messenger "outside the 24-hour window": code 10 (alone, "no permission"), subcode 2018278, which
    // only chat-ingress sees; it publishes reason outside_window (provider-api.ts `classify`).
    const window = ids();
    const details = '(#10) This message is sent outside of allowed window. Learn more about the new policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview';
    const blocked = ids();
    await probe.publish(
      status(tenant, { eloMessageId: window.messageId, channelId: window.channelId, provider: 'messenger', status: 'failed', t: 5,
        code: '10', title: 'Message failed to send because another app is controlling this thread now.', details, reason: 'outside_window' }),
      status(tenant, { eloMessageId: blocked.messageId, channelId: blocked.channelId, provider: 'telegram', status: 'failed', t: 6,
        code: '403', title: 'Forbidden: bot was blocked by the user', reason: 'blocked_by_user' }),
    );
    await expectEventually(async () => {
      expect(await statusOf(window.messageId)).toBe('failed');
      expect(await statusOf(blocked.messageId)).toBe('failed');
    });
    const msg = (await message(window.messageId))!;
    expect(msg.failure).toMatchObject({ reason: 'outside_window', retryable: false, code: '10', details });
    expect(msg.timeline).toEqual([expect.objectContaining({ status: 'failed', errorCode: '10', errorDetails: details, reason: 'outside_window' })]);
    expect((await message(blocked.messageId))!.failure).toMatchObject({ reason: 'recipient_unreachable', retryable: false, code: '403' });
    await expectEventually(() => {
      const failed = probe.ofType<{ messageId: string; reason: string; error?: { code: string; details?: string } }>('message.failed')
        .filter((e) => e.data.messageId === window.messageId);
      expect(failed).toHaveLength(1);
      expect(failed[0].data).toMatchObject({ reason: 'outside_window', retryable: false, error: { code: '10', details } });
    });
  });

  it('links a waiting status whose message became known in a concurrent transaction (sweeper)', async () => {
    const m = ids();
    // What the race leaves behind: the message known, its status still waiting.
    await ds.query(
      `INSERT INTO message_status.messages (id, tenant_id, channel_id, provider, provider_message_id, status, status_rank, status_at)
       VALUES ($1, $2, $3, 'whatsapp', $4, 'sent', 1, now())`,
      [m.messageId, tenant, m.channelId, m.pmid],
    );
    await ds.query(
      `INSERT INTO message_status.pending_statuses (tenant_id, channel_id, provider, provider_message_id, raw_status, provider_timestamp)
       VALUES ($1, $2, 'whatsapp', $3, 'delivered', now())`,
      [tenant, m.channelId, m.pmid],
    );
    await app.get(PendingSweeper).sweep();
    // The service's own periodic sweep may have claimed the row first (SKIP LOCKED): this sweep then passes it by
    // and the link shows once that transaction commits.
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('delivered'));
  });

  it('ignores duplicates: a redelivered event and a provider repeat are one timeline entry and one change', async () => {
    const m = ids();
    await probe.publish(sent(tenant, { ...m, provider: 'whatsapp', t: 1 }));
    // Applied before the statuses: handled in one batch with them, the message would move to delivered at once (no `sent` change).
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('sent'));
    const delivered = status(tenant, { ...m, provider: 'whatsapp', status: 'delivered', t: 2 });
    await probe.publish(delivered, delivered, status(tenant, { ...m, provider: 'whatsapp', status: 'delivered', t: 2 }));
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('delivered'));
    await probe.publish(status(tenant, { ...m, provider: 'whatsapp', status: 'read', t: 3 }));
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('read'));
    expect((await message(m.messageId))!.timeline.map((e) => e.status)).toEqual(['sent', 'delivered', 'read']);
    await expectEventually(() => expect(changesOf(m.messageId).map((e) => e.data.status)).toEqual(['sent', 'delivered', 'read']));
  });

  it('handles a redelivered event again without the inbox, and it changes nothing and publishes nothing twice', async () => {
    const m = ids();
    // Every event carries the message as its subject (as chat-ingress sends them): the consumer handles a
    // subject's events in arrival order, so once the last one shows, every redelivery before it was handled.
    const queued = sendRequested(tenant, { messageId: m.messageId, channelId: m.channelId, time: 0 });
    const wasSent = sent(tenant, { ...m, provider: 'whatsapp', t: 1 });
    const delivered = status(tenant, { ...m, provider: 'whatsapp', status: 'delivered', t: 2, subject: m.messageId });
    const failed = status(tenant, { ...m, provider: 'whatsapp', status: 'failed', t: 3, code: '131026', subject: m.messageId });
    await probe.publish(queued);
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('queued'));
    // The status comes before its message is known (it waits), and comes again while it waits.
    await probe.publish(delivered);
    await probe.publish(delivered);
    await probe.publish(wasSent);
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('delivered'));
    await probe.publish(queued);
    await probe.publish(wasSent);
    await probe.publish(delivered);
    await probe.publish(failed);
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('failed'));
    await probe.publish(failed);
    await probe.publish(delivered);
    await probe.publish(queued);
    const last = status(tenant, { ...m, provider: 'whatsapp', status: 'read', t: 4, subject: m.messageId });
    await probe.publish(last);
    await expectEventually(async () => expect((await message(m.messageId))!.timeline.map((e) => e.status)).toContain('read'));

    const msg = await message(m.messageId);
    expect(msg!.status).toBe('failed');
    expect(msg!.timeline.map((e) => e.status)).toEqual(['queued', 'sent', 'delivered', 'failed', 'read']);
    // All that was published about the message, once everything written is on the bus: one event per move, once.
    await settled();
    const published = probe.events.filter((e) => e.subject === m.messageId)
      .map((e) => `${e.type}:${(e.data as { status?: string }).status ?? '-'}`);
    expect(published.sort()).toEqual([
      'message.failed:-',
      'message.status.changed:delivered',
      'message.status.changed:failed',
      'message.status.changed:queued',
    ]);
    expect(changesOf(m.messageId).map((e) => e.data.status)).toEqual(['queued', 'delivered', 'failed']);
    // Handled again, not skipped: the inbox holds none of these events.
    const [{ n }] = await ds.query(`SELECT count(*)::int AS n FROM message_status.inbox WHERE event_id = ANY($1::text[])`, [
      [queued.id, wasSent.id, delivered.id, failed.id, last.id],
    ]);
    expect(n).toBe(0);
  });

  it('fails the batch, rather than lose a move, when a locked message is not where the lock found it', async () => {
    const m = ids();
    const input: StatusInput = {
      tenantId: tenant, messageId: m.messageId, channelId: m.channelId, provider: 'whatsapp', providerMessageId: m.pmid,
      status: 'sent', at: new Date(at(1)), source: 'sent',
    };
    await expect(
      ds.transaction(async (manager) => {
        // As if the row had moved after it was locked: the lock statement's answer points elsewhere.
        const query = manager.query.bind(manager);
        manager.query = (async (sql: string, params?: unknown[]) => {
          const rows = await query(sql, params);
          return sql.includes('FOR UPDATE') ? (rows as object[]).map((r) => ({ ...r, ctid: '(0,1)' })) : rows;
        }) as typeof manager.query;
        await app.get(TrackingService).apply(manager, [input]);
      }),
    ).rejects.toThrow('status moves: 0 of 1');
    expect(await message(m.messageId)).toBeUndefined();
  });

  it('Messenger watermarks expanded to several messages move each of them', async () => {
    const channelId = randomUUID();
    const ms = [1, 2, 3].map((i) => ({ messageId: randomUUID(), channelId, pmid: `m_${randomUUID()}`, t: i }));
    await probe.publish(...ms.map((m) => sent(tenant, { ...m, provider: 'messenger' })));
    await expectEventually(async () => expect(await Promise.all(ms.map((m) => statusOf(m.messageId)))).toEqual(['sent', 'sent', 'sent']));
    // The delivery watermark covers all three; the read watermark only the first two.
    await probe.publish(...ms.map((m) => status(tenant, { channelId, pmid: m.pmid, provider: 'messenger', status: 'delivered', t: 10 })));
    await probe.publish(...ms.slice(0, 2).map((m) => status(tenant, { channelId, pmid: m.pmid, provider: 'messenger', status: 'read', t: 20 })));
    await expectEventually(async () => expect(await Promise.all(ms.map((m) => statusOf(m.messageId)))).toEqual(['read', 'read', 'delivered']));
  });

  it('never shows a state the channel cannot report, yet keeps it in the timeline', async () => {
    const tg = ids();
    const ig = ids();
    await probe.publish(sent(tenant, { ...tg, provider: 'telegram', t: 1 }), sent(tenant, { ...ig, provider: 'instagram', t: 1 }));
    await probe.publish(
      status(tenant, { ...tg, provider: 'telegram', status: 'delivered', t: 2 }),
      status(tenant, { ...tg, provider: 'telegram', status: 'read', t: 3 }),
      status(tenant, { ...ig, provider: 'instagram', status: 'delivered', t: 2 }),
    );
    await expectEventually(async () => {
      expect((await message(tg.messageId))?.timeline).toHaveLength(3);
      expect((await message(ig.messageId))?.timeline).toHaveLength(2);
    });
    const t = await message(tg.messageId);
    expect(t!.status).toBe('sent');
    expect(t!.timeline.map((e) => [e.status, e.reportable])).toEqual([['sent', true], ['delivered', false], ['read', false]]);
    expect(await statusOf(ig.messageId)).toBe('sent');
    await probe.publish(status(tenant, { ...ig, provider: 'instagram', status: 'read', t: 3 }));
    await expectEventually(async () => expect(await statusOf(ig.messageId)).toBe('read'));
  });

  it.each([
    ['whatsapp', '130429', 'rate_limited', true],
    ['whatsapp', '190', 'provider_auth', false],
    ['whatsapp', '132001', 'template', false],
    ['whatsapp', '131026', 'recipient_unreachable', false],
    ['telegram', '429', 'rate_limited', true],
  ])('classifies a %s failure with code %s as %s', async (provider, code, reason, retryable) => {
    const m = ids();
    await probe.publish(sent(tenant, { ...m, provider, t: 1 }), status(tenant, { ...m, provider, status: 'failed', t: 2, code }));
    await expectEventually(async () => expect((await message(m.messageId))?.failure).toMatchObject({ reason, retryable, code }));
  });

  it('records integration failures for the failures board', async () => {
    await probe.publish(integrationFailed(tenant, { errorClass: 'timeout', name: 'erp' }), integrationFailed(tenant, { errorClass: 'timeout' }));
    await expectEventually(async () => {
      const board = await queries.failures(tenant, {});
      expect(board.groups.find((g) => g.reason === 'integration:timeout')).toMatchObject({ kind: 'integration', count: 2 });
    });
  });

  it('a delivery that fails again after a resend is on the board at its latest failure and streamed again; an older report changes nothing', async () => {
    // The dispatcher's resend keeps the delivery's id: its next failure was dropped as a duplicate, so the board kept
    // the first failure's time and error, and the live dashboard heard nothing.
    const t = randomUUID();
    const deliveryId = randomUUID();
    const first = integrationFailed(t, { errorClass: 'timeout', deliveryId, time: 0, attempts: 5 });
    const { streamed, unsubscribe, settle } = watch(t);
    try {
      await probe.publish(first);
      await expectEventually(async () => expect((await queries.failures(t, {})).groups.map((g) => g.reason)).toEqual(['integration:timeout']));
      await settle(1);
      await probe.publish(integrationFailed(t, { errorClass: 'http_status', httpStatus: 500, deliveryId, time: 3_600, attempts: 6 }));
      await expectEventually(() => expect(streamed).toMatchObject([{ kind: 'integration_failure', deliveryId, errorClass: 'http_status', at: at(3_600) }]));
      const since = { from: at(1_800) };
      expect((await queries.failures(t, since)).groups).toMatchObject([
        { kind: 'integration', reason: 'integration:http_status', count: 1, latest: [{ id: deliveryId, code: '500', at: at(3_600) }] },
      ]);
      // The first report again (a new event id: a replay), older than what is known: nothing moves back.
      // As the dispatcher publishes it, its subject the delivery (a subject's events are handled one batch after another).
      const replay = { ...first, id: randomUUID(), subject: deliveryId };
      await probe.publish(replay);
      await expectEventually(async () => expect(await ds.query(`SELECT 1 FROM message_status.inbox WHERE event_id = $1`, [replay.id])).toHaveLength(1));
      expect((await queries.failures(t, {})).groups).toMatchObject([{ reason: 'integration:http_status', count: 1, latest: [{ at: at(3_600) }] }]);
      // Another tenant's report naming the same delivery, later: neither tenant's board changes.
      const other = randomUUID();
      const foreign = integrationFailed(other, { errorClass: 'dns', deliveryId, time: 7_200 });
      await probe.publish(foreign);
      await expectEventually(async () => expect(await ds.query(`SELECT 1 FROM message_status.inbox WHERE event_id = $1`, [foreign.id])).toHaveLength(1));
      expect((await queries.failures(t, {})).groups).toMatchObject([{ reason: 'integration:http_status', count: 1, latest: [{ at: at(3_600) }] }]);
      expect((await queries.failures(other, {})).groups).toEqual([]);
      // The delivery fails once more, later: a change of ours handled after the replay (same subject) and committed after
      // the other tenant's report (its inbox row is there), so its NOTIFY comes after any they had sent (one notifier, in
      // commit order). Once it is streamed, nothing else was.
      await probe.publish({ ...integrationFailed(t, { errorClass: 'dns', deliveryId, time: 10_800, attempts: 7 }), subject: deliveryId });
      await expectEventually(() => expect(streamed.map((c) => (c as { errorClass?: string }).errorClass)).toContain('dns'));
      expect(streamed).toMatchObject([{ deliveryId, errorClass: 'http_status', at: at(3_600) }, { deliveryId, errorClass: 'dns', at: at(10_800) }]);
    } finally {
      unsubscribe();
    }
  });

  it('a later success of the same delivery (a resend) resolves its failure: off the board unless asked for, streamed; a new failure puts it back', async () => {
    // ARCHITECTURE.md had message-status consume integration.delivery.succeeded for the board; it did not, so a
    // failure fixed by a successful resend stayed on the board for good.
    const t = randomUUID();
    const [fixed, standing] = [randomUUID(), randomUUID()];
    const { streamed, unsubscribe, settle } = watch(t);
    await probe.publish(
      integrationFailed(t, { errorClass: 'timeout', deliveryId: fixed, time: 0 }),
      integrationFailed(t, { errorClass: 'timeout', deliveryId: standing, time: 0 }),
    );
    await expectEventually(async () => expect((await queries.failures(t, {})).groups).toMatchObject([{ reason: 'integration:timeout', count: 2 }]));
    // A success older than the failure (a replay of one before it) resolves nothing; nor does another tenant's.
    const noEffect = [integrationSucceeded(t, { deliveryId: standing, time: -60 }), integrationSucceeded(randomUUID(), { deliveryId: standing, time: 60 })];
    try {
      await settle(2);
      // One broker message: its events are handled in one batch (the handler is idempotent, so no inbox row tells when),
      // so once the resolved one is streamed the other two have been handled too.
      await probe.publishBatched(...noEffect, integrationSucceeded(t, { deliveryId: fixed, time: 60 }));
      await expectEventually(() => expect(streamed).toMatchObject([{ kind: 'integration_failure', deliveryId: fixed, at: at(0), resolvedAt: at(60) }]));
    } finally {
      unsubscribe();
    }
    expect((await queries.failures(t, {})).groups).toMatchObject([{ reason: 'integration:timeout', count: 1, latest: [{ id: standing }] }]);
    const all = await queries.failures(t, { resolved: 'include' });
    expect(all.groups).toMatchObject([{ reason: 'integration:timeout', count: 2 }]);
    expect(Object.fromEntries(all.groups[0].latest.map((l) => [l.id, l.resolvedAt]))).toEqual({ [fixed]: at(60), [standing]: null });
    // It fails again after that: back on the board.
    await probe.publish(integrationFailed(t, { errorClass: 'http_status', httpStatus: 502, deliveryId: fixed, time: 120 }));
    await expectEventually(async () => expect((await queries.failures(t, {})).groups.map((g) => [g.reason, g.count])).toEqual([
      ['integration:http_status', 1], ['integration:timeout', 1],
    ]));
  });

  it('a success handled before the failure it came after resolves that failure when it arrives; a failure later than the success stays', async () => {
    // The bus keeps no order between a delivery's failure and the success of its resend: a success handled first was
    // not remembered, and the failure it had fixed stayed on the board for good.
    const t = randomUUID();
    const [early, late, foreign, firstTry, marker] = [randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const { streamed, unsubscribe, settle } = watch(t);
    await probe.publish(integrationFailed(t, { errorClass: 'timeout', deliveryId: marker, time: 0 }));
    await expectEventually(async () => expect((await queries.failures(t, {})).groups).toMatchObject([{ count: 1 }]));
    const successes = [
      integrationSucceeded(t, { deliveryId: early, time: 60, attempts: 6 }),
      integrationSucceeded(t, { deliveryId: late, time: 60, attempts: 6 }),
      // Another tenant's success naming the delivery resolves nothing of this tenant's.
      integrationSucceeded(randomUUID(), { deliveryId: foreign, time: 60, attempts: 6 }),
      // A success at the first attempt cannot follow a failure of its delivery (attempts count on across resends): not kept.
      integrationSucceeded(t, { deliveryId: firstTry, time: 60, attempts: 1 }),
    ];
    try {
      await settle(1);
      // One broker message, one batch: once the marker's resolution is streamed the other successes have been handled.
      await probe.publishBatched(...successes, integrationSucceeded(t, { deliveryId: marker, time: 60, attempts: 6 }));
      await expectEventually(() => expect(streamed).toMatchObject([{ deliveryId: marker, resolvedAt: at(60) }]));
      // The same successes again (the handler is idempotent: no inbox row), then the failures they came after or before.
      await probe.publishBatched(...successes);
      const failures = [
        integrationFailed(t, { errorClass: 'timeout', deliveryId: early, time: 0 }),
        integrationFailed(t, { errorClass: 'timeout', deliveryId: late, time: 120 }),
        integrationFailed(t, { errorClass: 'timeout', deliveryId: foreign, time: 0 }),
        integrationFailed(t, { errorClass: 'timeout', deliveryId: firstTry, time: 0 }),
      ];
      await probe.publish(...failures);
      await expectEventually(async () =>
        expect(await ds.query(`SELECT 1 FROM message_status.inbox WHERE event_id = ANY($1)`, [failures.map((f) => f.id)])).toHaveLength(failures.length));
      await expectEventually(() => expect(streamed.filter((c) => c.kind === 'integration_failure' && c.deliveryId === early)).toMatchObject([
        { at: at(0), resolvedAt: at(60) },
      ]));
      // Each failure's change comes by its own NOTIFY, after its own commit: the others may still be on their way.
      await expectEventually(() => expect(streamed.filter((c) => c.kind === 'integration_failure' && c.deliveryId !== early && c.deliveryId !== marker)
        .map((c) => (c as { resolvedAt?: string }).resolvedAt)).toEqual([undefined, undefined, undefined]));
    } finally {
      unsubscribe();
    }
    const board = await queries.failures(t, {});
    expect(board.groups).toMatchObject([{ reason: 'integration:timeout', count: 3 }]);
    expect(board.groups[0].latest.map((l) => l.id).sort()).toEqual([late, foreign, firstTry].sort());
    const all = await queries.failures(t, { resolved: 'include' });
    expect(Object.fromEntries(all.groups[0].latest.map((l) => [l.id, l.resolvedAt]))).toEqual({
      [early]: at(60), [marker]: at(60), [late]: null, [foreign]: null, [firstTry]: null,
    });
    expect(await ds.query(`SELECT 1 FROM message_status.inbox WHERE event_id = ANY($1)`, [successes.map((e) => e.id)])).toEqual([]);
  });

  it.each(['success', 'failure'] as const)('a failure and a later success of one delivery in concurrent transactions: the %s handled first is seen by the other', async (first) => {
    // Each statement saw only what had committed when it began: the failure missed the success kept in a batch still
    // in flight, the success missed the failure, and the failure stayed on the board once both had committed.
    const tracking = app.get(TrackingService);
    const t = randomUUID();
    const deliveryId = randomUUID();
    const success = (m: EntityManager) => tracking.resolveIntegrationFailures(m, [{ tenantId: t, deliveryId, at: new Date(at(60)), attempts: 6 }]);
    const failure = (m: EntityManager) => tracking.recordIntegrationFailures(m, [{
      tenantId: t, deliveryId, integrationId: randomUUID(), integrationName: 'crm', eventType: 'chat.message.received', errorClass: 'timeout', attempts: 5,
      at: new Date(at(0)),
    }]);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const begun = new Promise<void>((r) => (started = r));
    const firstTx = ds.transaction(async (m) => {
      await (first === 'success' ? success(m) : failure(m));
      started();
      await held;
    });
    try {
      await begun;
      const secondTx = ds.transaction((m) => (first === 'success' ? failure(m) : success(m)));
      // The second waits for the first to commit.
      await expectEventually(async () => expect(await ds.query(
        `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'advisory' AND pid <> pg_backend_pid()`,
      )).toHaveLength(1));
      release();
      await Promise.all([firstTx, secondTx]);
    } finally {
      release();
      await firstTx;
    }
    expect(await ds.query(`SELECT resolved_at FROM message_status.integration_failures WHERE delivery_id = $1`, [deliveryId])).toEqual([
      { resolved_at: new Date(at(60)) },
    ]);
  });

  it('stores a provider\'s error text with U+0000 or a lone surrogate (as U+FFFD) instead of losing the status', async () => {
    // A provider's raw error text can carry anything (a PDF's bytes, half an emoji): PostgreSQL text refuses
    // U+0000 and lone surrogates, which failed the batch and, after the retries, parked the status.
    const known = ids();
    const waits = ids();
    const details = 'PDF\u0000bytes \ud83d half';
    await probe.publish(sent(tenant, { ...known, provider: 'whatsapp', t: 1 }));
    await expectEventually(async () => expect(await statusOf(known.messageId)).toBe('sent'));
    await probe.publish(
      status(tenant, { ...known, provider: 'whatsapp', status: 'failed', t: 2, code: '131026', title: 'Undeliverable\u0000', details }),
      status(tenant, { ...waits, pmid: `${waits.pmid}\u0000`, provider: 'whatsapp', status: 'failed', t: 2, code: '131026', details }),
    );
    const failure = integrationFailed(tenant, { errorClass: 'http_status', name: 'crm\u0000' }) as CloudEvent<{ error: string }>;
    failure.data.error = details;
    await probe.publish(failure);
    await expectEventually(async () => expect((await message(known.messageId))?.failure).toMatchObject({
      reason: 'recipient_unreachable', title: 'Undeliverable\ufffd', details: 'PDF\ufffdbytes \ufffd half' }));
    await expectEventually(async () => {
      const [{ n }] = await ds.query(`SELECT count(*)::int AS n FROM message_status.pending_statuses WHERE provider_message_id = $1`, [`${waits.pmid}\ufffd`]);
      expect(n).toBe(1);
    });
    await expectEventually(async () => {
      const board = await queries.failures(tenant, {});
      expect(board.groups.find((g) => g.reason === 'integration:http_status')?.latest[0]).toMatchObject({ title: 'crm\ufffd: PDF\ufffdbytes \ufffd half' });
    });
  });

  it('keeps tenants apart: another tenant cannot move or see a message', async () => {
    const m = ids();
    const other = randomUUID();
    await probe.publish(sent(tenant, { ...m, provider: 'whatsapp', t: 1 }));
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('sent'));
    // One broker message, one batch (one transaction): once our status is applied, the other tenant's were handled too
    // (they leave no trace of their own to wait for), so the status and the timeline read then are final.
    await probe.publishBatched(
      status(other, { ...m, provider: 'whatsapp', status: 'read', t: 5 }),
      status(other, { ...m, eloMessageId: m.messageId, provider: 'whatsapp', status: 'failed', t: 5, code: '4' }),
      status(tenant, { ...m, provider: 'whatsapp', status: 'delivered', t: 6 }),
    );
    await expectEventually(async () => expect(await statusOf(m.messageId)).toBe('delivered'));
    expect((await message(m.messageId))!.timeline.map((e) => e.status)).toEqual(['sent', 'delivered']);
    expect(await message(m.messageId, other)).toBeUndefined();
  });
});
