import { TENANT_PERMISSIONS } from '@elo/auth';
import { BusProbe } from '@elo/messaging';
import { callApi, createTestInfra, outboxEmpty, type TestInfra } from '@elo/testing';
import fc from 'fast-check';
import { Client } from 'pg';
import { ADMIN_KEY, buildOnce, STACK_START_MS, STACK_STOP_MS, startService, stopAll, type RunningService } from './stack';

const SERVICES = ['chat-ingress', 'viability', 'telephony-bridge', 'webhook-dispatcher', 'message-status'];
const RUNS = Number(process.env.ELO_FUZZ_RUNS ?? 15);

const jsonValue = fc.jsonValue({ maxDepth: 3 });
const body = fc.oneof(
  jsonValue.map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.constantFrom('', '{', '{"entry":[{"changes":[{"value":{"messages":[null]}}]}]}', '[]', 'null', '{"update_id":"x"}', '\u0000'),
);
const headerValue = fc.string({ maxLength: 60 }).filter((s) => /^[\x20-\x7e]*$/.test(s));
const query = fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }).filter((s) => /^[\w.-]+$/.test(s)), fc.string({ maxLength: 30 }), { maxKeys: 4 });

/**
 * Aborts a request that gets no answer in 30 s: a hang detector (a stream that wrongly opened), not a
 * latency bound, so it leaves room for five services on a loaded CI machine.
 */
async function send(url: string, method: string, b: string | undefined, headers: Record<string, string>): Promise<number> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 30_000);
  try {
    const res = await fetch(url, { method, body: method === 'GET' ? undefined : b, headers, signal: ctl.signal });
    if (res.headers.get('content-type')?.includes('event-stream')) await res.body?.cancel();
    else await res.arrayBuffer();
    return res.status;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What a webhook that got through would leave in chat-ingress: its receipt and what it carried. A webhook
 * is answered only after these commit, so the counts are final when the responses are in. Its events
 * are watched on the bus (the outbox keeps a row only until the relay has published it).
 */
const STORED_SQL = `SELECT (SELECT count(*) FROM chat_ingress.webhook_receipts)
                         + (SELECT count(*) FROM chat_ingress.messages)
                         + (SELECT count(*) FROM chat_ingress.status_receipts)
                         + (SELECT count(*) FROM chat_ingress.conversations) AS n`;
/**
 * Property-based inputs against every inbound endpoint and every API operation of the five services
 * (as processes): never a 5xx, and a rejected webhook stores and publishes nothing.
 */
describe('fuzzing the HTTP surface', () => {
  let infra: TestInfra;
  let services: RunningService[] = [];
  let db: Client;
  let probe: BusProbe;
  const stored = async () => Number((await db.query<{ n: string }>(STORED_SQL)).rows[0]!.n);

  beforeAll(async () => {
    await buildOnce();
    infra = await createTestInfra('fuzz');
    const env = { DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, RATE_LIMIT_PER_KEY_PER_MINUTE: '0' };
    services = await Promise.all(SERVICES.map((s) => startService(s, env)));
    db = new Client({ connectionString: infra.databaseUrl });
    await db.connect();
    probe = await BusProbe.connect(infra.amqpUrl, ['chat.message.#', 'chat.conversation.#']);
  }, STACK_START_MS);

  afterAll(async () => {
    await db?.end();
    await probe?.close();
    try {
      await stopAll(services);
    } finally {
      await infra?.cleanup();
    }
  }, STACK_STOP_MS);

  it('webhooks: random bodies, signatures and headers are refused without a 5xx, storing and publishing nothing', async () => {
    const chat = services.find((s) => s.name === 'chat-ingress')!;
    const t = (await callApi<{ id: string }>(chat.url, 'POST', '/tenants', ADMIN_KEY, { name: 'F' })).body.id;
    const key = (await callApi<{ key: string }>(chat.url, 'POST', `/tenants/${t}/keys`, ADMIN_KEY, { name: 'f', permissions: TENANT_PERMISSIONS })).body.key;
    const channels: Array<{ provider: string; id: string }> = [];
    for (const provider of ['whatsapp', 'messenger', 'instagram', 'telegram', 'generic']) {
      const r = await callApi<{ id: string }>(chat.url, 'POST', '/channels', key, {
        provider, name: provider, phoneNumberId: '1098765', accountId: '3333', botName: 'b',
        credentials: { accessToken: 'fuzz-access-token', appSecret: 'fuzz-app-secret', telegramSecretToken: 'fuzz-tg-secret', signingSecret: 'whsec_ZnV6ei1zaWduaW5nLXNlY3JldC12YWx1ZQ==' },
      });
      if (r.status === 201) channels.push({ provider, id: r.body.id });
    }
    expect(channels.length).toBeGreaterThanOrEqual(4);
    const before = await stored();
    let requests = 0;
    const fiveXX: string[] = [];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...channels), body, headerValue, fc.boolean(), async (ch, b, sig, json) => {
        const headers: Record<string, string> = {
          'content-type': json ? 'application/json' : 'text/plain',
          'x-hub-signature-256': `sha256=${sig}`,
          'x-telegram-bot-api-secret-token': sig,
          'webhook-id': sig.slice(0, 20) || 'x',
          'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
          'webhook-signature': `v1,${sig}`,
        };
        const status = await send(`${chat.url}/webhooks/${ch.provider}/${ch.id}`, 'POST', b, headers);
        requests++;
        if (status >= 500) fiveXX.push(`${ch.provider} ${status} ${JSON.stringify(b).slice(0, 80)}`);
        return status < 500 && status >= 400;
      }),
      { numRuns: RUNS * 10 },
    );
    expect(fiveXX).toEqual([]);
    expect(await stored()).toBe(before);
    // Published nothing: once chat-ingress's outbox is empty, whatever it held has reached the probe.
    await probe.settled(outboxEmpty(db, 'chat_ingress'));
    expect(probe.events.map((e) => e.type)).toEqual([]);
    process.stdout.write(`fuzz webhooks: ${requests} requests\n`);
  }, 120_000);

  it('API operations: random bodies and query strings never cause a 5xx', async () => {
    const base = services[0]!.url;
    const t = (await callApi<{ id: string }>(base, 'POST', '/tenants', ADMIN_KEY, { name: 'G' })).body.id;
    const key = (await callApi<{ key: string }>(base, 'POST', `/tenants/${t}/keys`, ADMIN_KEY, { name: 'g', permissions: TENANT_PERMISSIONS })).body.key;
    const ops: Array<{ service: RunningService; method: string; path: string }> = [];
    for (const service of services) {
      const doc = (await callApi<{ paths: Record<string, Record<string, Record<string, unknown>>> }>(service.url, 'GET', '/docs/openapi.json', undefined)).body;
      for (const [path, methods] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(methods)) {
          const streams = JSON.stringify(op.responses ?? {}).includes('text/event-stream') || /\/(stream|events)$/.test(path);
          if (!streams && typeof op['x-elo-permission'] === 'string') ops.push({ service, method: method.toUpperCase(), path });
        }
      }
    }
    const fiveXX: string[] = [];
    let requests = 0;
    for (const op of ops) {
      await fc.assert(
        fc.asyncProperty(jsonValue, query, fc.constantFrom('00000000-0000-4000-8000-000000000000', 'x', '../..', '%2e%2e', '1537276453.47245539'), async (b, q, param) => {
          const path = op.path.replace(/\{[^}]+\}/g, encodeURIComponent(param));
          const qs = new URLSearchParams(q).toString();
          const status = await send(`${op.service.url}${path}${qs ? `?${qs}` : ''}`, op.method, JSON.stringify(b), {
            authorization: `Bearer ${key}`,
            'content-type': 'application/json',
          });
          requests++;
          if (status >= 500 && status !== 502 && status !== 504) fiveXX.push(`${op.service.name} ${op.method} ${path}?${qs} ${status} ${JSON.stringify(b).slice(0, 100)}`);
          return true;
        }),
        { numRuns: RUNS },
      );
    }
    process.stdout.write(`fuzz API: ${ops.length} operations, ${requests} requests\n`);
    expect(fiveXX).toEqual([]);
  }, 300_000);
});
