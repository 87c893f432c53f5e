/**
 * chat-ingress bot flow scheduler benchmark (run on demand, not in tests):
 *
 *   ELO_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
 *   ELO_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5672 \
 *   node -r @swc-node/register bench/flow-scheduler.bench.ts [idle=50000] [due=5] [rounds=7]
 *
 * One tick of the flow scheduler (FlowScheduler.tick: waits timed out, reminders, closes), first with no other open
 * conversation (the floor), then beside `idle` open bot conversations whose customers wrote lately (due in the next
 * minutes, as the service stores them). Each round times a tick with nothing due (the cost of finding), then one with
 * `due` fresh silent customers to remind; with the idle ones, also the previous release's selections (copied below:
 * the same conditions without the due-time index, which weighed every open bot conversation) on the same rows, in a
 * transaction rolled back. Prints the median ms of each, their ratios to the floor and to the tick, the conversations'
 * table and due-index sizes, and the load average (the machine is shared). The service runs in this process (the tick
 * is database work) with its workers off; the reminders' sends fail at once (the provider's URL is a private address
 * the egress guard refuses), so nothing leaves the machine. Uses a database and vhost of its own (createTestInfra) and
 * drops them at the end.
 */
import 'reflect-metadata';
import { loadavg } from 'node:os';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { callApi, createTestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../services/chat-ingress/src/app.module';
import { ChatIngressConfig } from '../services/chat-ingress/src/config/chat-ingress.config';
import { keepFlowDue } from '../services/chat-ingress/src/flow/flow-due';
import { FlowScheduler } from '../services/chat-ingress/src/flow/flow-scheduler.service';

const IDLE = Number(process.argv[2] ?? 50_000);
const DUE = Number(process.argv[3] ?? 5);
const ROUNDS = Number(process.argv[4] ?? 7);
const ADMIN = 'b'.repeat(40);
const out = (s: string) => process.stdout.write(`${s}\n`);
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// --- The previous release's selections (flow-scheduler.service.ts as it was), the channel's bot queue spelled out.
const S = '"chat_ingress"';
const BOT_QUEUE = `COALESCE(ch.settings->>'botQueue', 'bot')`;
const NO_OUTCOME_WAIT = `COALESCE(c.flow_state->>'waiting', '') NOT IN ('integration', 'viability')`;
const QUIET_SINCE = `GREATEST(li.last_in, (c.flow_state->>'waitEndedAt')::timestamptz)`;
const BEFORE = [
  `SELECT * FROM ${S}.conversations
    WHERE status = 'open' AND flow_id IS NOT NULL AND flow_state->>'waiting' IN ('integration', 'viability') AND flow_state->>'waitUntil' IS NULL
    ORDER BY id LIMIT 200 FOR UPDATE SKIP LOCKED`,
  `SELECT c.* FROM ${S}.conversations c JOIN ${S}.channels ch ON ch.id = c.channel_id
    WHERE c.status = 'open' AND c.flow_id IS NOT NULL AND c.flow_state->>'waiting' IN ('integration', 'viability')
      AND c.queue = ${BOT_QUEUE} AND ch.status = 'active'
      AND (c.flow_state->>'waitUntil')::timestamptz < now()
    ORDER BY c.id LIMIT 200 FOR UPDATE OF c SKIP LOCKED`,
  `SELECT c.*, ch.settings->>'reminderMessage' AS reminder_message FROM ${S}.conversations c JOIN ${S}.channels ch ON ch.id = c.channel_id
    CROSS JOIN LATERAL (SELECT max(mi.created_at) AS last_in FROM ${S}.messages mi WHERE mi.conversation_id = c.id AND mi.direction = 'in') li
    WHERE c.status = 'open' AND c.flow_id IS NOT NULL AND (c.reminder_sent_at IS NULL OR c.reminder_sent_at < li.last_in)
      AND c.queue = ${BOT_QUEUE} AND ch.status = 'active' AND ${NO_OUTCOME_WAIT}
      AND COALESCE((ch.settings->>'reminderAfterMinutes')::int, 10) > 0
      AND ${QUIET_SINCE} < now() - make_interval(mins => COALESCE((ch.settings->>'reminderAfterMinutes')::int, 10))
    ORDER BY ${QUIET_SINCE} LIMIT 200 FOR UPDATE OF c SKIP LOCKED`,
  `SELECT c.* FROM ${S}.conversations c JOIN ${S}.channels ch ON ch.id = c.channel_id
    CROSS JOIN LATERAL (SELECT max(mi.created_at) AS last_in FROM ${S}.messages mi WHERE mi.conversation_id = c.id AND mi.direction = 'in') li
    WHERE c.status = 'open' AND c.reminder_sent_at IS NOT NULL AND c.reminder_sent_at > COALESCE(li.last_in, '-infinity')
      AND c.queue = ${BOT_QUEUE} AND ch.status = 'active' AND ${NO_OUTCOME_WAIT}
      AND COALESCE((ch.settings->>'closeAfterMinutes')::int, 10) > 0
      AND c.reminder_sent_at < now() - make_interval(mins => COALESCE((ch.settings->>'closeAfterMinutes')::int, 10))
    ORDER BY c.reminder_sent_at LIMIT 200 FOR UPDATE OF c SKIP LOCKED`,
];

async function main(): Promise<void> {
  process.env.LOG_LEVEL = 'silent';
  const infra = await createTestInfra('chat_ingress_flow_bench');
  const config = loadConfig(ChatIngressConfig, {
    DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '1', ELO_ADMIN_KEY: ADMIN, CHAT_WORKERS: 'off', LOG_LEVEL: 'silent',
    GRAPH_API_BASE_URL: 'http://127.0.0.1:9/v21.0',
    ELO_ENCRYPTION_KEYS: 'k1:' + Buffer.alloc(32, 7).toString('base64'), ELO_ENCRYPTION_ACTIVE_KEY: 'k1', PUBLIC_BASE_URL: 'https://elo.example.com',
  });
  const app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'flow scheduler bench', config });
  await app.listen(0, '127.0.0.1');
  try {
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    const api = async <T>(method: string, path: string, key: string, body?: unknown): Promise<T> => {
      const r = await callApi<T>(url, method, path, undefined, body, { authorization: `Bearer ${key}` });
      if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    };
    const tenant = await api<{ id: string }>('POST', '/tenants', ADMIN, { name: 'bench' });
    const { key } = await api<{ key: string }>('POST', `/tenants/${tenant.id}/keys`, ADMIN, { name: 'bench', permissions: ['channels:manage'] });
    const channel = await api<{ id: string }>('POST', '/channels', key, {
      provider: 'whatsapp', name: 'bench', phoneNumberId: 'PNFLOWBENCH', credentials: { accessToken: 't', appSecret: 's' }, settings: { reminderMessage: 'Ainda está aí?' },
    });
    const flow = await api<{ id: string }>('PUT', '/flow', key, { start: 'menu', steps: { menu: { type: 'menu', text: 'Oi', options: [{ id: 'x', title: 'Sair', next: 'bye' }] }, bye: { type: 'close' } } });
    const ds = app.get(DataSource);
    const scheduler = app.get(FlowScheduler);

    let seq = 0;
    /** `n` open bot conversations at the menu whose customer wrote `agoSeconds` ago (spread over a minute), with the due time the service stores. */
    const seed = async (n: number, agoSeconds: number) => {
      const first = seq;
      seq += n;
      const ids: Array<{ id: string }> = await ds.query(
        `WITH n AS (SELECT i, gen_random_uuid() AS contact_id, gen_random_uuid() AS conv_id, now() - ($4::int + i % 60) * interval '1 second' AS last_in
                      FROM generate_series($5::int + 1, $5::int + $6::int) i),
              ct AS (INSERT INTO ${S}.contacts (id, tenant_id, channel_id, contact_key, phone, name)
                     SELECT contact_id, $1, $2, 'c' || i, '+55419' || lpad(i::text, 8, '0'), 'Cliente' FROM n),
              cv AS (INSERT INTO ${S}.conversations (id, tenant_id, channel_id, contact_id, queue, flow_id, flow_version, flow_state, last_inbound_at, opened_at)
                     SELECT conv_id, $1, $2, contact_id, 'bot', $3, 1, '{"stepId": "menu", "waiting": "input"}', last_in, last_in FROM n RETURNING id),
              m AS (INSERT INTO ${S}.messages (id, tenant_id, channel_id, conversation_id, contact_id, direction, kind, status, body, created_at)
                     SELECT gen_random_uuid(), $1, $2, conv_id, contact_id, 'in', 'text', 'received', '{"message": {"kind": "text", "text": "oi"}}', last_in FROM n)
         SELECT id FROM cv`,
        [tenant.id, channel.id, flow.id, agoSeconds, first, n],
      );
      for (let i = 0; i < ids.length; i += 10_000) await keepFlowDue(ds.manager, ids.slice(i, i + 10_000).map((r) => r.id));
    };
    const timed = async (fn: () => Promise<unknown>) => {
      const t0 = performance.now();
      await fn();
      return performance.now() - t0;
    };
    const tick = async (expected: number) => {
      let reminded = 0;
      const ms = await timed(async () => ({ reminded } = await scheduler.tick()));
      if (reminded !== expected) throw new Error(`a tick reminded ${reminded}, not ${expected}`);
      return ms;
    };
    const before = () => timed(() => ds.transaction(async (m) => {
      for (const sql of BEFORE) await m.query(sql);
      // Nothing of it is kept: the tick of the same round does the work.
      throw new RolledBack();
    }).catch((e) => { if (!(e instanceof RolledBack)) throw e; }));

    out(`flow scheduler tick: ${DUE} due, ${IDLE} idle open bot conversations, ${ROUNDS} rounds; load before: ${load()}`);
    await seed(DUE, 15 * 60);
    await tick(DUE); // warm-up: the first tick prepares what later ones reuse
    const floor = { empty: [] as number[], due: [] as number[] };
    for (let r = 0; r < ROUNDS; r++) {
      floor.empty.push(await tick(0));
      await seed(DUE, 15 * 60);
      floor.due.push(await tick(DUE));
    }
    const t0 = performance.now();
    await seed(IDLE, 0);
    await ds.query(`ANALYZE ${S}.conversations`);
    await ds.query(`ANALYZE ${S}.messages`);
    out(`seeded ${IDLE} idle conversations (with their messages and due times) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const withIdle = { empty: [] as number[], due: [] as number[] };
    const previous: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      withIdle.empty.push(await tick(0));
      await seed(DUE, 15 * 60);
      previous.push(await before());
      withIdle.due.push(await tick(DUE));
    }
    const [sizes] = await ds.query(
      `SELECT pg_size_pretty(pg_relation_size('${S}.conversations')) AS heap, pg_size_pretty(pg_relation_size('${S}.conversations_flow_due_idx')) AS due_idx`);
    const ms = (xs: number[]) => `${median(xs).toFixed(2)} ms`;
    out(`tick, nothing due, no other open conversation: ${ms(floor.empty)} (median)`);
    out(`tick, nothing due, ${IDLE} idle: ${ms(withIdle.empty)}, ${(median(withIdle.empty) / median(floor.empty)).toFixed(2)}x the floor`);
    out(`tick, ${DUE} due, no other open conversation: ${ms(floor.due)}`);
    out(`tick, ${DUE} due among ${IDLE} idle: ${ms(withIdle.due)}, ${(median(withIdle.due) / median(floor.due)).toFixed(2)}x the floor`);
    out(`previous release's selections alone, ${DUE} due among ${IDLE} idle: ${ms(previous)}, `
      + `${(median(previous) / median(withIdle.due)).toFixed(1)}x the whole tick with ${DUE} due, ${(median(previous) / median(withIdle.empty)).toFixed(0)}x a tick with nothing due`);
    out(`conversations heap ${sizes.heap}, flow due index ${sizes.due_idx}; load after: ${load()}`);
  } finally {
    await app.close();
    await infra.cleanup();
  }
}

class RolledBack extends Error {}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
