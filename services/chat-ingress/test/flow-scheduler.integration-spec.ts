import type { INestApplication } from '@nestjs/common';
import { expectEventually } from '@elo/testing';
import type { EntityManager } from 'typeorm';
import { startHarness, tickFor, type Harness } from './support/harness';

/**
 * The flow scheduler's tick finds what is due through `conversations.flow_due_at` (kept by the service whenever a
 * conversation's timers change) and its partial index, not by weighing every open bot conversation. Tests move a
 * conversation through time by moving all its stored times back, its due time with them.
 */
describe('chat-ingress: the flow scheduler finds due conversations through their due time', () => {
  let h: Harness;
  let seq = 0;

  beforeAll(async () => {
    h = await startHarness('chat_ingress_flow_due', { CHAT_WORKERS: 'on', FLOW_TICK_MS: '3600000' });
  });

  afterAll(async () => {
    await h?.close();
  });

  const MENU = { start: 'menu', steps: {
    menu: { type: 'menu', text: 'Olá! Escolha:', options: [{ id: 'boleto', title: 'Boleto', next: 'billing' }] },
    billing: { type: 'integration', integration: 'billing', timeoutSeconds: 60, onSuccess: 'bye', onFailure: 'bye' },
    bye: { type: 'close', text: 'Até logo!' },
  } };

  /** A tenant with a WhatsApp channel running MENU (reminder 'Ainda está aí?'), and a way to have its customers write. */
  const tenant = async (settings: Record<string, unknown> = {}) => {
    const n = ++seq;
    const pn = `PNDUE${n}`;
    const t = await h.tenantKey();
    const channel = (await h.api<{ id: string }>('POST', '/channels', t.headers, {
      provider: 'whatsapp', name: `due ${n}`, phoneNumberId: pn, credentials: { accessToken: 'tok', appSecret: 'due-secret' },
      settings: { reminderMessage: 'Ainda está aí?', ...settings },
    })).body;
    expect((await h.api('PUT', '/flow', t.headers, MENU)).status).toBe(200);
    /** Customer `k` of this channel writes `text`; resolves with their open conversation once the bot answered it. */
    const customer = (k: number) => {
      const phone = `55419977${String(n).padStart(2, '0')}${String(k).padStart(3, '0')}`;
      const conversation = async () => (await h.ds.query(
        `SELECT c.* FROM chat_ingress.conversations c JOIN chat_ingress.contacts ct ON ct.id = c.contact_id WHERE ct.phone = $1 ORDER BY c.opened_at DESC LIMIT 1`, [`+${phone}`]))[0];
      const text = async (body: string) => {
        const raw = JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: 'W', changes: [{ field: 'messages', value: {
          messaging_product: 'whatsapp', metadata: { phone_number_id: pn }, contacts: [{ wa_id: phone, profile: { name: 'Cliente' } }],
          messages: [{ from: phone, id: `wamid.DUE.${n}.${k}.${++seq}`, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body } }] } }] }] });
        expect((await h.postMeta('whatsapp', channel.id, raw, 'due-secret')).status).toBe(200);
      };
      const got = () => h.fakes.sent(`/graph/${pn}/messages`).filter((r) => (r.body as { to?: string }).to === phone)
        .map((r) => (r.body as { text?: { body: string }; interactive?: { body: { text: string } } }))
        .map((b) => b.text?.body ?? b.interactive?.body.text ?? '');
      return { phone, conversation, text, got };
    };
    return { ...t, channel, customer };
  };

  /** A new tenant's customer who chose "Boleto": their conversation waits for the billing integration's outcome. */
  const waitingForBilling = async () => {
    const t = await tenant();
    const c = t.customer(1);
    await c.text('oi');
    await expectEventually(() => expect(c.got()).toHaveLength(1));
    await c.text('1');
    const waiting = await expectEventually(async () => {
      const conv = await c.conversation();
      expect(conv.flow_state).toMatchObject({ stepId: 'billing', waiting: 'integration' });
      return conv;
    });
    return { t, c, waiting };
  };

  /** The customer's last message's time (what silence counts from). */
  const lastIn = async (conversationId: string): Promise<Date> =>
    (await h.ds.query(`SELECT max(created_at) AS at FROM chat_ingress.messages WHERE conversation_id = $1 AND direction = 'in'`, [conversationId]))[0].at;

  /** `minutes` pass for one conversation: every time stored for it moves back (its messages, reminder, flow times and due time). */
  const travel = async (conversationId: string, minutes: number) => {
    await h.ds.query(`UPDATE chat_ingress.messages SET created_at = created_at - make_interval(mins => $2) WHERE conversation_id = $1`, [conversationId, minutes]);
    await h.ds.query(
      `UPDATE chat_ingress.conversations SET reminder_sent_at = reminder_sent_at - make_interval(mins => $2), flow_due_at = flow_due_at - make_interval(mins => $2),
         flow_state = flow_state || jsonb_strip_nulls(jsonb_build_object(
           'waitUntil', ((flow_state->>'waitUntil')::timestamptz - make_interval(mins => $2))::text,
           'waitEndedAt', ((flow_state->>'waitEndedAt')::timestamptz - make_interval(mins => $2))::text))
       WHERE id = $1`, [conversationId, minutes]);
  };

  const minutes = (n: number) => n * 60_000;

  it('a silent customer is due reminderAfterMinutes after their last message: the tick reminds them, leaves a customer not yet due, and the reminded one is due to close closeAfterMinutes after the reminder', async () => {
    const t = await tenant({ reminderAfterMinutes: 60, closeAfterMinutes: 30 });
    const silent = t.customer(1);
    const recent = t.customer(2);
    await silent.text('oi');
    await recent.text('oi');
    await expectEventually(() => expect([silent.got(), recent.got()]).toEqual([['Olá! Escolha:\n1 - Boleto'], ['Olá! Escolha:\n1 - Boleto']]));
    const a = await silent.conversation();
    const b = await recent.conversation();
    expect(a.flow_due_at.getTime()).toBe((await lastIn(a.id)).getTime() + minutes(60));
    expect(b.flow_due_at.getTime()).toBe((await lastIn(b.id)).getTime() + minutes(60));

    // Each one not yet due has half an hour to go, so a slow run (minutes) does not make it due.
    await travel(a.id, 61);
    await travel(b.id, 30);
    const tick = () => tickFor(h.app, { tenantId: t.tenantId });
    expect(await tick()).toEqual({ timedOut: 0, reminded: 1, closed: 0 });
    await expectEventually(() => expect(silent.got()).toEqual(['Olá! Escolha:\n1 - Boleto', 'Ainda está aí?']));
    const reminded = await silent.conversation();
    expect(reminded.flow_due_at.getTime()).toBe(reminded.reminder_sent_at.getTime() + minutes(30));
    const left = await recent.conversation();
    expect(left).toMatchObject({ status: 'open', reminder_sent_at: null });
    expect(left.flow_due_at.getTime()).toBe(b.flow_due_at.getTime() - minutes(30));

    await travel(a.id, 15);
    expect(await tick()).toEqual({ timedOut: 0, reminded: 0, closed: 0 });
    await travel(a.id, 16);
    await travel(b.id, 31);
    expect(await tick()).toEqual({ timedOut: 0, reminded: 1, closed: 1 });
    expect(await silent.conversation()).toMatchObject({ id: a.id, status: 'closed', close_reason: 'inactivity' });
    await expectEventually(() => expect(recent.got()).toEqual(['Olá! Escolha:\n1 - Boleto', 'Ainda está aí?']));
  });

  it('a wait is due at its limit; moved to a human queue it is due no more, back in the bot queue it is due for silence again', async () => {
    const { t, c, waiting } = await waitingForBilling();
    expect(waiting.flow_due_at.getTime()).toBe(Date.parse(waiting.flow_state.waitUntil));

    expect((await h.api('POST', `/conversations/${waiting.id}/transfer`, t.headers, { queue: 'human' })).status).toBe(200);
    expect(await c.conversation()).toMatchObject({ queue: 'human', flow_due_at: null });
    await travel(waiting.id, 30);
    expect(await tickFor(h.app, { tenantId: t.tenantId })).toEqual({ timedOut: 0, reminded: 0, closed: 0 });

    expect((await h.api('POST', `/conversations/${waiting.id}/transfer`, t.headers, { queue: 'bot' })).status).toBe(200);
    const back = await c.conversation();
    expect(back.queue).toBe('bot');
    expect(back.flow_due_at.getTime()).toBe((await lastIn(back.id)).getTime() + minutes(10));
    expect(await tickFor(h.app, { tenantId: t.tenantId })).toEqual({ timedOut: 0, reminded: 1, closed: 0 });
  });

  it('a timed-out wait is handled once its limit passes, not before', async () => {
    const { t, c, waiting } = await waitingForBilling();
    const tick = () => tickFor(h.app, { tenantId: t.tenantId });
    expect(await tick()).toEqual({ timedOut: 0, reminded: 0, closed: 0 });
    await travel(waiting.id, 2);
    expect(await tick()).toEqual({ timedOut: 1, reminded: 0, closed: 0 });
    await expectEventually(() => expect(c.got().at(-1)).toBe('Até logo!'));
    expect(await c.conversation()).toMatchObject({ id: waiting.id, status: 'closed', close_reason: 'bot' });
  });

  it('a channel\'s shorter reminderAfterMinutes brings its conversations\' due times forward; a disabled channel\'s are due again when it is enabled', async () => {
    const t = await tenant();
    const c = t.customer(1);
    await c.text('oi');
    await expectEventually(() => expect(c.got()).toHaveLength(1));
    const conv = await c.conversation();
    const last = (await lastIn(conv.id)).getTime();
    expect(conv.flow_due_at.getTime()).toBe(last + minutes(10));
    expect((await h.api('PATCH', `/channels/${t.channel.id}`, t.headers, { settings: { reminderAfterMinutes: 3 } })).status).toBe(200);
    expect((await c.conversation()).flow_due_at.getTime()).toBe(last + minutes(3));

    expect((await h.api('POST', `/channels/${t.channel.id}/disable`, t.headers)).status).toBe(200);
    await travel(conv.id, 4);
    expect(await tickFor(h.app, { tenantId: t.tenantId })).toEqual({ timedOut: 0, reminded: 0, closed: 0 });
    expect((await c.conversation()).flow_due_at).toBeNull();
    expect((await h.api('POST', `/channels/${t.channel.id}/enable`, t.headers)).status).toBe(200);
    expect((await c.conversation()).flow_due_at.getTime()).toBe(last - minutes(4) + minutes(3));
    expect(await tickFor(h.app, { tenantId: t.tenantId })).toEqual({ timedOut: 0, reminded: 1, closed: 0 });
  });

  it('replicas ticking at once remind each due customer once', async () => {
    const t = await tenant();
    const customers = [1, 2, 3, 4, 5, 6].map((k) => t.customer(k));
    for (const c of customers) await c.text('oi');
    await expectEventually(() => expect(customers.map((c) => c.got().length)).toEqual([1, 1, 1, 1, 1, 1]));
    for (const c of customers) await travel((await c.conversation()).id, 11);
    const replica: INestApplication = await h.replica();
    try {
      const own = { tenantId: t.tenantId };
      const [x, y] = await Promise.all([tickFor(h.app, own), tickFor(replica, own)]);
      expect(x.reminded + y.reminded).toBe(6);
      expect(await tickFor(h.app, own)).toEqual({ timedOut: 0, reminded: 0, closed: 0 });
      // Each replica sends what it queued: both stay up until every reminder has gone out.
      await expectEventually(() => expect(customers.map((c) => c.got())).toEqual(customers.map(() => ['Olá! Escolha:\n1 - Boleto', 'Ainda está aí?'])));
    } finally {
      await replica.close();
    }
  });

  /** A plan's nodes, depth first. */
  const nodes = (plan: Record<string, unknown>): Array<Record<string, unknown>> =>
    [plan, ...((plan['Plans'] as Array<Record<string, unknown>> | undefined) ?? []).flatMap(nodes)];

  it('with 20,000 idle open bot conversations, no statement of the tick reads conversations by a sequential scan: the due ones are found through the due-time index', async () => {
    const t = await tenant();
    const flow = (await h.api<{ id: string }>('GET', '/flow', t.headers)).body;
    // Idle customers, each due some time in the next ten minutes (what the service stores after the bot spoke), and three due now.
    // Enough rows, analysed, for the planner's own choice with its default settings to be the real one: on these rows the
    // previous release's tick read conversations by four sequential scans (its selections weighed every open conversation).
    await h.ds.query(
      `WITH n AS (SELECT i, gen_random_uuid() AS contact_id, gen_random_uuid() AS conv_id, now() - (i % 300) * interval '1 second' AS last_in
                    FROM generate_series(1, 20003) i),
            ct AS (INSERT INTO chat_ingress.contacts (id, tenant_id, channel_id, contact_key, phone, name)
                   SELECT contact_id, $1, $2, 'idle' || i, '+5541970' || lpad(i::text, 6, '0'), 'Cliente' FROM n),
            cv AS (INSERT INTO chat_ingress.conversations (id, tenant_id, channel_id, contact_id, queue, flow_id, flow_version, flow_state, last_inbound_at, opened_at, flow_due_at)
                   SELECT conv_id, $1, $2, contact_id, 'bot', $3, 1, '{"stepId": "menu", "waiting": "input"}', last_in, last_in,
                          CASE WHEN i <= 3 THEN last_in - interval '11 minutes' ELSE last_in + interval '10 minutes' END FROM n)
       INSERT INTO chat_ingress.messages (id, tenant_id, channel_id, conversation_id, contact_id, direction, kind, status, body, created_at)
       SELECT gen_random_uuid(), $1, $2, conv_id, contact_id, 'in', 'text', 'received', '{"message": {"kind": "text", "text": "oi"}}',
              CASE WHEN i <= 3 THEN last_in - interval '21 minutes' ELSE last_in END FROM n`,
      [t.tenantId, t.channel.id, flow.id],
    );
    await h.ds.query('ANALYZE chat_ingress.conversations');
    await h.ds.query('ANALYZE chat_ingress.messages');

    // The statements the tick runs, as it runs them (the scheduler's own DataSource, passed through unchanged).
    const statements: Array<{ sql: string; params?: unknown[] }> = [];
    const transaction = h.ds.transaction.bind(h.ds) as (work: (m: EntityManager) => Promise<unknown>) => Promise<unknown>;
    const spy = jest.spyOn(h.ds, 'transaction').mockImplementationOnce(((work: (m: EntityManager) => Promise<unknown>) => transaction((m) => {
      const query = m.query.bind(m);
      m.query = ((sql: string, params?: unknown[]) => {
        statements.push({ sql, params });
        return query(sql, params);
      }) as EntityManager['query'];
      return work(m);
    })) as unknown as typeof h.ds.transaction);
    try {
      expect(await tickFor(h.app, { tenantId: t.tenantId })).toEqual({ timedOut: 0, reminded: 3, closed: 0 });
    } finally {
      spy.mockRestore();
    }

    const reads = statements.filter((s) => /conversations/.test(s.sql) && /^\s*(SELECT|WITH|UPDATE)/i.test(s.sql));
    expect(reads.length).toBeGreaterThan(0);
    const scans: string[] = [];
    for (const s of reads) {
      const [{ 'QUERY PLAN': [plan] }] = await h.ds.query(`EXPLAIN (FORMAT JSON) ${s.sql}`, s.params);
      for (const node of nodes(plan.Plan)) {
        // A bitmap scan names the table on its heap node and the index on its child.
        if (node['Relation Name'] === 'conversations' || String(node['Index Name']).startsWith('conversations_')) scans.push(`${node['Node Type']}${node['Index Name'] ? ` ${node['Index Name']}` : ''}`);
      }
    }
    expect(scans.filter((s) => s.startsWith('Seq Scan'))).toEqual([]);
    expect(scans.some((s) => s.includes('conversations_flow_due_idx'))).toBe(true);
  });
});
