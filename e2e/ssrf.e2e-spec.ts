import { TENANT_PERMISSIONS } from '@elo/auth';
import { SSRF_CASES } from '@elo/http-egress';
import { BusProbe } from '@elo/messaging';
import { callApi, createTestInfra, expectEventually, withAdminClient, type TestInfra } from '@elo/testing';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { ADMIN_KEY, buildOnce, STACK_START_MS, STACK_STOP_MS, startService, stopAll, type RunningService } from './stack';

/**
 * The table's IP-literal cases (hostname cases need a fake resolver), plus real names and spellings
 * that reach the canary on `port` if anything let them through.
 */
const literalCases = (port: number) => [
  ...SSRF_CASES.filter((c) => !c.resolvesTo && c.kind === 'blocked').map((c) => ({ id: c.id, url: c.url, reason: c.reason })),
  { id: 'canary dotted', url: `http://127.0.0.1:${port}/`, reason: 'loopback' },
  { id: 'canary localhost name', url: `http://localhost:${port}/`, reason: 'loopback' },
  { id: 'canary decimal', url: `http://2130706433:${port}/`, reason: 'loopback' },
  { id: 'canary IPv4-mapped IPv6', url: `http://[::ffff:127.0.0.1]:${port}/`, reason: 'loopback' },
  { id: 'canary IPv6 loopback', url: `http://[::1]:${port}/`, reason: 'loopback' },
];

/** Secrets the tenants configure in these tests: no log line of any service may contain them. */
const UPSTREAM_SECRET = 'upstream-secret-5f3a9c0e71';
const SMS_AUTH = [{ name: 'Authorization', value: 'Bearer sms-secret-77d1e0b4c2' }];
const leaked = (logs: string, secrets: string[]) => secrets.filter((x) => logs.includes(x));
const ENCRYPTION_KEY = Buffer.alloc(32, 3).toString('base64'); // stack.ts's

/**
 * The decoy: the one allow-listed address (127.0.0.2), on the canary's port, so a name that re-resolved
 * from the decoy to 127.0.0.1 would land on the canary. Names starting with `redirect-` answer 302 to the
 * canary (or, `redirect-metadata`, to the metadata address); anything else answers 200 `[]`.
 */
async function startDecoy(port: number, hosts: string[]): Promise<Server> {
  const decoy = createServer((req, res) => {
    const host = (req.headers.host ?? '').split(':')[0]!;
    hosts.push(host);
    if (host === 'redirect-metadata.ssrf.test') res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    else if (host.startsWith('redirect') || host === 'geocoder.ssrf.test') res.writeHead(302, { location: `http://127.0.0.1:${port}/` }).end();
    else res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
  });
  await new Promise<void>((r) => decoy.listen(port, '127.0.0.2', r));
  return decoy;
}

/**
 * The two servers every describe below sets up: the canary on this machine's loopback (answering
 * `canaryBody`; a request to it is an SSRF that got through) and the decoy on its port.
 */
async function startTraps(canaryBody: string, decoyHosts: string[]): Promise<{ port: number; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const canary = createServer((_req, res) => {
    hits++;
    res.end(canaryBody);
  });
  await new Promise<void>((r) => canary.listen(0, '127.0.0.1', r));
  const port = (canary.address() as { port: number }).port;
  const decoy = await startDecoy(port, decoyHosts);
  return {
    port,
    hits: () => hits,
    close: async () => {
      await new Promise((r) => canary.close(r));
      await new Promise((r) => decoy.close(r));
    },
  };
}

/**
 * The test-only DNS table (fake-dns.cjs) for a service process: the SSRF table's host names answer
 * privately, `redirect-*.ssrf.test` the decoy, and each `rebind` name the decoy on the first lookup and
 * the canary's address on every later one.
 */
function fakeDns(rebind: string[], extra: Record<string, string[][]> = {}): Record<string, string> {
  const table: Record<string, string[][]> = { ...extra };
  for (const c of SSRF_CASES) if (c.resolvesTo) table[new URL(c.url).hostname.toLowerCase().replace(/\.$/, '')] = [c.resolvesTo];
  for (const name of ['redirect-canary', 'redirect-metadata']) table[`${name}.ssrf.test`] = [['127.0.0.2']];
  for (const name of rebind) table[`${name}.ssrf.test`] = [['127.0.0.2'], ['127.0.0.1']];
  return {
    EGRESS_ALLOW_PRIVATE: '127.0.0.2/32',
    NODE_OPTIONS: `--require ${join(__dirname, 'fake-dns.cjs')}`,
    ELO_E2E_FAKE_DNS: JSON.stringify(table),
  };
}

/**
 * The SSRF table of libs/http-egress replayed through every path in the running services where a
 * user types a URL: an integration's URL, a SOAP integration's WSDL URL, a PBX profile's Click2Call
 * template. The services run as processes with no private range allowed but the decoy's 127.0.0.2, and a
 * test-only DNS (fake-dns.cjs) that answers the table's host names privately. Each address is refused
 * with its reason, no redirect to a private address is followed, a name whose answer changes after the
 * check is reached at the checked address, and a canary server on this machine's loopback never
 * receives a request.
 */
describe('SSRF through every user-given URL', () => {
  let infra: TestInfra;
  let dispatcher: RunningService;
  let telephony: RunningService;
  let traps: Awaited<ReturnType<typeof startTraps>>;
  const decoyHosts: string[] = [];
  let port: number;

  beforeAll(async () => {
    await buildOnce();
    infra = await createTestInfra('ssrf');
    traps = await startTraps('<definitions/>', decoyHosts);
    port = traps.port;
    const env = {
      DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, RATE_LIMIT_PER_KEY_PER_MINUTE: '0',
      ...fakeDns(['rebind-integration', 'rebind-wsdl', 'rebind-pbx']),
    };
    [dispatcher, telephony] = await Promise.all([startService('webhook-dispatcher', env), startService('telephony-bridge', env)]);
  }, STACK_START_MS);

  afterAll(async () => {
    try {
      await stopAll([dispatcher, telephony]);
    } finally {
      await traps?.close();
      await infra?.cleanup();
    }
  }, STACK_STOP_MS);

  // The literal table and the canary, plus the table's host names (answered privately by the fake DNS).
  const cases = () => [
    ...literalCases(port),
    ...SSRF_CASES.filter((c) => c.resolvesTo).map((c) => ({ id: c.id, url: c.url, reason: c.reason })),
  ];

  it('refuses every address with a clear reason and reaches nothing', async () => {
    const base = dispatcher.url;
    const tenant = (await callApi<{ id: string }>(base, 'POST', '/tenants', ADMIN_KEY, { name: 'S' })).body.id;
    const key = (await callApi<{ key: string }>(base, 'POST', `/tenants/${tenant}/keys`, ADMIN_KEY, { name: 's', permissions: TENANT_PERMISSIONS })).body.key;
    const failures: string[] = [];
    let checked = 0;

    for (const c of cases()) {
      // 1. HTTP integration URL, sent by "Test".
      const http = await callApi<{ id: string }>(base, 'POST', '/integrations', key, {
        name: `ssrf http ${checked}`, kind: 'http', request: { method: 'POST', url: c.url }, trigger: { eventTypes: ['chat.message.received'] },
      });
      if (http.status === 201) {
        const t = await callApi<{ ok: boolean; errorClass?: string; error?: string }>(base, 'POST', `/integrations/${http.body.id}/test`, key, {});
        if (t.body.ok !== false || !['blocked', 'invalid', 'template'].includes(t.body.errorClass ?? '')) failures.push(`integration URL ${c.id}: ${JSON.stringify(t.body).slice(0, 200)}`);
        else if (t.body.errorClass === 'blocked' && !(t.body.error ?? '').includes(c.reason)) failures.push(`integration URL ${c.id}: reason "${t.body.error}"`);
      } else if (http.status !== 400) failures.push(`integration URL ${c.id}: create answered ${http.status}`);
      checked++;

      // 2. SOAP integration's WSDL URL.
      const soap = await callApi<{ id: string }>(base, 'POST', '/integrations', key, {
        name: `ssrf soap ${checked}`, kind: 'soap', soap: { wsdlUrl: c.url, operation: 'Op', version: '1.1', params: [] }, trigger: { eventTypes: ['chat.message.received'] },
      });
      if (soap.status === 201) {
        const t = await callApi<{ ok: boolean; errorClass?: string; error?: string }>(base, 'POST', `/integrations/${soap.body.id}/test`, key, {});
        if (t.body.ok !== false || !['blocked', 'invalid'].includes(t.body.errorClass ?? '')) failures.push(`WSDL URL ${c.id}: ${JSON.stringify(t.body).slice(0, 200)}`);
      } else if (soap.status !== 400) failures.push(`WSDL URL ${c.id}: create answered ${soap.status}`);
      checked++;

      // 3. PBX Click2Call template (no pbxHost named).
      const profile = await callApi<{ id: string }>(telephony.url, 'POST', '/pbx-profiles', key, {
        name: `ssrf pbx ${checked}`, allowedCidrs: [], preset: 'custom',
        click2call: { request: { method: 'POST', url: `${c.url}${c.url.endsWith('/') ? '' : '/'}c2c` }, callId: { from: 'text' } },
      });
      if (profile.status === 201) {
        const r = await callApi<{ detail?: string; pbxError?: string }>(telephony.url, 'POST', '/calls', key, { ramal: '2001', telefone: '41988445566', profileId: profile.body.id });
        if (r.status !== 502 || !['blocked', 'invalid_url'].includes(r.body.pbxError ?? '')) failures.push(`PBX template ${c.id}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      } else if (profile.status !== 400) failures.push(`PBX template ${c.id}: create answered ${profile.status}`);
      checked++;
    }
    process.stdout.write(`ssrf: ${cases().length} addresses × 3 paths = ${checked} checks\n`);
    expect(leaked(dispatcher.output() + telephony.output(), [key, ADMIN_KEY, ENCRYPTION_KEY])).toEqual([]);
    expect(failures).toEqual([]);
    expect(traps.hits()).toBe(0);
  }, 240_000);

  it('follows no redirect to a private address, and stays on the checked address when DNS changes', async () => {
    const base = dispatcher.url;
    const tenant = (await callApi<{ id: string }>(base, 'POST', '/tenants', ADMIN_KEY, { name: 'R' })).body.id;
    const key = (await callApi<{ key: string }>(base, 'POST', `/tenants/${tenant}/keys`, ADMIN_KEY, { name: 'r', permissions: TENANT_PERMISSIONS })).body.key;
    type Outcome = { ok: boolean; text: string };
    const paths: Record<string, (url: string) => Promise<Outcome>> = {
      integration: async (url) => {
        const c = await callApi<{ id: string }>(base, 'POST', '/integrations', key, { name: `r http ${url}`, kind: 'http', request: { method: 'POST', url }, trigger: { eventTypes: ['chat.message.received'] } });
        const t = await callApi<{ ok: boolean }>(base, 'POST', `/integrations/${c.body.id}/test`, key, {});
        return { ok: t.body.ok, text: JSON.stringify(t.body) };
      },
      wsdl: async (url) => {
        const c = await callApi<{ id: string }>(base, 'POST', '/integrations', key, { name: `r soap ${url}`, kind: 'soap', soap: { wsdlUrl: url, operation: 'Op', version: '1.1', params: [] }, trigger: { eventTypes: ['chat.message.received'] } });
        // Saving a SOAP integration may read the WSDL at once and refuse it with the reason.
        if (c.status !== 201) return { ok: false, text: `${c.status} ${JSON.stringify(c.body)}` };
        const t = await callApi<{ ok: boolean }>(base, 'POST', `/integrations/${c.body.id}/test`, key, {});
        return { ok: t.body.ok, text: JSON.stringify(t.body) };
      },
      pbx: async (url) => {
        const p = await callApi<{ id: string }>(telephony.url, 'POST', '/pbx-profiles', key, {
          name: `r ${url}`, allowedCidrs: [], preset: 'custom', click2call: { request: { method: 'POST', url: `${url}c2c` }, callId: { from: 'text' } },
        });
        const r = await callApi(telephony.url, 'POST', '/calls', key, { ramal: '2001', telefone: '41988445566', profileId: p.body.id });
        return { ok: r.status < 300, text: `${r.status} ${JSON.stringify(r.body)}` };
      },
    };
    const failures: string[] = [];
    let checks = 0;
    for (const [name, run] of Object.entries(paths)) {
      for (const target of ['redirect-canary', 'redirect-metadata']) {
        const o = await run(`http://${target}.ssrf.test:${port}/`);
        checks++;
        if (o.ok || !o.text.includes('302')) failures.push(`${name} ${target}: ${o.text.slice(0, 300)}`);
      }
      // The first lookup answers the allow-listed decoy, any later one the canary: the request reaches the decoy.
      const before = decoyHosts.length;
      await run(`http://rebind-${name}.ssrf.test:${port}/`);
      checks++;
      if (!decoyHosts.slice(before).includes(`rebind-${name}.ssrf.test`)) failures.push(`${name} rebind: the decoy saw ${JSON.stringify(decoyHosts.slice(before))}`);
    }
    process.stdout.write(`ssrf redirects and rebinding: ${checks} checks\n`);
    expect(failures).toEqual([]);
    expect(traps.hits()).toBe(0);
  }, 120_000);
});

/**
 * The same table through viability's outbound calls: the FindME SMS provider template and the upstream
 * inventory base URL (both per tenant, set over the API), and the geocoder (GEOCODER_BASE_URL, one per
 * process: its host name answers, lookup after lookup, every address of the table). A test-only DNS
 * preloaded into the process (fake-dns.cjs) makes the table's host names resolve privately, serves a
 * name whose answer changes after the first lookup, and points names at a decoy on 127.0.0.2 (the only
 * allow-listed address) that redirects to the canary or to the metadata address.
 */
describe('SSRF through viability: SMS provider, geocoder, upstream inventory', () => {
  let infra: TestInfra;
  let viability: RunningService;
  let traps: Awaited<ReturnType<typeof startTraps>>;
  const decoyHosts: string[] = [];
  let port: number;

  /** Every address the table blocks, as the answer a DNS server could give (for the geocoder's host name). */
  const answerCases = (p: number) => [
    ...SSRF_CASES.filter((c) => c.kind === 'blocked' && c.reason !== 'scheme').map((c) => ({
      id: c.id, reason: c.reason, answers: c.resolvesTo ?? [new URL(c.url).hostname.replace(/^\[|\]$/g, '')],
    })),
    ...[['127.0.0.1'], ['::1'], ['::ffff:127.0.0.1']].map((answers) => ({ id: `canary ${answers[0]}:${p}`, reason: 'loopback', answers })),
  ];

  /** URLs a tenant can type: the whole table (host names through the fake DNS), canary spellings, redirects. */
  const urlCases = (p: number) => [
    ...literalCases(p).map((c) => ({ ...c, expect: 'blocked' as const })),
    { id: 'canary hex', url: `http://0x7f000001:${p}/`, reason: 'loopback', expect: 'blocked' as const },
    { id: 'canary octal', url: `http://0177.0.0.1:${p}/`, reason: 'loopback', expect: 'blocked' as const },
    ...SSRF_CASES.filter((c) => c.resolvesTo).map((c) => ({ id: c.id, url: c.url, reason: c.reason, expect: 'blocked' as const })),
    ...SSRF_CASES.filter((c) => c.kind === 'invalid_url').map((c) => ({ id: c.id, url: c.url, reason: c.reason, expect: 'invalid' as const })),
    { id: 'redirect to the canary', url: `http://redirect-canary.ssrf.test:${p}/`, reason: '302', expect: 'redirect' as const },
    { id: 'redirect to metadata', url: `http://redirect-metadata.ssrf.test:${p}/`, reason: '302', expect: 'redirect' as const },
  ];

  beforeAll(async () => {
    await buildOnce();
    infra = await createTestInfra('ssrf-viability');
    traps = await startTraps('[]', decoyHosts);
    port = traps.port;
    viability = await startService('viability', {
      DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, RATE_LIMIT_PER_KEY_PER_MINUTE: '0',
      FINDME_PUBLIC_URL: 'https://elo.example.net', GEOCODER_BASE_URL: `http://geocoder.ssrf.test:${port}`, GEOCODER_MIN_INTERVAL_MS: '0',
      // The geocoder's one host name: each lookup the next blocked address, then the decoy (302 to the canary).
      ...fakeDns(['rebind-sms', 'rebind-upstream', 'rebind-findme'], { 'geocoder.ssrf.test': [...answerCases(port).map((c) => c.answers), ['127.0.0.2']] }),
    });
  }, STACK_START_MS);

  afterAll(async () => {
    try {
      await stopAll([viability]);
    } finally {
      await traps?.close();
      await infra?.cleanup();
    }
  }, STACK_STOP_MS);

  it('refuses every address with a clear reason, follows no redirect, stays on the checked address, and reaches nothing', async () => {
    const base = viability.url;
    const tenant = (await callApi<{ id: string }>(base, 'POST', '/tenants', ADMIN_KEY, { name: 'V' })).body.id;
    const key = (await callApi<{ key: string }>(base, 'POST', `/tenants/${tenant}/keys`, ADMIN_KEY, { name: 'v', permissions: TENANT_PERMISSIONS })).body.key;
    const failures: string[] = [];
    const checks = { sms: 0, upstream: 0, geocoder: 0 };
    /** Refused when the URL was saved (400, with the reason) rather than when called. */
    const refusedOnSave = { sms: [] as string[], upstream: [] as string[] };
    const explains = (text: string, c: { reason: string; expect: 'blocked' | 'invalid' | 'redirect' }) =>
      c.expect === 'blocked' ? /blocked/.test(text) && text.includes(c.reason)
        : c.expect === 'invalid' ? /invalid|not a valid URL/i.test(text)
          : text.includes('answered 302');

    for (const c of urlCases(port)) {
      // 1. FindME SMS provider: the template's URL, called when a link is sent.
      const template = await callApi(base, 'PUT', '/findme/sms', key, {
        method: 'POST', url: c.url, headers: SMS_AUTH, body: { kind: 'keyvalue', pairs: [{ key: 'to', value: '{phone}' }] },
      });
      if (template.status === 204) {
        const sent = await callApi<{ sms?: string }>(base, 'POST', '/findme', key, { phone: '+5541988445566' });
        if (sent.status !== 201 || !explains(sent.body.sms ?? '', c)) failures.push(`SMS ${c.id}: ${sent.status} ${JSON.stringify(sent.body).slice(0, 200)}`);
      } else if (template.status === 400) refusedOnSave.sms.push(c.id);
      else failures.push(`SMS ${c.id}: template answered ${template.status}`);
      checks.sms++;

      // 2. Upstream inventory: the base URL the pages are fetched from, by "sync now".
      const upstream = await callApi(base, 'PUT', '/inventory/upstream', key, { baseUrl: c.url.replace(/\/$/, ''), token: UPSTREAM_SECRET });
      if (upstream.status === 200) {
        const sync = await callApi<{ detail?: string }>(base, 'POST', '/inventory/sync', key, {});
        if (sync.status !== 502 || !explains(sync.body.detail ?? '', c)) failures.push(`upstream ${c.id}: ${sync.status} ${JSON.stringify(sync.body).slice(0, 200)}`);
      } else if (upstream.status === 400) refusedOnSave.upstream.push(c.id);
      else failures.push(`upstream ${c.id}: settings answered ${upstream.status}`);
      checks.upstream++;
    }

    // 3. Geocoder: each address check resolves geocoder.ssrf.test once, to the next blocked address.
    for (const [i, c] of answerCases(port).entries()) {
      const r = await callApi<{ detail?: string }>(base, 'POST', '/viability', key, { address: `Rua SSRF ${i}` });
      if (r.status !== 502 || !(r.body.detail ?? '').includes('could not be reached') || !(r.body.detail ?? '').includes(c.reason)) {
        failures.push(`geocoder ${c.id} (${c.answers.join(', ')}): ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      }
      checks.geocoder++;
    }
    const redirected = await callApi<{ detail?: string }>(base, 'POST', '/viability', key, { address: 'Rua SSRF redirect' });
    if (redirected.status !== 502 || !(redirected.body.detail ?? '').includes('answered 302')) failures.push(`geocoder redirect: ${redirected.status} ${JSON.stringify(redirected.body)}`);
    checks.geocoder++;

    // 4. DNS that changes between check and connect: the request goes to the address that was checked.
    const hostsBefore = decoyHosts.length;
    expect((await callApi(base, 'PUT', '/findme/sms', key, { method: 'POST', url: `http://rebind-sms.ssrf.test:${port}/sms`, headers: SMS_AUTH, body: { kind: 'keyvalue', pairs: [{ key: 'to', value: '{phone}' }] } })).status).toBe(204);
    expect((await callApi<{ sms: string }>(base, 'POST', '/findme', key, { phone: '+5541988445566' })).body.sms).toBe('sent');
    checks.sms++;
    expect((await callApi(base, 'PUT', '/inventory/upstream', key, { baseUrl: `http://rebind-upstream.ssrf.test:${port}`, token: UPSTREAM_SECRET })).status).toBe(200);
    // The first page went to the decoy; the next lookup answers the canary's address and is refused.
    const rebound = await callApi<{ detail?: string }>(base, 'POST', '/inventory/sync', key, {});
    expect(rebound.status).toBe(502);
    expect(rebound.body.detail).toMatch(/blocked: .*loopback/);
    checks.upstream++;
    expect(decoyHosts.slice(hostsBefore)).toEqual(['rebind-sms.ssrf.test', 'rebind-upstream.ssrf.test']);

    process.stdout.write(`ssrf viability: ${urlCases(port).length} URLs × SMS + upstream, ${answerCases(port).length + 1} geocoder answers; checks ${JSON.stringify(checks)}\n`);
    process.stdout.write(`ssrf viability: refused when saved ${JSON.stringify(refusedOnSave)}\n`);
    // The refusals are logged with their reasons, never with the secrets of the requests refused.
    expect(viability.output()).toContain('FindME SMS not sent');
    expect(leaked(viability.output(), [UPSTREAM_SECRET, 'sms-secret-77d1e0b4c2', key, ADMIN_KEY, ENCRYPTION_KEY])).toEqual([]);
    expect(failures).toEqual([]);
    // Only URLs that do not parse, other schemes and fragments stop at the settings; every address reaches the guard.
    for (const ids of Object.values(refusedOnSave)) {
      expect(ids.every((id) => SSRF_CASES.some((c) => c.id === id && (c.kind === 'invalid_url' || c.reason === 'scheme' || c.url.includes('#'))))).toBe(true);
    }
    expect(traps.hits()).toBe(0);
  }, 240_000);

  it('calls no refused FindME callback URL: each callback fails with the reason, redirects are not followed', async () => {
    const base = viability.url;
    const tenant = (await callApi<{ id: string }>(base, 'POST', '/tenants', ADMIN_KEY, { name: 'F' })).body.id;
    const key = (await callApi<{ key: string }>(base, 'POST', `/tenants/${tenant}/keys`, ADMIN_KEY, { name: 'f', permissions: TENANT_PERMISSIONS })).body.key;
    const cases = [
      ...urlCases(port).filter((c) => c.expect !== 'invalid'),
      { id: 'rebinding', url: `http://rebind-findme.ssrf.test:${port}/`, reason: 'answered 200', expect: 'sent' as const },
    ];
    const failures: string[] = [];
    const links = new Map<string, (typeof cases)[number]>();
    const refusedOnSave: string[] = [];
    for (const c of cases) {
      const created = await callApi<{ id: string; link: string }>(base, 'POST', '/findme', key, { phone: '+5541988445566', callbackUrl: c.url });
      if (created.status === 400) {
        refusedOnSave.push(c.id);
        continue;
      }
      const token = created.body.link?.split('/findme/')[1];
      const confirmed = await callApi(base, 'POST', `/findme/${token}/confirm`, undefined, { lat: -25.4284, lng: -49.2733 });
      if (created.status !== 201 || confirmed.status !== 200) failures.push(`${c.id}: ${created.status}/${confirmed.status} ${JSON.stringify(confirmed.body).slice(0, 200)}`);
      else links.set(created.body.id, c);
    }
    const statuses = () => withAdminClient(infra.databaseUrl, async (db) =>
      new Map((await db.query<{ id: string; callback_status: string | null }>('SELECT id, callback_status FROM viability.findme_links')).rows.map((r) => [r.id, r.callback_status])));
    const done = await expectEventually(async () => {
      const now = await statuses();
      expect([...links.keys()].filter((id) => !now.get(id))).toEqual([]);
      return now;
    }, { timeoutMs: 30_000 });
    for (const [id, c] of links) {
      const status = done.get(id) ?? '';
      const fine = c.expect === 'blocked' ? status.startsWith('failed: blocked: ') && status.includes(c.reason)
        : c.expect === 'redirect' ? status === 'answered 302'
          : status === 'answered 200';
      if (!fine) failures.push(`${c.id}: ${status}`);
    }
    process.stdout.write(`ssrf viability FindME callback: ${links.size} callbacks checked, ${refusedOnSave.length} URLs refused when saved ${JSON.stringify(refusedOnSave)}\n`);
    expect(failures).toEqual([]);
    expect(refusedOnSave.every((id) => SSRF_CASES.some((c) => c.id === id && c.reason === 'scheme'))).toBe(true);
    expect(decoyHosts).toContain('rebind-findme.ssrf.test');
    expect(traps.hits()).toBe(0);
  }, 240_000);
});

/**
 * The same table through chat-ingress's one user-given URL it calls itself: a generic channel's
 * callbackUrl, where replies are POSTed (signed, Standard Webhooks). One channel a URL, one reply each;
 * every reply fails at once with the egress refusal as its error (code `blocked` and the reason), a
 * redirect is not followed (failed with the 302), a rebinding name is reached at the checked address,
 * and the loopback canary hears nothing.
 */
describe('SSRF through chat-ingress: a generic channel\'s callback URL', () => {
  let infra: TestInfra;
  let chat: RunningService;
  let probe: BusProbe;
  let traps: Awaited<ReturnType<typeof startTraps>>;
  const decoyHosts: string[] = [];
  let port: number;

  beforeAll(async () => {
    await buildOnce();
    infra = await createTestInfra('ssrf-chat');
    traps = await startTraps('{}', decoyHosts);
    port = traps.port;
    chat = await startService('chat-ingress', {
      DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, RATE_LIMIT_PER_KEY_PER_MINUTE: '0', ...fakeDns(['rebind-callback']),
    });
    probe = await BusProbe.connect(infra.amqpUrl, ['chat.message.status', 'chat.message.sent']);
  }, STACK_START_MS);

  afterAll(async () => {
    await probe?.close();
    try {
      await stopAll([chat]);
    } finally {
      await traps?.close();
      await infra?.cleanup();
    }
  }, STACK_STOP_MS);

  it('fails every reply to a refused callback URL with the reason, follows no redirect, and reaches nothing', async () => {
    const base = chat.url;
    const tenant = (await callApi<{ id: string }>(base, 'POST', '/tenants', ADMIN_KEY, { name: 'C' })).body.id;
    const key = (await callApi<{ key: string }>(base, 'POST', `/tenants/${tenant}/keys`, ADMIN_KEY, { name: 'c', permissions: TENANT_PERMISSIONS })).body.key;
    const urls = [
      ...literalCases(port).map((c) => ({ ...c, expect: 'blocked' as const })),
      ...SSRF_CASES.filter((c) => c.resolvesTo).map((c) => ({ id: c.id, url: c.url, reason: c.reason, expect: 'blocked' as const })),
      { id: 'redirect to the canary', url: `http://redirect-canary.ssrf.test:${port}/`, reason: '302', expect: 'redirect' as const },
      { id: 'redirect to metadata', url: `http://redirect-metadata.ssrf.test:${port}/`, reason: '302', expect: 'redirect' as const },
      { id: 'rebinding', url: `http://rebind-callback.ssrf.test:${port}/`, reason: '', expect: 'sent' as const },
    ];
    const failures: string[] = [];
    const sent = new Map<string, (typeof urls)[number]>();
    const refusedOnSave: string[] = [];
    for (const [i, c] of urls.entries()) {
      const ch = await callApi<{ id: string }>(base, 'POST', '/channels', key, { provider: 'generic', name: `ssrf ${i}`, callbackUrl: c.url });
      if (ch.status === 400) {
        refusedOnSave.push(c.id);
        continue;
      }
      if (ch.status !== 201) {
        failures.push(`${c.id}: channel answered ${ch.status}`);
        continue;
      }
      const msg = await callApi<{ messageId: string }>(base, 'POST', '/messages', key, { channelId: ch.body.id, contact: { providerUserId: 'cust-1' }, message: { kind: 'text', text: 'oi' } });
      if (msg.status !== 202) failures.push(`${c.id}: send answered ${msg.status} ${JSON.stringify(msg.body)}`);
      else sent.set(msg.body.messageId, c);
    }
    type Status = { messageId?: string; status: string; error?: { code: string; title?: string } };
    const outcome = (id: string): Status | undefined =>
      probe.ofType<Status>('chat.message.status').map((e) => e.data).find((d) => d.messageId === id && d.status === 'failed') ??
      (probe.ofType<{ messageId: string }>('chat.message.sent').some((e) => e.data.messageId === id) ? { messageId: id, status: 'sent' } : undefined);
    await expectEventually(() => expect([...sent.keys()].filter((id) => !outcome(id))).toEqual([]), { timeoutMs: 30_000 });
    for (const [id, c] of sent) {
      const o = outcome(id)!;
      const text = `${o.status} ${o.error?.code ?? ''} ${o.error?.title ?? ''}`;
      const fine = c.expect === 'blocked' ? o.status === 'failed' && o.error?.code === 'blocked' && text.includes(c.reason)
        : c.expect === 'redirect' ? o.status === 'failed' && text.includes('302')
          : o.status === 'sent';
      if (!fine) failures.push(`${c.id}: ${text}`);
    }
    process.stdout.write(`ssrf chat-ingress callback: ${urls.length} URLs, ${sent.size} replies checked, ${refusedOnSave.length} URLs refused when saved ${JSON.stringify(refusedOnSave)}\n`);
    expect(failures).toEqual([]);
    expect(refusedOnSave.every((id) => SSRF_CASES.some((c) => c.id === id && (c.reason === 'scheme' || c.kind === 'invalid_url')))).toBe(true);
    expect(decoyHosts).toContain('rebind-callback.ssrf.test');
    expect(traps.hits()).toBe(0);
    expect(leaked(chat.output(), [key, ADMIN_KEY, ENCRYPTION_KEY])).toEqual([]);
  }, 240_000);
});
