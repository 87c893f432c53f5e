import { TENANT_PERMISSIONS } from '@elo/auth';
import { callApi, createTestInfra, type TestInfra } from '@elo/testing';
import { ADMIN_KEY, buildOnce, STACK_START_MS, STACK_STOP_MS, startService, stopAll, type RunningService } from './stack';

const SERVICES = ['chat-ingress', 'viability', 'telephony-bridge', 'webhook-dispatcher', 'message-status'];
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

interface Operation {
  service: RunningService;
  method: string;
  path: string;
  permission: string;
  pathParams: string[];
  streams: boolean;
}

/** Reads every operation that names a permission from each service's OpenAPI document. */
async function operations(services: RunningService[]): Promise<Operation[]> {
  const ops: Operation[] = [];
  for (const service of services) {
    const doc = (await callApi<{ paths: Record<string, Record<string, Record<string, unknown>>> }>(service.url, 'GET', '/docs/openapi.json', undefined)).body;
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const permission = op['x-elo-permission'];
        if (typeof permission !== 'string') continue;
        const content = JSON.stringify(op.responses ?? {});
        ops.push({
          service,
          method: method.toUpperCase(),
          path,
          permission,
          pathParams: [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!),
          streams: content.includes('text/event-stream') || /\/(stream|events)$/.test(path),
        });
      }
    }
  }
  return ops;
}

const fill = (path: string, value: string) => path.replace(/\{[^}]+\}/g, encodeURIComponent(value));

/**
 * Calls with a deadline, so a stream that wrongly opened fails the test instead of hanging it. The
 * deadline detects a hang, not a slow answer: 30 s leaves room for five services on a loaded CI machine.
 */
async function probe(base: string, method: string, path: string, key: string): Promise<{ status: number; text: string }> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 30_000);
  try {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: method === 'GET' || method === 'DELETE' ? undefined : '{}',
      signal: ctl.signal,
    });
    const text = res.headers.get('content-type')?.includes('event-stream') ? '' : await res.text();
    if (res.headers.get('content-type')?.includes('event-stream')) await res.body?.cancel();
    return { status: res.status, text };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Generated from the OpenAPI documents of all five services, started as processes: every operation
 * that names a permission is called with a key lacking exactly that permission (never a 2xx), and every
 * resource of tenant A is asked for with tenant B's all-permission key (never a 2xx, never A's data).
 */
describe('security matrix: permissions and tenants, from the OpenAPI documents', () => {
  let infra: TestInfra;
  let services: RunningService[] = [];

  beforeAll(async () => {
    await buildOnce();
    infra = await createTestInfra('matrix');
    const env = { DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, RATE_LIMIT_PER_KEY_PER_MINUTE: '0' };
    services = await Promise.all(SERVICES.map((s) => startService(s, env)));
  }, STACK_START_MS);

  afterAll(async () => {
    try {
      await stopAll(services);
    } finally {
      await infra?.cleanup();
    }
  }, STACK_STOP_MS);

  it('refuses every operation to a key lacking its permission, and every cross-tenant access', async () => {
    const base = services[0]!.url;
    const tenant = async (name: string) => (await callApi<{ id: string }>(base, 'POST', '/tenants', ADMIN_KEY, { name })).body.id;
    const key = async (tenantId: string, permissions: readonly string[]) =>
      (await callApi<{ key: string }>(base, 'POST', `/tenants/${tenantId}/keys`, ADMIN_KEY, { name: 'm', permissions })).body.key;
    const a = await tenant('A');
    const b = await tenant('B');
    const aFull = await key(a, TENANT_PERMISSIONS);
    const bFull = await key(b, TENANT_PERMISSIONS);

    // Tenant A owns something in every service that lets it create without outside systems.
    const chat = services.find((s) => s.name === 'chat-ingress')!;
    await callApi(chat.url, 'POST', '/channels', aFull, {
      provider: 'telegram', name: 'A bot', botName: 'a_bot', credentials: { accessToken: '123:abc-secret-token', secretToken: 'tg-secret-token-value' },
    });

    const ops = await operations(services);
    expect(ops.length).toBeGreaterThan(20);
    const lacking = new Map<string, string>();
    for (const p of new Set(ops.map((o) => o.permission))) {
      if ((TENANT_PERMISSIONS as readonly string[]).includes(p)) lacking.set(p, await key(a, TENANT_PERMISSIONS.filter((x) => x !== p)));
    }

    const failures: string[] = [];
    let cases = 0;
    // 1. Missing permission: 401/403 for every operation, whatever the parameters.
    for (const op of ops) {
      const k = lacking.get(op.permission);
      if (!k) continue; // tenants:manage belongs to the bootstrap admin only
      const r = await probe(op.service.url, op.method, fill(op.path, '00000000-0000-4000-8000-000000000000'), k);
      cases++;
      if (r.status !== 403 && r.status !== 401) failures.push(`${op.service.name} ${op.method} ${op.path} without ${op.permission}: ${r.status}`);
    }

    // 2. Tenant A's ids, from A's own collections.
    const aIds = new Set<string>();
    for (const op of ops.filter((o) => o.method === 'GET' && o.pathParams.length === 0 && !o.streams)) {
      const r = await probe(op.service.url, 'GET', op.path, aFull);
      for (const id of r.text.match(UUID) ?? []) if (id !== a) aIds.add(id);
    }
    expect(aIds.size).toBeGreaterThan(0);

    // 3. Tenant B asks for each of A's ids through every single-resource operation: a resource id
    //    parameter (`id`, `…Id`) never answers 2xx, and no answer carries A's other ids. (A parameter
    //    that is a name in the tenant's own namespace, like a queue, may answer 2xx with B's own data.)
    for (const op of ops.filter((o) => o.pathParams.length === 1 && !o.streams)) {
      const isResourceId = /(^id$|Id$)/.test(op.pathParams[0]!);
      for (const id of aIds) {
        const r = await probe(op.service.url, op.method, fill(op.path, id), bFull);
        cases++;
        const leaked = (r.text.match(UUID) ?? []).filter((x) => x !== id && aIds.has(x));
        if ((isResourceId && r.status >= 200 && r.status < 300) || leaked.length) {
          failures.push(`${op.service.name} ${op.method} ${op.path} as tenant B with A's ${id}: ${r.status} ${leaked.join(',')}`);
        }
      }
    }
    // 4. B's collections never list A's ids.
    for (const op of ops.filter((o) => o.method === 'GET' && o.pathParams.length === 0 && !o.streams)) {
      const r = await probe(op.service.url, 'GET', op.path, bFull);
      cases++;
      const leaked = (r.text.match(UUID) ?? []).filter((id) => aIds.has(id));
      if (leaked.length) failures.push(`${op.service.name} GET ${op.path} as tenant B lists A's ${leaked.join(', ')}`);
    }
    process.stdout.write(`security matrix: ${ops.length} operations, ${cases} cases, ${aIds.size} ids of tenant A\n`);
    expect(failures).toEqual([]);
  }, 240_000);
});
