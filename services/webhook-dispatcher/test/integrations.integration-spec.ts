import { Client } from 'pg';
import { EVENT_TYPES } from '@elo/contracts';
import { createTestInfra, type TestInfra } from '@elo/testing';
import { api, closeAll, keyFor, startApp, tenantWithKey, type RunningApp, type Tenant } from './app.fixture';

describe('webhook-dispatcher integrations API (real PostgreSQL, RabbitMQ and API keys)', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let a: Tenant;
  let b: Tenant;

  const definition = {
    name: 'CRM',
    description: 'Creates a deal',
    kind: 'http',
    request: {
      method: 'POST',
      url: 'https://crm.example/api/deals',
      headers: 'X-Source: elo\nX-Conv: {conversationId}',
      body: { kind: 'keyvalue', pairs: [{ key: 'deal[name]', value: '{contact.name}' }] },
      auth: { type: 'bearer', token: '{secret.apiKey}' },
    },
    trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'contains', value: 'boleto' }] },
    secrets: { apiKey: 'sk_live_abcdefghijkl' },
    reply: { success: 'Segue seu boleto: {data[url]}' },
  };

  beforeAll(async () => {
    infra = await createTestInfra('dispatcher_integrations');
    svc = await startApp(infra);
    a = await tenantWithKey(svc.url);
    b = await tenantWithKey(svc.url);
  });

  afterAll(() => closeAll(svc, infra));

  it('creates an integration: signing secret shown once, secrets masked, defaults filled, audited', async () => {
    const call = api(svc.url, a.key);
    const created = await call('POST', '/integrations', definition);
    expect(created.status).toBe(201);
    expect(created.body.signingSecret).toMatch(/^whsec_[A-Za-z0-9+/=]{40,}$/);
    expect(created.body).toMatchObject({
      name: 'CRM', enabled: true, secrets: { apiKey: '••••' },
      delivery: { retryScheduleSeconds: [5, 300, 1800, 7200, 18000, 36000, 36000], timeoutMs: 10000 },
    });
    expect(JSON.stringify(created.body)).not.toContain('sk_live_abcdefghijkl');

    const got = await call('GET', `/integrations/${created.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body.signingSecret).toBeUndefined();
    expect(JSON.stringify(got.body)).not.toContain('sk_live');

    const db = new Client({ connectionString: infra.databaseUrl });
    await db.connect();
    const stored = await db.query('SELECT secrets_sealed, signing_secret_sealed FROM dispatcher.integrations WHERE id = $1', [created.body.id]);
    expect(JSON.stringify(stored.rows[0])).not.toContain('sk_live');
    expect(JSON.stringify(stored.rows[0])).not.toContain(created.body.signingSecret);
    const audit = await db.query(`SELECT action, changes::text FROM auth.audit_log WHERE target_id = $1`, [created.body.id]);
    await db.end();
    expect(audit.rows.map((r: { action: string }) => r.action)).toEqual(['integration.created']);
    expect(audit.rows[0].changes).not.toContain('sk_live');
  });

  it('updates, merges secrets, disables, enables and deletes; each change audited', async () => {
    const call = api(svc.url, a.key);
    const { body: i } = await call('POST', '/integrations', { ...definition, name: 'ERP' });
    const upd = await call('PATCH', `/integrations/${i.id}`, {
      description: 'new', secrets: { other: 'zzz-secret', apiKey: null }, delivery: { retryScheduleSeconds: [1, 1] },
      request: { ...definition.request, auth: { type: 'bearer', token: '{secret.other}' } },
    });
    expect(upd.status).toBe(200);
    expect(upd.body).toMatchObject({ description: 'new', secrets: { other: '••••' }, delivery: { retryScheduleSeconds: [1, 1], timeoutMs: 10000 } });
    expect(upd.body.secrets.apiKey).toBeUndefined();
    expect((await call('POST', `/integrations/${i.id}/disable`)).body).toMatchObject({ enabled: false, disabledReason: 'disabled by an admin' });
    expect((await call('POST', `/integrations/${i.id}/enable`)).body).toMatchObject({ enabled: true, disabledReason: null });
    expect((await call('POST', '/integrations', { ...definition, name: 'erp' })).status).toBe(409);
    expect((await call('DELETE', `/integrations/${i.id}`)).status).toBe(204);
    expect((await call('GET', `/integrations/${i.id}`)).status).toBe(404);
  });

  it('a PATCH of some delivery settings keeps the others as they were', async () => {
    const call = api(svc.url, a.key);
    const delivery = { retryScheduleSeconds: [7, 70], timeoutMs: 3000, rateLimitPerSecond: 5, maxConcurrency: 2, disableAfterFailingSeconds: 3600 };
    const { body: i } = await call('POST', '/integrations', { ...definition, name: 'partial-delivery', delivery });
    expect(i.delivery).toEqual(delivery);
    const upd = await call('PATCH', `/integrations/${i.id}`, { delivery: { timeoutMs: 4000 } });
    expect(upd.status).toBe(200);
    expect(upd.body.delivery).toEqual({ ...delivery, timeoutMs: 4000 });
    expect((await call('GET', `/integrations/${i.id}`)).body.delivery).toEqual({ ...delivery, timeoutMs: 4000 });
  });

  it('refuses bad definitions with a 400 problem', async () => {
    const call = api(svc.url, a.key);
    const bad = await call('POST', '/integrations', { ...definition, name: 'bad', request: { ...definition.request, method: 'TRACE' } });
    expect(bad.status).toBe(400);
    expect((await call('POST', '/integrations', { ...definition, name: 'bad2', secrets: { 'bad name': 'x' } })).status).toBe(400);
    expect((await call('POST', '/integrations', { ...definition, name: 'bad3', trigger: {} })).status).toBe(400);
    // Headers are checked when saved (a bad one is a 400 now, not a delivery that can never be sent).
    for (const [i, headers] of [42, { 'X-A': 'b' }, [{ key: 'X-A', value: 'b' }], [{ name: 'Bad Name', value: 'x' }], 'X-Ok: 1\nno colon here', 'Bad Name: x',
      // CR, LF or another control character in a value: no request can carry it (the render and HttpEgress refuse it).
      [{ name: 'X-A', value: 'a\r\nX-Injected: 1' }], 'X-A: a\rX-Injected: 1', [{ name: 'X-A', value: 'a\u0001b' }]].entries()) {
      const res = await call('POST', '/integrations', { ...definition, name: `bad-headers-${i}`, request: { ...definition.request, headers } });
      expect({ headers, status: res.status }).toEqual({ headers, status: 400 });
      expect(res.body.detail ?? JSON.stringify(res.body)).toMatch(/header/i);
    }
    const soapHeaders = await call('POST', '/integrations', {
      ...definition, name: 'bad-soap-headers', kind: 'soap', request: undefined,
      soap: { wsdlUrl: 'https://x.example/?wsdl', operation: 'Op', params: [], headers: [{ name: 'X' }] },
    });
    expect(soapHeaders.status).toBe(400);
    const good = await call('POST', '/integrations', { ...definition, name: 'good-headers', request: { ...definition.request, headers: [{ name: 'X-A', value: '{conversationId}' }] } });
    expect(good.status).toBe(201);
  });

  describe('refuses definitions that could never work with a 400 naming the field, and stores nothing', () => {
    const call = (method: string, path: string, body?: unknown) => api(svc.url, a.key)(method, path, body);
    /** POST `body`: a 400 problem whose errors name `field` and say `says`; nothing stored under its name. */
    async function refused(body: Record<string, unknown>, field: string, says: string): Promise<void> {
      const res = await call('POST', '/integrations', body);
      expect({ name: body.name, status: res.status, type: res.headers.get('content-type') })
        .toEqual({ name: body.name, status: 400, type: expect.stringContaining('application/problem+json') });
      expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field, message: expect.stringContaining(says) })]));
      expect(res.body.detail).toContain(says);
      const names = ((await call('GET', '/integrations')).body as unknown as Array<{ name: string }>).map((x) => x.name);
      expect(names).not.toContain(body.name);
    }
    /** PATCH `change` (with a harmless description beside it): a 400 saying `says` (naming `field` when given), and the integration as it was. */
    async function refusedPatch(id: string, change: Record<string, unknown>, says: string, field?: string): Promise<void> {
      const before = (await call('GET', `/integrations/${id}`)).body;
      const res = await call('PATCH', `/integrations/${id}`, { description: 'changed', ...change });
      expect({ change, status: res.status }).toEqual({ change, status: 400 });
      expect(res.body.detail).toContain(says);
      if (field) expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field, message: expect.stringContaining(says) })]));
      expect((await call('GET', `/integrations/${id}`)).body).toEqual(before);
    }

    it('a request URL whose written scheme is not http or https (or a literal URL that is not absolute)', async () => {
      for (const [i, url] of ['ftp://example.com/', 'data:text/plain,hi', 'FILE:///etc/passwd', 'crm.example/api', 'ftp://crm.example/{conversationId}'].entries()) {
        await refused({ ...definition, name: `bad-url-${i}`, request: { ...definition.request, url } }, 'request.url', 'absolute http or https URL');
      }
      // Tokens after a literal http(s) host are what URLs are for.
      const good = await call('POST', '/integrations', {
        ...definition, name: 'url-tokens', request: { ...definition.request, url: 'HTTPS://crm.example/{secret.apiKey}/{conversationId}?x={secret[apiKey]}' },
      });
      expect(good.status).toBe(201);
      await refusedPatch(good.body.id as string, { request: { ...definition.request, url: 'ftp://crm.example/' } }, 'absolute http or https URL');
    });

    it('a request URL whose scheme or host is a token: the render refuses those whatever the values, so it could never be sent', async () => {
      const templatedHost = ['{url}', '{event.data.url}', '{secret.apiKey}', '{secret.apiKey}/deals', 'https://{host}/api', 'HTTP://{host}',
        'https://crm.example{port}/api', 'https://crm.example:{port}/api', 'http://{secret.apiKey}@crm.example/'];
      for (const [i, url] of templatedHost.entries()) {
        await refused({ ...definition, name: `templated-host-${i}`, request: { ...definition.request, url } }, 'request.url', 'must start with a literal http:// or https:// and host');
      }
      // A token after a relative start, or literal braces ({{ }}), still leaves no absolute http(s) URL.
      for (const [i, url] of ['/api/{conversationId}', '?q={conversationId}', '{{event.data.url}}'].entries()) {
        await refused({ ...definition, name: `relative-url-${i}`, request: { ...definition.request, url } }, 'request.url', 'absolute http or https URL');
      }
      // Tokens right after the literal host, in the path, query or fragment, are fine.
      for (const [i, url] of ['https://crm.example/{conversationId}', 'https://crm.example?q={conversationId}', 'https://crm.example:8443#{conversationId}'].entries()) {
        const ok = await call('POST', '/integrations', { ...definition, name: `host-then-tokens-${i}`, request: { ...definition.request, url } });
        expect({ url, status: ok.status }).toEqual({ url, status: 201 });
      }
      const good = await call('POST', '/integrations', { ...definition, name: 'literal-host' });
      expect(good.status).toBe(201);
      await refusedPatch(good.body.id as string, { request: { ...definition.request, url: '{event.data.url}' } }, 'must start with a literal http:// or https:// and host', 'request.url');
    });

    it('a header HttpEgress sets itself (Host, Content-Length, Transfer-Encoding, Connection, …), as a header or as the API-key header', async () => {
      const soap = { wsdlUrl: 'https://pbx.example/calls?wsdl', operation: 'UpdateCallStatus', params: [] };
      const reserved = [
        ['request.headers', { request: { ...definition.request, headers: 'X-Ok: 1\nHost: evil.example' } }, 'Host'],
        ['request.headers', { request: { ...definition.request, headers: [{ name: 'content-length', value: '0' }] } }, 'content-length'],
        ['request.auth.header', { request: { ...definition.request, auth: { type: 'apiKey', header: 'Transfer-Encoding', value: '{secret.apiKey}' } } }, 'Transfer-Encoding'],
        ['soap.headers', { kind: 'soap', request: undefined, soap: { ...soap, headers: 'Connection: close' } }, 'Connection'],
        ['soap.auth.header', { kind: 'soap', request: undefined, soap: { ...soap, auth: { type: 'apiKey', header: 'Expect', value: 'k' } } }, 'Expect'],
      ] as const;
      for (const [i, [field, change, name]] of reserved.entries()) {
        await refused({ ...definition, name: `reserved-header-${i}`, ...change }, field, name);
      }
      const good = await call('POST', '/integrations', { ...definition, name: 'unreserved-headers', request: { ...definition.request, headers: 'X-Host: a\nContent-Language: pt' } });
      expect(good.status).toBe(201);
      await refusedPatch(good.body.id as string, { request: { ...definition.request, headers: 'Keep-Alive: 5' } }, 'Keep-Alive', 'request.headers');
    });

    it('a SOAP wsdlUrl that is not an absolute http or https URL (it is fetched as written, never rendered)', async () => {
      const soap = { wsdlUrl: 'https://pbx.example/calls?wsdl', operation: 'UpdateCallStatus', params: [] };
      for (const [i, wsdlUrl] of ['file:///etc/passwd', 'ftp://x/y.wsdl', 'not a url', '/calls?wsdl', 'http:pbx.example/calls?wsdl', 'gopher://pbx.example/'].entries()) {
        await refused({ ...definition, name: `bad-wsdl-${i}`, kind: 'soap', request: undefined, soap: { ...soap, wsdlUrl } }, 'soap.wsdlUrl', 'absolute http or https URL');
      }
      for (const [i, wsdlUrl] of ['{wsdl}', 'https://pbx.example/{secret.apiKey}?wsdl'].entries()) {
        await refused({ ...definition, name: `templated-wsdl-${i}`, kind: 'soap', request: undefined, soap: { ...soap, wsdlUrl } }, 'soap.wsdlUrl', 'takes no tokens');
      }
      const good = await call('POST', '/integrations', { ...definition, name: 'wsdl', kind: 'soap', request: undefined, soap });
      expect(good.status).toBe(201);
      await refusedPatch(good.body.id as string, { soap: { ...soap, wsdlUrl: 'file:///etc/passwd' } }, 'absolute http or https URL', 'soap.wsdlUrl');
    });

    it('a {secret.*} token in the request naming no secret of the integration, also after a PATCH removed it', async () => {
      const undefinedSecret = [
        ['request.url', { url: 'https://crm.example/{secret.nope}/deals' }, '{secret.nope}'],
        ['request.headers', { headers: 'X-Key: {secret.nope}' }, '{secret.nope}'],
        ['request.headers[0].value', { headers: [{ name: 'X-Key', value: 'k={secret[nope]}' }] }, '{secret[nope]}'],
        ['request.query[0].value', { query: [{ key: 'k', value: '{secret.nope}' }] }, '{secret.nope}'],
        ['request.body.pairs[0].value', { body: { kind: 'keyvalue', pairs: [{ key: 'k', value: '{secret.nope}' }] } }, '{secret.nope}'],
        ['request.body.template', { body: { kind: 'raw', contentType: 'application/json', template: '{"k": "{secret.nope}"}' } }, '{secret.nope}'],
        ['request.auth.password', { auth: { type: 'basic', username: 'elo', password: '{secret.nope}' } }, '{secret.nope}'],
        ['request.auth.token', { auth: { type: 'bearer', token: '{secret.apiKey.x}' } }, '{secret.apiKey.x}'],
      ] as const;
      for (const [i, [field, change, token]] of undefinedSecret.entries()) {
        await refused({ ...definition, name: `bad-secret-${i}`, request: { ...definition.request, ...change } }, field, token);
      }
      await refused({
        ...definition, name: 'bad-secret-soap', kind: 'soap', request: undefined,
        soap: { wsdlUrl: 'https://x.example/?wsdl', operation: 'Op', params: [{ name: 'key', value: '{secret.nope}' }] },
      }, 'soap.params[0].value', '{secret.nope}');

      // Reply templates never see secrets (a {secret.*} there renders empty by design): not checked.
      const good = await call('POST', '/integrations', { ...definition, name: 'secret-refs', reply: { success: 'ok {secret.nope}' } });
      expect(good.status).toBe(201);
      const id = good.body.id as string;
      // definition's auth token is {secret.apiKey}: the secret cannot go while the request uses it.
      await refusedPatch(id, { secrets: { apiKey: null } }, '{secret.apiKey}');
      await refusedPatch(id, { request: { ...definition.request, headers: 'X-Other: {secret.other}' } }, '{secret.other}');
      // Removed together with its last use, or replaced in the same PATCH, it is fine.
      const moved = await call('PATCH', `/integrations/${id}`, {
        secrets: { apiKey: null, key2: 'sk_live_2' }, request: { ...definition.request, auth: { type: 'bearer', token: '{secret.key2}' } },
      });
      expect(moved.status).toBe(200);
      expect(moved.body.secrets).toEqual({ key2: '••••' });
    });

    it('a trigger naming integration.* event types, which never trigger an integration', async () => {
      await refused({ ...definition, name: 'bad-trigger', trigger: { eventTypes: ['chat.message.received', 'integration.delivery.failed'] } },
        'trigger.eventTypes', 'integration.delivery.failed');
      const good = await call('POST', '/integrations', { ...definition, name: 'trigger' });
      expect(good.status).toBe(201);
      await refusedPatch(good.body.id as string, { trigger: { eventTypes: ['integration.requested'] } }, 'integration.requested');
    });

    it('a trigger naming event types that are not in the event catalogue; types match exactly, so a pattern matches nothing', async () => {
      await refused({ ...definition, name: 'unknown-type', trigger: { eventTypes: ['chat.message.received', 'chat.message.recieved'] } },
        'trigger.eventTypes', 'not in the event catalogue: chat.message.recieved');
      for (const [i, pattern] of ['chat.*', '*', '#', 'chat.message.#'].entries()) {
        await refused({ ...definition, name: `pattern-type-${i}`, trigger: { eventTypes: [pattern] } }, 'trigger.eventTypes', `not in the event catalogue: ${pattern} (types are matched exactly`);
      }
      // Every catalogue type that can trigger is accepted.
      const triggering = EVENT_TYPES.filter((t) => !t.startsWith('integration.'));
      // Without a reply: one would trigger it again (chat.message.send.requested is among them; reply-loops spec).
      const all = await call('POST', '/integrations', { ...definition, name: 'every-type', trigger: { eventTypes: triggering }, reply: {} });
      expect(all.status).toBe(201);
      expect(all.body.trigger.eventTypes).toEqual(triggering);
      await refusedPatch(all.body.id as string, { trigger: { eventTypes: ['telephony.call.*', 'viability.checked'] } }, 'not in the event catalogue: telephony.call.*', 'trigger.eventTypes');
    });
  });

  it('refuses text PostgreSQL cannot store (U+0000) anywhere in a definition with a 400, never a 500', async () => {
    const call = api(svc.url, a.key);
    const cases: Array<[string, Record<string, unknown>]> = [
      ['name', { name: 'nul\u0000name' }],
      ['description', { name: 'nul-description', description: 'a\u0000b' }],
      ['body', { name: 'nul-body', request: { ...definition.request, body: { kind: 'raw', contentType: 'text/plain', template: 'a\u0000b' } } }],
      ['secret', { name: 'nul-secret', secrets: { apiKey: 'sk\u0000live' } }],
      ['filter', { name: 'nul-filter', trigger: { eventTypes: ['chat.message.received'], filter: [{ field: 'message.text', op: 'equals', value: '\u0000' }] } }],
    ];
    for (const [what, change] of cases) {
      const res = await call('POST', '/integrations', { ...definition, ...change });
      expect([what, res.status]).toEqual([what, 400]);
      expect(res.body.detail).toContain('U+0000');
    }
    const created = await call('POST', '/integrations', { ...definition, name: 'nul-patch' });
    expect((await call('PATCH', `/integrations/${created.body.id}`, { description: 'a\u0000b' })).status).toBe(400);
  });

  it('needs integrations:manage to change and integrations:read to view; tenants see only their own', async () => {
    const readOnly = await keyFor(svc.url, a.tenantId, ['integrations:read']);
    const none = await keyFor(svc.url, a.tenantId, ['dashboard:read']);
    expect((await api(svc.url, readOnly)('POST', '/integrations', { ...definition, name: 'x' })).status).toBe(403);
    expect((await api(svc.url, readOnly)('GET', '/integrations')).status).toBe(200);
    expect((await api(svc.url, none)('GET', '/integrations')).status).toBe(403);
    const mine = (await api(svc.url, a.key)('GET', '/integrations')).body as unknown as Array<{ id: string }>;
    expect(mine.length).toBeGreaterThan(0);
    expect((await api(svc.url, b.key)('GET', '/integrations')).body).toEqual([]);
    expect((await api(svc.url, b.key)('GET', `/integrations/${mine[0].id}`)).status).toBe(404);
    expect((await api(svc.url, b.key)('DELETE', `/integrations/${mine[0].id}`)).status).toBe(404);
  });
});
