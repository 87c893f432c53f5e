import { RetentionSweeper } from '@elo/platform';
import { expectEventually, expectRetained } from '@elo/testing';
import type { CallAnswered, CallEnded } from '@elo/contracts';
import { holdWrites, startHarness, waitingOnLock, type ApiAnswer, type Harness, type Tenant } from './support/harness';

describe('telephony-bridge: PBX profiles and callbacks', () => {
  let h: Harness;
  let t: Tenant;
  let profile: { id: string; callbackBase: string };

  beforeAll(async () => {
    h = await startHarness('telephony_callbacks');
    t = await h.tenant();
    profile = await h.profile(t);
  });
  afterAll(async () => h?.close());

  const answered = (p: { id: string }, query: Record<string, string>, headers: Record<string, string> = {}) =>
    h.api('GET', `/telephony/${p.id}/answered?${new URLSearchParams(query).toString()}`, headers);
  const cid = () => h.pbx.nextCallId();

  describe('profiles', () => {
    it('creates a preset profile with secrets sealed and masked, lists, reads, patches and deletes it', async () => {
      const created = await h.api<Record<string, unknown>>('POST', '/pbx-profiles', t.headers, {
        name: 'asterisk', preset: 'asterisk-ari', baseUrl: 'http://10.0.0.5:8088', pbxHost: '10.0.0.5',
        allowedCidrs: ['10.0.0.0/24', '2001:db8::/32'], callbackToken: 'cb-token-0123456789abcdef', chave: 'ari-user:ari-password-123',
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        preset: 'asterisk-ari', callbackToken: '••••cdef', chave: '••••-123', pbxHost: '10.0.0.5',
        callbacks: { answered: `https://elo.example.com/telephony/${created.body.id}/answered` },
      });
      expect((created.body.click2call as { request: { url: string } }).request.url).toBe('http://10.0.0.5:8088/ari/channels');
      const raw = await h.ds.query('SELECT callback_token, chave FROM "telephony".pbx_profiles WHERE id = $1', [created.body.id]);
      expect(raw[0].callback_token).toMatch(/^v1\.k1\./);
      expect(JSON.stringify(raw)).not.toContain('ari-password');

      const list = await h.api<Array<{ id: string }>>('GET', '/pbx-profiles', t.headers);
      expect(list.body.map((p) => p.id)).toContain(created.body.id);
      const patched = await h.api('PATCH', `/pbx-profiles/${created.body.id}`, t.headers, { callbackToken: null, name: 'asterisk 2' });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ name: 'asterisk 2', callbackToken: null, chave: '••••-123' });
      expect((await h.api('DELETE', `/pbx-profiles/${created.body.id}`, t.headers)).status).toBe(204);
      expect((await h.api('GET', `/pbx-profiles/${created.body.id}`, t.headers)).status).toBe(404);
    });

    it('refuses bad CIDRs, unknown template tokens and tokens in the host, naming the field', async () => {
      const bad = await h.api<{ detail: string }>('POST', '/pbx-profiles', t.headers, { name: 'x1', allowedCidrs: ['10.0.0.0/99', 'nope', '010.0.0.1', '10.0.0.0/8'] });
      expect(bad.status).toBe(400);
      expect(bad.body.detail).toBe('allowedCidrs: not an address or CIDR: 10.0.0.0/99, nope, 010.0.0.1');
      const token = await h.api<{ detail: string }>('POST', '/pbx-profiles', t.headers, {
        name: 'x2', allowedCidrs: [], click2call: { request: { method: 'GET', url: 'http://pbx/c2c?x={secret}' }, callId: { from: 'text' } },
      });
      expect(token.status).toBe(400);
      expect(token.body.detail).toMatch(/click2call\.request: .*\{secret\}/);
      const host = await h.api<{ detail: string }>('POST', '/pbx-profiles', t.headers, {
        name: 'x3', allowedCidrs: [], recording: { request: { method: 'GET', url: 'http://{telefone}.evil/x' } },
      });
      expect(host.status).toBe(400);
      expect(host.body.detail).toContain('recording.request');
      // Name and allow-list are required on create (the fuzzer once got a 500 for an empty body).
      const empty = await h.api<{ detail: string }>('POST', '/pbx-profiles', t.headers, {});
      expect(empty.status).toBe(400);
      expect(empty.body.detail).toMatch(/name/);
      expect(empty.body.detail).toMatch(/allowedCidrs/);
    });

    it('a name or template holding U+0000 or a lone surrogate is stored with U+FFFD in its place, not answered with a 500', async () => {
      // In a header value it is no character a header may carry at all: a 400 naming the header, nothing stored.
      const badHeader = await h.api<{ detail: string }>('POST', '/pbx-profiles', t.headers, {
        name: 'bad header', allowedCidrs: [], recording: { request: { method: 'GET', url: 'http://pbx/x', headers: [{ name: 'X-A', value: 'c\ud800' }] } },
      });
      expect(badHeader.status).toBe(400);
      expect(badHeader.body.detail).toContain('X-A');
      const created = await h.api<{ id: string; name: string; recording: { request: { query: Array<{ value: string }> } } }>('POST', '/pbx-profiles', t.headers, {
        name: 'nul\u0000name', allowedCidrs: [],
        recording: { request: { method: 'GET', url: 'http://pbx/x', query: [{ key: 'a', value: 'b\u0000' }] } },
      });
      expect(created.status).toBe(201);
      expect(created.body.name).toBe('nul\ufffdname');
      expect(created.body.recording.request.query[0].value).toBe('b\ufffd');
      const ari = await h.api('POST', '/pbx-profiles', t.headers, {
        name: 'ari nul', allowedCidrs: [], preset: 'asterisk-ari', baseUrl: 'http://pbx', ariContext: 'ctx\u0000',
      });
      expect(ari.status).toBe(201);
      const patched = await h.api<{ name: string }>('PATCH', `/pbx-profiles/${created.body.id}`, t.headers, { name: 'lone \udc00 and \u0000' });
      expect(patched.status).toBe(200);
      expect(patched.body.name).toBe('lone \ufffd and \ufffd');
    });

    it('a header the HTTP client sets itself (Host, Content-Length…) is a 400 naming it when a profile is created or patched, nothing stored', async () => {
      const created = await h.api<{ detail: string }>('POST', '/pbx-profiles', t.headers, {
        name: 'reserved header', allowedCidrs: [],
        click2call: { request: { method: 'GET', url: 'http://pbx/c2c', headers: [{ name: 'Host', value: 'pbx.example' }] }, callId: { from: 'text' } },
      });
      expect(created.status).toBe(400);
      expect(created.body.detail).toContain('Host');
      const listed = await h.api<Array<{ name: string }>>('GET', '/pbx-profiles', t.headers);
      expect(listed.body.map((p) => p.name)).not.toContain('reserved header');
      const { id } = await h.profile(t);
      const patched = await h.api<{ detail: string }>('PATCH', `/pbx-profiles/${id}`, t.headers, {
        recording: { request: { method: 'GET', url: 'http://pbx/rec/{callid}', headers: [{ name: 'content-length', value: '0' }] } },
      });
      expect(patched.status).toBe(400);
      expect(patched.body.detail).toContain('content-length');
      const after = await h.api<{ recording: { request: { headers?: unknown[] } } }>('GET', `/pbx-profiles/${id}`, t.headers);
      expect(after.body.recording.request.headers).toBeUndefined();
    });

    it('GET /telephony/presets lists generic-http and asterisk-ari with what they fill in (telephony:manage)', async () => {
      const r = await h.api<Array<{ id: string; example: { click2call: { request: { method: string; url: string; headers?: unknown[] }; callId: unknown } } }>>(
        'GET', '/telephony/presets', t.headers,
      );
      expect(r.status).toBe(200);
      expect(r.body.map((p) => p.id)).toEqual(['generic-http', 'asterisk-ari']);
      const ari = r.body[1].example.click2call;
      expect(ari.request).toMatchObject({ method: 'POST', url: 'http://10.0.0.5:8088/ari/channels' });
      expect(ari.request.headers).toEqual([{ name: 'Authorization', value: 'Basic {chaveBase64}' }]);
      expect(ari.callId).toEqual({ from: 'json', path: 'id' });
      expect(r.body[0].example.click2call.callId).toEqual({ from: 'text' });
      const caller = await h.tenant(['telephony:call']);
      expect((await h.api('GET', '/telephony/presets', caller.headers)).status).toBe(403);
      expect((await h.api('GET', '/telephony/presets')).status).toBe(401);
    });

    it('needs telephony:manage and keeps tenants apart', async () => {
      const caller = await h.tenant(['telephony:call']);
      expect((await h.api('GET', '/pbx-profiles', caller.headers)).status).toBe(403);
      const other = await h.tenant();
      expect((await h.api('GET', `/pbx-profiles/${profile.id}`, other.headers)).status).toBe(404);
      expect((await h.api<unknown[]>('GET', '/pbx-profiles', other.headers)).body).toEqual([]);
    });
  });

  describe('call answered', () => {
    it('GET: stores the call and publishes telephony.call.answered (Asterisk call id, normalised phone)', async () => {
      const id = '1537276453.47245539';
      const r = await answered(profile, { pid: '4242', num: '(41) 98844-5566', cid: id, ramal: '1001', empresaId: 'acme-1' });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ callId: id, duplicate: false });
      const ev = await expectEventually(() => {
        const e = h.probe.ofType<CallAnswered>('telephony.call.answered').find((x) => x.data.callId === id);
        expect(e).toBeDefined();
        return e!;
      });
      expect(ev.tenantid).toBe(t.tenantId);
      expect(ev.subject).toBe(id);
      expect(ev.data).toEqual({ callId: id, profileId: profile.id, ramal: '1001', telefone: '41988445566', contactId: '4242', empresaId: 'acme-1' });
      const rows = await h.ds.query('SELECT ramal, telefone, contact_id, answered_at FROM "telephony".calls WHERE call_id = $1', [id]);
      expect(rows[0]).toMatchObject({ ramal: '1001', telefone: '41988445566', contact_id: '4242' });
    });

    it('POST JSON: same fields, numbers accepted as text', async () => {
      const id = cid();
      const r = await h.api('POST', `/telephony/${profile.id}/answered`, {}, { pid: 77, num: 41988445566, cid: id, ramal: 2002 });
      expect(r.status).toBe(200);
      await expectEventually(() =>
        expect(h.probe.ofType<CallAnswered>('telephony.call.answered').find((x) => x.data.callId === id)?.data).toMatchObject({
          ramal: '2002', telefone: '41988445566', contactId: '77',
        }),
      );
    });

    it('POST JSON: a call id sent as a JSON number keeps every digit it was written with (1537276453.10 is not 1537276453.1)', async () => {
      const raw = '{"cid": 1537276453.10, "ramal": 2004, "num": 41988445566, "note": "1.50 \\" 7"}';
      const answered = await h.api('POST', `/telephony/${profile.id}/answered`, { 'content-type': 'application/json' }, raw);
      expect(answered).toMatchObject({ status: 200, body: { callId: '1537276453.10' } });
      // The same call's end, with the id as text: it matches the answered call (its ramal comes from it).
      expect((await h.api('POST', `/telephony/${profile.id}/ended`, { 'content-type': 'application/json' }, '{"cid": "1537276453.10", "duration": 30}')).status).toBe(200);
      const rows = await h.ds.query('SELECT call_id, ramal, duration_seconds FROM "telephony".calls WHERE call_id LIKE $1', ['1537276453.1%']);
      expect(rows).toEqual([{ call_id: '1537276453.10', ramal: '2004', duration_seconds: 30 }]);
      // The same with a JSON media type of the PBX's own (application/*+json, which the body parser reads as JSON too).
      const vendor = await h.api('POST', `/telephony/${profile.id}/answered`, { 'content-type': 'application/vnd.pbx+json' }, '{"cid": 1537276454.20, "ramal": 2008, "num": 41988445566}');
      expect(vendor).toMatchObject({ status: 200, body: { callId: '1537276454.20' } });
    });

    it('POST with a JSON content type and the fields in the query (empty body), or a JSON body after a byte-order mark: accepted, not a 500', async () => {
      const json = { 'content-type': 'application/json' };
      const inQuery = cid();
      const empty = await h.api('POST', `/telephony/${profile.id}/answered?cid=${inQuery}&ramal=2006&num=41988445566`, json, '');
      expect(empty).toMatchObject({ status: 200, body: { callId: inQuery, duplicate: false } });
      const withBom = cid();
      const bom = await h.api('POST', `/telephony/${profile.id}/answered`, json, `\ufeff{"cid": "${withBom}", "ramal": 2007, "num": "41988445566"}`);
      expect(bom).toMatchObject({ status: 200, body: { callId: withBom, duplicate: false } });
      const rows = await h.ds.query('SELECT call_id, ramal FROM "telephony".calls WHERE call_id = ANY($1) ORDER BY ramal', [[inQuery, withBom]]);
      expect(rows).toEqual([{ call_id: inQuery, ramal: '2006' }, { call_id: withBom, ramal: '2007' }]);
    });

    it('POST as a form (application/x-www-form-urlencoded): answered and ended read their fields from the body', async () => {
      const id = cid();
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      const a = await h.api('POST', `/telephony/${profile.id}/answered`, form,
        new URLSearchParams({ cid: id, ramal: '2009', num: '(41) 98844-5566', pid: 'CRM-7', empresaId: 'acme-2' }).toString());
      expect(a).toMatchObject({ status: 200, body: { callId: id, duplicate: false } });
      const e = await h.api('POST', `/telephony/${profile.id}/ended`, form, new URLSearchParams({ cid: id, duration: '1:05', disposition: 'ANSWERED' }).toString());
      expect(e).toMatchObject({ status: 200, body: { callId: id, duplicate: false } });
      const rows = await h.ds.query('SELECT ramal, telefone, contact_id, empresa_id, duration_seconds, disposition FROM "telephony".calls WHERE call_id = $1', [id]);
      expect(rows).toEqual([{ ramal: '2009', telefone: '41988445566', contact_id: 'CRM-7', empresa_id: 'acme-2', duration_seconds: 65, disposition: 'ANSWERED' }]);
      await expectEventually(() => expect(h.probe.ofType<CallEnded>('telephony.call.ended').find((x) => x.data.callId === id)?.data).toEqual({
        callId: id, profileId: profile.id, ramal: '2009', telefone: '41988445566', durationSeconds: 65, disposition: 'ANSWERED', empresaId: 'acme-2',
      }));
    });

    it('POST JSON: a contact id holding a lone surrogate (a JSON escape) is stored and published with U+FFFD, not answered with a 500', async () => {
      const id = cid();
      const raw = `{"cid": "${id}", "ramal": "2005", "num": "41988445566", "pid": "crm\\ud800-1"}`;
      const r = await h.api('POST', `/telephony/${profile.id}/answered`, { 'content-type': 'application/json' }, raw);
      expect(r).toMatchObject({ status: 200, body: { callId: id, duplicate: false } });
      const rows = await h.ds.query('SELECT contact_id FROM "telephony".calls WHERE call_id = $1', [id]);
      expect(rows).toEqual([{ contact_id: 'crm\ufffd-1' }]);
      await expectEventually(() =>
        expect(h.probe.ofType<CallAnswered>('telephony.call.answered').find((x) => x.data.callId === id)?.data.contactId).toBe('crm\ufffd-1'),
      );
    });

    it('a repeated cid is idempotent: 200 again, nothing new stored or published', async () => {
      const id = cid();
      const q = { pid: '1', num: '41988445566', cid: id, ramal: '1001' };
      expect((await answered(profile, q)).body).toEqual({ callId: id, duplicate: false });
      const again = await answered(profile, q);
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ callId: id, duplicate: true });
      const post = await h.api('POST', `/telephony/${profile.id}/answered`, {}, q);
      expect(post.body).toEqual({ callId: id, duplicate: true });
      // Published once: a second event would be on the bus by now.
      await h.settled();
      expect(h.probe.ofType<CallAnswered>('telephony.call.answered').filter((e) => e.data.callId === id)).toHaveLength(1);
    });

    it('the same answered and ended callbacks sent several times at once (a PBX retrying a slow answer): one of each is new, one event of each', async () => {
      const id = cid();
      const q = { cid: id, ramal: '1004', num: '41988445566' };
      const answers = await Promise.all(Array.from({ length: 8 }, () => answered(profile, q)));
      expect(answers.map((r) => r.status)).toEqual(Array(8).fill(200));
      expect(answers.filter((r) => r.body.duplicate === false)).toHaveLength(1);
      const ends = await Promise.all(Array.from({ length: 8 }, () => h.api('GET', `/telephony/${profile.id}/ended?cid=${id}&duration=9`)));
      expect(ends.map((r) => r.status)).toEqual(Array(8).fill(200));
      expect(ends.filter((r) => r.body.duplicate === false)).toHaveLength(1);
      await h.settled();
      expect(h.probe.ofType<CallAnswered>('telephony.call.answered').filter((e) => e.data.callId === id)).toHaveLength(1);
      expect(h.probe.ofType<CallEnded>('telephony.call.ended').filter((e) => e.data.callId === id)).toHaveLength(1);
    });

    it('400 names every bad parameter and stores nothing', async () => {
      const before = await h.publishedCount('telephony.call.answered', t.tenantId);
      const r = await answered(profile, { num: 'call me', cid: '../../etc/passwd', ramal: '10 01', empresaId: 'a/b' });
      expect(r.status).toBe(400);
      const fields = (r.body.errors as Array<{ field: string }>).map((e) => e.field).sort();
      expect(fields).toEqual(['cid', 'empresaId', 'num', 'ramal']);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      const missing = await answered(profile, {});
      expect(missing.status).toBe(400);
      expect(missing.body.detail).toMatch(/cid: required.*ramal: required.*num: required/);
      expect(await h.publishedCount('telephony.call.answered', t.tenantId)).toBe(before);
    });

    it('403 from an address outside the allow-list, before any validation; nothing published', async () => {
      const remote = await h.profile(t, { allowedCidrs: ['203.0.113.0/24'] });
      const before = await h.publishedCount('telephony.call.answered', t.tenantId);
      const r = await answered(remote, { num: '41988445566', cid: cid(), ramal: '1' });
      expect(r.status).toBe(403);
      expect(r.body.detail).toContain('127.0.0.1');
      expect((await answered(remote, {})).status).toBe(403);
      // X-Forwarded-For counts only from a trusted proxy (here the peer 127.0.0.1 is one).
      const viaProxy = await answered(remote, { num: '41988445566', cid: cid(), ramal: '1' }, { 'x-forwarded-for': '198.51.100.1, 203.0.113.9' });
      expect(viaProxy.status).toBe(200);
      const spoofed = await answered(profile, { num: '41988445566', cid: cid(), ramal: '1' }, { 'x-forwarded-for': '203.0.113.9' });
      expect(spoofed.status).toBe(403);
      expect(await h.publishedCount('telephony.call.answered', t.tenantId)).toBe(before + 1);
    });

    it('checks the callback token (header or query) when the profile has one', async () => {
      const secret = 'callback-secret-0123456789';
      const guarded = await h.profile(t, { callbackToken: secret });
      const q = { num: '41988445566', ramal: '1001' };
      expect((await answered(guarded, { ...q, cid: cid() })).status).toBe(403);
      expect((await answered(guarded, { ...q, cid: cid() }, { 'x-callback-token': 'wrong-token-0123456789' })).status).toBe(403);
      expect((await answered(guarded, { ...q, cid: cid() }, { 'x-callback-token': secret })).status).toBe(200);
      const viaQuery = await answered(guarded, { ...q, cid: cid(), token: secret });
      expect(viaQuery.status).toBe(200);
      const stored = await h.ds.query('SELECT params FROM "telephony".callbacks WHERE call_id = $1', [viaQuery.body.callId]);
      expect(JSON.stringify(stored[0].params)).not.toContain(secret);
      const pushed = await h.pbx.pushAnswered(guarded.callbackBase, { ...q, cid: cid() }, { token: secret, method: 'POST' });
      expect(pushed.status).toBe(200);
      // The end of a call is guarded the same way: without the token, or with a wrong one, nothing changes.
      const call = viaQuery.body.callId as string;
      const end = (headers: Record<string, string>, extra: Record<string, string> = {}) =>
        h.api('GET', `/telephony/${guarded.id}/ended?${new URLSearchParams({ cid: call, duration: '7', ...extra }).toString()}`, headers);
      expect((await end({})).status).toBe(403);
      expect((await end({ 'x-callback-token': 'wrong-token-0123456789' })).status).toBe(403);
      expect((await end({}, { token: 'wrong-token-0123456789' })).status).toBe(403);
      expect(await h.ds.query('SELECT ended_at FROM "telephony".calls WHERE call_id = $1', [call])).toEqual([{ ended_at: null }]);
      expect((await end({}, { token: secret })).body).toEqual({ callId: call, duplicate: false });
      expect(await h.ds.query('SELECT duration_seconds FROM "telephony".calls WHERE call_id = $1', [call])).toEqual([{ duration_seconds: 7 }]);
    });

    it('404 for an unknown or malformed profile', async () => {
      expect((await answered({ id: '00000000-0000-4000-8000-000000000000' }, { cid: '1' })).status).toBe(404);
      expect((await answered({ id: 'not-a-uuid' }, { cid: '1' })).status).toBe(404);
    });
  });

  it('deletes callbacks past CALLBACK_RETENTION_DAYS (30 by default), keeps the younger ones and the calls', async () => {
    for (const cid of ['1537276999.1', '1537276999.2']) expect((await answered(profile, { cid, ramal: '1001', num: '41988445566' })).status).toBe(200);
    const calls = async () => (await h.ds.query('SELECT count(*)::int AS n FROM "telephony".calls'))[0].n as number;
    const before = await calls();
    await expectRetained(h.ds, () => h.app.get(RetentionSweeper).sweep(), { table: '"telephony".callbacks', column: 'received_at', days: 30 });
    expect(await calls()).toBe(before);
  });

  it('a callback replayed after its record was swept is still a duplicate: the call row stops a second event', async () => {
    const id = cid();
    expect((await answered(profile, { cid: id, ramal: '1001', num: '41988445566' })).body).toEqual({ callId: id, duplicate: false });
    expect((await h.pbx.pushEnded(profile.callbackBase, { cid: id, duration: 20 })).status).toBe(200);
    const counts = async () => [await h.publishedCount('telephony.call.answered', t.tenantId), await h.publishedCount('telephony.call.ended', t.tenantId)];
    const before = await counts();
    await h.ds.query(`UPDATE "telephony".callbacks SET received_at = now() - interval '31 days' WHERE call_id = $1`, [id]);
    await h.app.get(RetentionSweeper).sweep();
    expect(await h.ds.query('SELECT id FROM "telephony".callbacks WHERE call_id = $1', [id])).toEqual([]);
    // The PBX retries both callbacks of the old call.
    expect((await answered(profile, { cid: id, ramal: '1001', num: '41988445566' })).body).toEqual({ callId: id, duplicate: true });
    const ended = await h.pbx.pushEnded(profile.callbackBase, { cid: id, duration: 99 });
    expect(JSON.parse(ended.body)).toEqual({ callId: id, duplicate: true });
    expect(await counts()).toEqual(before);
    const rows = await h.ds.query('SELECT duration_seconds FROM "telephony".calls WHERE call_id = $1', [id]);
    expect(rows).toEqual([{ duration_seconds: 20 }]);
  });

  it('an answer from another extension for a call that has ended, or was answered more than 4 hours ago, is no transfer: nothing published, the call keeps its extension', async () => {
    const over = cid();
    expect((await answered(profile, { cid: over, ramal: '5101', num: '41988445566' })).status).toBe(200);
    expect((await h.pbx.pushEnded(profile.callbackBase, { cid: over, duration: 5 })).status).toBe(200);
    const stale = cid();
    expect((await answered(profile, { cid: stale, ramal: '5101', num: '41988445566' })).status).toBe(200);
    await h.ds.query(`UPDATE "telephony".calls SET answered_at = answered_at - interval '5 hours' WHERE call_id = $1`, [stale]);
    // The control: a call in progress, answered just now, is transferred.
    const live = cid();
    expect((await answered(profile, { cid: live, ramal: '5101', num: '41988445566' })).status).toBe(200);
    const before = await h.publishedCount('telephony.call.answered', t.tenantId);
    for (const id of [over, stale]) expect([id, (await answered(profile, { cid: id, ramal: '5102', num: '41988445566' })).status]).toEqual([id, 200]);
    expect((await answered(profile, { cid: live, ramal: '5102', num: '41988445566' })).body).toEqual({ callId: live, duplicate: false });
    expect(await h.publishedCount('telephony.call.answered', t.tenantId)).toBe(before + 1);
    expect(h.probe.ofType<CallAnswered>('telephony.call.answered').filter((e) => [over, stale, live].includes(e.data.callId)).map((e) => [e.data.callId, e.data.ramal]))
      .toEqual([[over, '5101'], [stale, '5101'], [live, '5101'], [live, '5102']]);
    const rows = await h.ds.query('SELECT call_id, ramal, transferred_from FROM "telephony".calls WHERE call_id = ANY($1) ORDER BY call_id', [[over, stale, live]]);
    expect(rows).toEqual([
      { call_id: over, ramal: '5101', transferred_from: null },
      { call_id: stale, ramal: '5101', transferred_from: null },
      { call_id: live, ramal: '5102', transferred_from: '5101' },
    ]);
  });

  describe('call ended', () => {
    it('publishes telephony.call.ended with duration and disposition, ramal from the answered call', async () => {
      const id = cid();
      await h.pbx.pushAnswered(profile.callbackBase, { cid: id, ramal: '3003', num: '41988445566', empresaId: 'e1' });
      const r = await h.pbx.pushEnded(profile.callbackBase, { cid: id, duration: 125, disposition: 'ANSWERED' });
      expect(r.status).toBe(200);
      const ev = await expectEventually(() => {
        const e = h.probe.ofType<CallEnded>('telephony.call.ended').find((x) => x.data.callId === id);
        expect(e).toBeDefined();
        return e!;
      });
      expect(ev.data).toEqual({
        callId: id, profileId: profile.id, ramal: '3003', telefone: '41988445566', durationSeconds: 125, disposition: 'ANSWERED', empresaId: 'e1',
      });
      const again = await h.pbx.pushEnded(profile.callbackBase, { cid: id, duration: 125, disposition: 'ANSWERED' }, { method: 'POST' });
      expect(JSON.parse(again.body)).toEqual({ callId: id, duplicate: true });
      const rows = await h.ds.query('SELECT duration_seconds, disposition, ended_at FROM "telephony".calls WHERE call_id = $1', [id]);
      expect(rows[0]).toMatchObject({ duration_seconds: 125, disposition: 'ANSWERED' });
    });

    it('a disposition in Portuguese (accented letters, composed or not) is stored and published as sent, not refused', async () => {
      const dispositions = ['NÃO ATENDIDA', 'Não atendida'.normalize('NFD'), 'Ligação concluída'];
      for (const disposition of dispositions) {
        const id = cid();
        await h.pbx.pushAnswered(profile.callbackBase, { cid: id, ramal: '3004', num: '41988445566' });
        const r = await h.pbx.pushEnded(profile.callbackBase, { cid: id, duration: 0, disposition });
        expect([disposition, r.status]).toEqual([disposition, 200]);
        const ev = await expectEventually(() => {
          const e = h.probe.ofType<CallEnded>('telephony.call.ended').find((x) => x.data.callId === id);
          expect(e).toBeDefined();
          return e!;
        });
        expect(ev.data.disposition).toBe(disposition);
      }
    });

    // PBX panels and CDRs send the duration as decimal seconds or as [hh:]mm:ss; the event carries whole seconds.
    it.each([
      { sent: '125', stored: 125, how: 'GET' },
      { sent: '0', stored: 0, how: 'GET' },
      { sent: '604800', stored: 604800, how: 'GET' },
      { sent: '12.5', stored: 13, how: 'GET' },
      { sent: '12.4', stored: 12, how: 'GET' },
      { sent: '0.4', stored: 0, how: 'GET' },
      { sent: '604799.9', stored: 604800, how: 'GET' },
      { sent: '00:02:05', stored: 125, how: 'GET' },
      { sent: '1:00:00', stored: 3600, how: 'GET' },
      { sent: '168:00:00', stored: 604800, how: 'GET' },
      { sent: '02:05', stored: 125, how: 'GET' },
      { sent: '2:05', stored: 125, how: 'GET' },
      { sent: '90:00', stored: 5400, how: 'GET' },
      { sent: 12.5, stored: 13, how: 'JSON number' },
      { sent: '00:02:05', stored: 125, how: 'JSON' },
    ])('duration $sent ($how) is stored and published as $stored seconds', async ({ sent, stored, how }) => {
      const id = cid();
      await h.pbx.pushAnswered(profile.callbackBase, { cid: id, ramal: '3005', num: '41988445566' });
      const r = how === 'GET'
        ? await h.api('GET', `/telephony/${profile.id}/ended?${new URLSearchParams({ cid: id, duration: String(sent) }).toString()}`)
        : await h.api('POST', `/telephony/${profile.id}/ended`, { 'content-type': 'application/json' }, { cid: id, duration: sent });
      expect([r.status, r.body]).toEqual([200, { callId: id, duplicate: false }]);
      const ev = await expectEventually(() => {
        const e = h.probe.ofType<CallEnded>('telephony.call.ended').find((x) => x.data.callId === id);
        expect(e).toBeDefined();
        return e!;
      });
      expect(ev.data.durationSeconds).toBe(stored);
      const rows = await h.ds.query('SELECT duration_seconds FROM "telephony".calls WHERE call_id = $1', [id]);
      expect(rows).toEqual([{ duration_seconds: stored }]);
    });

    it.each([
      '-3', '-0.5', '-00:02:05', '+5', 'abc', '12s', '1e3', '0x10', '12.', '.5', '12,5', 'Infinity',
      '604801', '604800.4', '168:00:01', '10081:00', '00:60:00', '00:02:60', '02:60', '1:2:3', '1:02:3', '00:00:02:05', ':05', '02:', '::',
    ])('duration %j is a 400 naming the field; nothing stored or published', async (sent) => {
      const id = cid();
      const before = await h.publishedCount('telephony.call.ended', t.tenantId);
      const r = await h.api('GET', `/telephony/${profile.id}/ended?${new URLSearchParams({ cid: id, ramal: '3006', duration: sent }).toString()}`);
      expect(r.status).toBe(400);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      expect((r.body.errors as Array<{ field: string }>).map((e) => e.field)).toEqual(['duration']);
      expect(r.body.detail).toMatch(/^duration: /);
      expect(await h.ds.query('SELECT 1 FROM "telephony".calls WHERE call_id = $1', [id])).toEqual([]);
      expect(await h.publishedCount('telephony.call.ended', t.tenantId)).toBe(before);
    });

    it('400 for a bad duration or an unknown call without ramal; 403 outside the allow-list', async () => {
      const bad = await h.api('GET', `/telephony/${profile.id}/ended?cid=${cid()}&duration=-3&disposition=%0a`);
      expect(bad.status).toBe(400);
      expect((bad.body.errors as Array<{ field: string }>).map((e) => e.field).sort()).toEqual(['disposition', 'duration']);
      const unknown = await h.api('GET', `/telephony/${profile.id}/ended?cid=${cid()}&duration=3`);
      expect(unknown.status).toBe(400);
      expect(unknown.body.detail).toContain('ramal');
      const withRamal = await h.api('POST', `/telephony/${profile.id}/ended`, {}, { cid: cid(), duration: '3', ramal: '9', disposition: 'NO ANSWER' });
      expect(withRamal.status).toBe(200);
      const remote = await h.profile(t, { allowedCidrs: ['203.0.113.0/24'] });
      expect((await h.api('GET', `/telephony/${remote.id}/ended?cid=${cid()}&ramal=1`)).status).toBe(403);
    });
  });
  describe('a callback is answered only once what it carries has committed', () => {
    const holdOutbox = () => holdWrites(h.ds, '"telephony".outbox');
    const waitingFor = (pattern: string) => waitingOnLock(h.ds, pattern);
    const stored = (id: string) => h.ds.query(
      `SELECT 'call' AS what, ramal, answered_at IS NOT NULL AS answered, ended_at IS NOT NULL AS ended, duration_seconds
         FROM "telephony".calls WHERE call_id = $1
       UNION ALL SELECT 'callback:' || kind, ramal, NULL, NULL, NULL FROM "telephony".callbacks WHERE call_id = $1 ORDER BY 1, 2`, [id]);
    const published = (type: string, id: string) => h.probe.ofType(type).filter((e) => e.subject === id);

    it('answered: no response while its write waits, nothing stored; once it commits, 200 with the call, its record and the event', async () => {
      const id = cid();
      const hold = await holdOutbox();
      let answer: ApiAnswer<Record<string, unknown>> | undefined;
      try {
        const pending = answered(profile, { cid: id, ramal: '4401', num: '41988445566' }).then((r) => (answer = r));
        // The callback's one statement (callback record, call, event) is waiting for the outbox.
        await waitingFor(`%INSERT INTO "telephony".callbacks%'answered'%`);
        expect(answer).toBeUndefined();
        expect(await stored(id)).toEqual([]);
        await hold.release();
        expect(await pending).toMatchObject({ status: 200, body: { callId: id, duplicate: false } });
      } finally {
        await hold.release();
      }
      expect(await stored(id)).toEqual([
        { what: 'call', ramal: '4401', answered: true, ended: false, duration_seconds: null },
        { what: 'callback:answered', ramal: '4401', answered: null, ended: null, duration_seconds: null },
      ]);
      await expectEventually(() => expect(published('telephony.call.answered', id)).toHaveLength(1));
    });

    it('ended: no response while its write waits, the call not yet over; once it commits, 200 with the end, its record and the event', async () => {
      const id = cid();
      expect((await answered(profile, { cid: id, ramal: '4402', num: '41988445566' })).status).toBe(200);
      const hold = await holdOutbox();
      let answer: { status: number; body: string } | undefined;
      try {
        const pending = h.pbx.pushEnded(profile.callbackBase, { cid: id, duration: 42 }).then((r) => (answer = r));
        // Its transaction has written the callback record and the call's end, and waits to write the event.
        await waitingFor('INSERT INTO "telephony".outbox (event_id,%');
        expect(answer).toBeUndefined();
        expect(await stored(id)).toEqual([
          { what: 'call', ramal: '4402', answered: true, ended: false, duration_seconds: null },
          { what: 'callback:answered', ramal: '4402', answered: null, ended: null, duration_seconds: null },
        ]);
        await hold.release();
        const done = await pending;
        expect([done.status, JSON.parse(done.body)]).toEqual([200, { callId: id, duplicate: false }]);
      } finally {
        await hold.release();
      }
      expect(await stored(id)).toEqual([
        { what: 'call', ramal: '4402', answered: true, ended: true, duration_seconds: 42 },
        { what: 'callback:answered', ramal: '4402', answered: null, ended: null, duration_seconds: null },
        { what: 'callback:ended', ramal: '', answered: null, ended: null, duration_seconds: null },
      ]);
      await expectEventually(() => expect(published('telephony.call.ended', id)).toHaveLength(1));
    });
  });
});
