import { TENANT_PERMISSIONS } from '@elo/auth';
import { SSRF_CASES } from '@elo/http-egress';
import { createTestInfra, type TestInfra } from '@elo/testing';
import { createServer, type Server } from 'node:http';
import { ADMIN_KEY, api, buildOnce, startService, type RunningService } from './stack';

/**
 * The SSRF table of libs/http-egress replayed through every path in the running services where a
 * user types a URL: an integration's URL, a SOAP integration's WSDL URL, a PBX profile's Click2Call
 * template. The services run as processes with no private range allowed. Each address is refused with
 * its reason, and a canary server on this machine's loopback never receives a request.
 */
describe('SSRF through every user-given URL', () => {
  let infra: TestInfra;
  let dispatcher: RunningService;
  let telephony: RunningService;
  let canary: Server;
  let canaryHits = 0;
  let port: number;

  beforeAll(async () => {
    await buildOnce();
    infra = await createTestInfra('ssrf');
    canary = createServer((_req, res) => {
      canaryHits++;
      res.end('<definitions/>');
    });
    await new Promise<void>((r) => canary.listen(0, '127.0.0.1', r));
    port = (canary.address() as { port: number }).port;
    const env = { DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, RATE_LIMIT_PER_KEY_PER_MINUTE: '0' };
    [dispatcher, telephony] = await Promise.all([startService('webhook-dispatcher', env), startService('telephony-bridge', env)]);
  }, 240_000);

  afterAll(async () => {
    await Promise.all([dispatcher?.stop(), telephony?.stop()]);
    await new Promise((r) => canary?.close(r));
    await infra?.cleanup();
  });

  // The table's IP-literal cases (hostname cases need the lib's fake resolver), plus real names and
  // spellings that reach the canary if anything let them through.
  const cases = () => [
    ...SSRF_CASES.filter((c) => !c.resolvesTo && c.kind === 'blocked').map((c) => ({ id: c.id, url: c.url, reason: c.reason })),
    { id: 'canary dotted', url: `http://127.0.0.1:${port}/`, reason: 'loopback' },
    { id: 'canary localhost name', url: `http://localhost:${port}/`, reason: 'loopback' },
    { id: 'canary decimal', url: `http://2130706433:${port}/`, reason: 'loopback' },
    { id: 'canary IPv4-mapped IPv6', url: `http://[::ffff:127.0.0.1]:${port}/`, reason: 'loopback' },
    { id: 'canary IPv6 loopback', url: `http://[::1]:${port}/`, reason: 'loopback' },
  ];

  it('refuses every address with a clear reason and reaches nothing', async () => {
    const base = dispatcher.url;
    const tenant = (await api<{ id: string }>(base, 'POST', '/tenants', ADMIN_KEY, { name: 'S' })).body.id;
    const key = (await api<{ key: string }>(base, 'POST', `/tenants/${tenant}/keys`, ADMIN_KEY, { name: 's', permissions: TENANT_PERMISSIONS })).body.key;
    const failures: string[] = [];
    let checked = 0;

    for (const c of cases()) {
      // 1. HTTP integration URL, sent by "Test".
      const http = await api<{ id: string }>(base, 'POST', '/integrations', key, {
        name: `ssrf http ${checked}`, kind: 'http', request: { method: 'POST', url: c.url }, trigger: { eventTypes: ['chat.message.received'] },
      });
      if (http.status === 201) {
        const t = await api<{ ok: boolean; errorClass?: string; error?: string }>(base, 'POST', `/integrations/${http.body.id}/test`, key, {});
        if (t.body.ok !== false || !['blocked', 'invalid', 'template'].includes(t.body.errorClass ?? '')) failures.push(`integration URL ${c.id}: ${JSON.stringify(t.body).slice(0, 200)}`);
        else if (t.body.errorClass === 'blocked' && !(t.body.error ?? '').includes(c.reason)) failures.push(`integration URL ${c.id}: reason "${t.body.error}"`);
      } else if (http.status !== 400) failures.push(`integration URL ${c.id}: create answered ${http.status}`);
      checked++;

      // 2. SOAP integration's WSDL URL.
      const soap = await api<{ id: string }>(base, 'POST', '/integrations', key, {
        name: `ssrf soap ${checked}`, kind: 'soap', soap: { wsdlUrl: c.url, operation: 'Op', version: '1.1', params: [] }, trigger: { eventTypes: ['chat.message.received'] },
      });
      if (soap.status === 201) {
        const t = await api<{ ok: boolean; errorClass?: string; error?: string }>(base, 'POST', `/integrations/${soap.body.id}/test`, key, {});
        if (t.body.ok !== false || !['blocked', 'invalid'].includes(t.body.errorClass ?? '')) failures.push(`WSDL URL ${c.id}: ${JSON.stringify(t.body).slice(0, 200)}`);
      } else if (soap.status !== 400) failures.push(`WSDL URL ${c.id}: create answered ${soap.status}`);
      checked++;

      // 3. PBX Click2Call template (no pbxHost named).
      const profile = await api<{ id: string }>(telephony.url, 'POST', '/pbx-profiles', key, {
        name: `ssrf pbx ${checked}`, allowedCidrs: [], preset: 'custom',
        click2call: { request: { method: 'POST', url: `${c.url}${c.url.endsWith('/') ? '' : '/'}c2c` }, callId: { from: 'text' } },
      });
      if (profile.status === 201) {
        const r = await api<{ detail?: string; pbxError?: string }>(telephony.url, 'POST', '/calls', key, { ramal: '2001', telefone: '41988445566', profileId: profile.body.id });
        if (r.status !== 502 || !['blocked', 'invalid_url'].includes(r.body.pbxError ?? '')) failures.push(`PBX template ${c.id}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      } else if (profile.status !== 400) failures.push(`PBX template ${c.id}: create answered ${profile.status}`);
      checked++;
    }
    process.stdout.write(`ssrf: ${cases().length} addresses × 3 paths = ${checked} checks\n`);
    expect(failures).toEqual([]);
    expect(canaryHits).toBe(0);
  }, 240_000);
});
