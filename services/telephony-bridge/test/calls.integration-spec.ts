import { request as httpRequest } from 'node:http';
import type { CallStarted } from '@elo/contracts';
import { callApi, expectEventually } from '@elo/testing';
import { bootApp, startHarness, testConfig, type Harness, type Tenant } from './support/harness';

/** GET over node:http, path sent exactly as written (fetch would normalise `..`). */
function rawGet(url: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('telephony-bridge: Click2Call and recordings against the PBX simulator', () => {
  let h: Harness;
  let t: Tenant;
  let profile: { id: string };

  beforeAll(async () => {
    h = await startHarness('telephony_calls');
    t = await h.tenant();
    profile = await h.profile(t, { chave: 'pbx-chave-1' });
    h.pbx.configure({ chave: 'pbx-chave-1' });
  });
  afterEach(() => h.pbx.configure({ answer: 'text', click2call: 'ok', recording: 'wav', errorStatus: 500, wavBytes: 64 * 1024, chunked: false }));
  afterAll(async () => h?.close());

  describe('POST /calls', () => {
    it('plain-text answer: normalises the phone, sends the rendered request, stores the call and publishes telephony.call.started', async () => {
      const r = await h.api<{ callId: string }>('POST', '/calls', t.headers, { ramal: '1001', telefone: '(41) 8844-5566' });
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({ profileId: profile.id, ramal: '1001', telefone: '41988445566' });
      expect(r.body.callId).toMatch(/^\d+\.\d+$/);
      const sent = h.pbx.requests.filter((q) => q.path === '/click2call').at(-1)!;
      expect(sent.query).toEqual({ ramal: '1001', telefone: '41988445566', chave: 'pbx-chave-1' });
      const ev = await expectEventually(() => {
        const e = h.probe.ofType<CallStarted>('telephony.call.started').find((x) => x.data.callId === r.body.callId);
        expect(e).toBeDefined();
        return e!;
      });
      expect(ev.data).toEqual({ callId: r.body.callId, profileId: profile.id, ramal: '1001', telefone: '41988445566' });
      const rows = await h.ds.query('SELECT origin, started_at FROM "telephony".calls WHERE call_id = $1', [r.body.callId]);
      expect(rows[0].origin).toBe('click2call');
    });

    it('JSON answer: the call id from a JSON path, with a POST JSON body template', async () => {
      h.pbx.configure({ answer: 'json' });
      const p = await h.profile(t, {
        preset: 'custom', chave: 'pbx-chave-1',
        click2call: {
          request: {
            method: 'POST', url: `${h.pbx.url}/click2call`,
            headers: [{ name: 'X-Origin', value: 'elo {ramal}' }],
            body: { kind: 'json', template: '{"ramal": "{ramal}", "telefone": "{telefone}", "chave": "{chave}"}' },
          },
          callId: { from: 'json', path: 'data.call.id' },
        },
      });
      const r = await h.api<{ callId: string; telefone: string }>('POST', '/calls', t.headers, { ramal: '2002', telefone: '+55 11 99999-8888', profileId: p.id });
      expect(r.status).toBe(201);
      expect(r.body.telefone).toBe('11999998888');
      const sent = h.pbx.requests.at(-1)!;
      expect(sent.method).toBe('POST');
      expect(sent.headers['x-origin']).toBe('elo 2002');
      expect(JSON.parse(sent.body)).toEqual({ ramal: '2002', telefone: '11999998888', chave: 'pbx-chave-1' });
      expect(r.body.callId).toMatch(/^\d+\.\d+$/);
    });

    it('form body template: a POST form body rendered with ramal, telefone and chave (escaped as form fields)', async () => {
      const p = await h.profile(t, {
        preset: 'custom', chave: 'pbx-chave-1',
        click2call: {
          request: {
            method: 'POST', url: `${h.pbx.url}/click2call`,
            body: { kind: 'form', pairs: [{ key: 'ramal', value: '{ramal}' }, { key: 'telefone', value: '{telefone}' }, { key: 'chave', value: '{chave}' }, { key: 'note', value: 'a&b={ramal}' }] },
          },
          callId: { from: 'text' },
        },
      });
      const r = await h.api<{ callId: string }>('POST', '/calls', t.headers, { ramal: '2003', telefone: '41 98844-5566', profileId: p.id });
      expect(r.status).toBe(201);
      const sent = h.pbx.requests.at(-1)!;
      expect([sent.method, sent.path, sent.headers['content-type']]).toEqual(['POST', '/click2call', 'application/x-www-form-urlencoded']);
      expect(Object.fromEntries(new URLSearchParams(sent.body))).toEqual({ ramal: '2003', telefone: '41988445566', chave: 'pbx-chave-1', note: 'a&b=2003' });
      expect(r.body.callId).toMatch(/^\d+\.\d+$/);
    });

    it('Asterisk ARI preset: POST /ari/channels with basic auth, call id = channel id', async () => {
      const ari = await h.api<{ id: string }>('POST', '/pbx-profiles', t.headers, {
        name: 'ari', preset: 'asterisk-ari', baseUrl: h.pbx.url, pbxHost: '127.0.0.1', allowedCidrs: ['127.0.0.1/32'], chave: 'elo:pbx-chave-1',
      });
      const r = await h.api<{ callId: string }>('POST', '/calls', t.headers, { ramal: '3003', telefone: '41988445566', profileId: ari.body.id });
      expect(r.status).toBe(201);
      const sent = h.pbx.requests.at(-1)!;
      expect(sent.path).toBe('/ari/channels');
      expect(sent.query).toMatchObject({ endpoint: 'PJSIP/3003', extension: '41988445566', context: 'from-internal' });
      expect(sent.headers.authorization).toBe(`Basic ${Buffer.from('elo:pbx-chave-1').toString('base64')}`);
      expect(r.body.callId).toMatch(/^\d+\.\d+$/);
    });

    it('PBX timeout → 504, PBX error → 502 quoting the answer, no valid call id → 502; nothing published', async () => {
      const before = await h.publishedCount('telephony.call.started', t.tenantId);
      h.pbx.configure({ click2call: 'timeout' });
      const slow = await h.api<{ detail: string }>('POST', '/calls', t.headers, { ramal: '1001', telefone: '41988445566' });
      expect(slow.status).toBe(504);
      expect(slow.body.detail).toMatch(/did not answer .* in time/);
      h.pbx.configure({ click2call: 'error', errorStatus: 503, errorBody: 'trunk busy' });
      const err = await h.api<Record<string, unknown>>('POST', '/calls', t.headers, { ramal: '1001', telefone: '41988445566' });
      expect(err.status).toBe(502);
      expect(err.body).toMatchObject({ pbxStatus: 503, pbxBody: 'trunk busy' });
      expect(err.body.detail).toBe('the PBX answered the Click2Call request with HTTP 503: trunk busy');
      // A PBX echoing the refused request never hands the profile's chave to the caller.
      h.pbx.configure({ click2call: 'error', errorStatus: 400, errorBody: 'bad request GET /click2call?ramal=1001&chave=pbx-chave-1 (cGJ4LWNoYXZlLTE=)' });
      const echoed = await h.api<Record<string, unknown>>('POST', '/calls', t.headers, { ramal: '1001', telefone: '41988445566' });
      expect(echoed.status).toBe(502);
      expect(JSON.stringify(echoed.body)).not.toMatch(/pbx-chave-1|cGJ4LWNoYXZlLTE=/);
      expect(echoed.body.pbxBody).toBe('bad request GET /click2call?ramal=1001&chave=•••• (••••)');
      h.pbx.configure({ click2call: 'ok', answer: 'json' });
      const noId = await h.api<{ detail: string }>('POST', '/calls', t.headers, { ramal: '1001', telefone: '41988445566' });
      expect(noId.status).toBe(502);
      expect(noId.body.detail).toMatch(/no valid call id as its plain-text body: \{"status":"ok"/);
      expect(await h.publishedCount('telephony.call.started', t.tenantId)).toBe(before);
    });

    it('a private PBX not named as pbxHost is not reachable (502 naming why)', async () => {
      const p = await h.profile(t, { pbxHost: null });
      const r = await h.api<{ detail: string }>('POST', '/calls', t.headers, { ramal: '1001', telefone: '41988445566', profileId: p.id });
      expect(r.status).toBe(502);
      expect(r.body.detail).toMatch(/not public.*pbxHost/);
    });

    it('with the default ranges a pbxHost of loopback, a name for it or the metadata address is refused (502 naming why); nothing sent or published', async () => {
      // The production default: a pbxHost opens RFC 1918, CGNAT and unique-local only.
      const strict = await bootApp(testConfig(h.infra, { EGRESS_REQUEST_PRIVATE_RANGES: '' }));
      try {
        const port = new URL(h.pbx.url).port;
        const hosts = [
          { pbxHost: '127.0.0.1', baseUrl: h.pbx.url, why: /address 127\.0\.0\.1 is not public \(loopback 127\.0\.0\.0\/8\)/ },
          { pbxHost: 'localhost', baseUrl: `http://localhost:${port}`, why: /localhost resolves to (127\.0\.0\.1|::1), which is not public \(loopback/ },
          { pbxHost: '169.254.169.254', baseUrl: 'http://169.254.169.254', why: /address 169\.254\.169\.254 is not public \(link-local 169\.254\.0\.0\/16\)/ },
        ];
        const before = await h.publishedCount('telephony.call.started', t.tenantId);
        const sent = h.pbx.requests.length;
        for (const { pbxHost, baseUrl, why } of hosts) {
          const p = await h.profile(t, { pbxHost, baseUrl });
          const r = await callApi<{ detail: string; pbxError: string }>(strict.url, 'POST', '/calls', undefined,
            { ramal: '1001', telefone: '41988445566', profileId: p.id }, t.headers);
          expect(r.status).toBe(502);
          expect(r.body.pbxError).toBe('blocked');
          expect(r.body.detail).toMatch(why);
          expect(r.body.detail).toMatch(/a per-request allowance opens only private-network addresses \(10\.0\.0\.0\/8.*\).*pbxHost may name only private-network addresses/);
        }
        expect(h.pbx.requests.length).toBe(sent);
        expect(await h.publishedCount('telephony.call.started', t.tenantId)).toBe(before);
      } finally {
        await strict.app.close();
      }
    });

    it('400 for a bad phone or extension, 403 without telephony:call', async () => {
      const phone = await h.api<{ detail: string }>('POST', '/calls', t.headers, { ramal: '1001', telefone: '123' });
      expect(phone.status).toBe(400);
      expect(phone.body.detail).toContain('telefone');
      expect((await h.api('POST', '/calls', t.headers, { ramal: '10 01', telefone: '41988445566' })).status).toBe(400);
      const viewer = await h.tenant(['telephony:manage']);
      expect((await h.api('POST', '/calls', viewer.headers, { ramal: '1', telefone: '41988445566' })).status).toBe(403);
    });
  });

  describe('GET /calls/{callId}/recording', () => {
    it('streams the WAV with its length, rendering callid, telefone and chave', async () => {
      const started = await h.api<{ callId: string }>('POST', '/calls', t.headers, { ramal: '1001', telefone: '41988445566' });
      const res = await fetch(`${h.url}/calls/${started.body.callId}/recording`, { headers: t.headers });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('audio/wav');
      expect(res.headers.get('content-length')).toBe(String(64 * 1024));
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.length).toBe(64 * 1024);
      expect(body.toString('latin1', 0, 4)).toBe('RIFF');
      const sent = h.pbx.requests.at(-1)!;
      expect(sent.path).toBe(`/recordings/${started.body.callId}`);
      expect(sent.query).toEqual({ telefone: '41988445566', chave: 'pbx-chave-1' });
    });

    it('streams a 50 MB recording as it arrives, reading the PBX no faster than a slow client (backpressure bounds what is held)', async () => {
      const size = 50 * 1024 * 1024;
      h.pbx.configure({ wavBytes: size });
      const sentBefore = h.pbx.stats.wavBytesSent;
      const res = await fetch(`${h.url}/calls/1537276453.47245539/recording`, { headers: t.headers });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBe(String(size));
      const reader = res.body!.getReader();
      let received = 0;
      let first: Uint8Array | undefined;
      let paused = false;
      let aheadWhilePaused = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        first ??= value;
        received += value.length;
        if (!paused && received >= 5 * 1024 * 1024) {
          // The client stops reading: the PBX must stop too (once the socket buffers between them are full),
          // not be read to the end into memory. Wait until it has stopped (nothing more sent for 300 ms; 5 s at most).
          paused = true;
          const deadline = Date.now() + 5_000;
          let still = 0;
          for (let last = -1; still < 3 && Date.now() < deadline; ) {
            await new Promise((r) => setTimeout(r, 100));
            const now = h.pbx.stats.wavBytesSent;
            still = now === last ? still + 1 : 0;
            last = now;
          }
          aheadWhilePaused = h.pbx.stats.wavBytesSent - sentBefore - received;
        }
      }
      expect(received).toBe(size);
      expect(Buffer.from(first!).toString('latin1', 8, 12)).toBe('WAVE');
      // What the PBX sent and the client has not read is all that can be held between them (in the service and
      // the sockets): the bound on memory. (The process's RSS is no measure: simulator, service and client share it,
      // and it follows the garbage collector.)
      process.stdout.write(`recording 50 MB: PBX ahead of a paused client by ${(aheadWhilePaused / 1048576).toFixed(1)} MB\n`);
      // Without backpressure all the 45 MB left would be read while paused; the loopback sockets' buffers on the
      // two hops (PBX → service → client, each autotuned to several MB under load) hold well under half of it.
      expect(aheadWhilePaused).toBeLessThan(size / 2);
    });

    it('a single byte range is answered 206 with Content-Range (an audio player can seek); an unsatisfiable one 416; others the whole WAV', async () => {
      const size = 64 * 1024;
      const get = (range: string, extra: Record<string, string> = {}) =>
        fetch(`${h.url}/calls/1537276453.6/recording`, { headers: { ...t.headers, range, ...extra } });
      const whole = await fetch(`${h.url}/calls/1537276453.6/recording`, { headers: t.headers });
      expect(whole.headers.get('accept-ranges')).toBe('bytes');
      const wav = Buffer.from(await whole.arrayBuffer());

      const mid = await get('bytes=1000-1999');
      expect(mid.status).toBe(206);
      expect(mid.headers.get('content-range')).toBe(`bytes 1000-1999/${size}`);
      expect(mid.headers.get('content-length')).toBe('1000');
      expect(Buffer.from(await mid.arrayBuffer()).equals(wav.subarray(1000, 2000))).toBe(true);

      for (const [range, start, end] of [['bytes=60000-', 60000, size - 1], ['bytes=-100', size - 100, size - 1], ['bytes=65000-999999', 65000, size - 1]] as const) {
        const r = await get(range);
        expect([range, r.status, r.headers.get('content-range')]).toEqual([range, 206, `bytes ${start}-${end}/${size}`]);
        expect(Buffer.from(await r.arrayBuffer()).equals(wav.subarray(start, end + 1))).toBe(true);
      }

      const beyond = await get(`bytes=${size}-`);
      expect(beyond.status).toBe(416);
      expect(beyond.headers.get('content-range')).toBe(`bytes */${size}`);
      await beyond.arrayBuffer();

      // Several ranges, a malformed one, or an If-Range the service cannot check: the whole WAV, 200.
      for (const [range, extra] of [['bytes=0-1,5-9', {}], ['bytes=abc', {}], ['bytes=0-99', { 'if-range': '"v1"' }]] as const) {
        const r = await get(range, extra);
        expect([range, r.status, (await r.arrayBuffer()).byteLength]).toEqual([range, 200, size]);
      }
    });

    it('a recording of unknown length (chunked) does not offer ranges: a Range request gets the whole WAV', async () => {
      h.pbx.configure({ chunked: true });
      const r = await fetch(`${h.url}/calls/1537276453.7/recording`, { headers: { ...t.headers, range: 'bytes=100-199' } });
      expect(r.status).toBe(200);
      expect(r.headers.get('accept-ranges')).toBe('none');
      expect((await r.arrayBuffer()).byteLength).toBe(64 * 1024);
    });

    it('anything but a WAV, or an HTTP error, is a 502 with the reason', async () => {
      h.pbx.configure({ recording: 'not-wav' });
      const html = await h.api<{ detail: string }>('GET', '/calls/1537276453.1/recording', t.headers);
      expect(html.status).toBe(502);
      expect(html.body.detail).toMatch(/not answer with a WAV file.*text\/html/);
      h.pbx.configure({ recording: 'error', errorStatus: 404, errorBody: 'recording not found' });
      const missing = await h.api<{ detail: string }>('GET', '/calls/1537276453.1/recording', t.headers);
      expect(missing.status).toBe(502);
      expect(missing.body.detail).toBe('the PBX answered the recording request with HTTP 404: recording not found');
      h.pbx.configure({ recording: 'error', errorStatus: 403, errorBody: 'denied for chave=pbx-chave-1' });
      const echoed = await h.api<{ detail: string }>('GET', '/calls/1537276453.1/recording', t.headers);
      expect(echoed.body.detail).toBe('the PBX answered the recording request with HTTP 403: denied for chave=••••');
    });

    it('size cap: a declared oversize recording is refused before anything is sent, an undeclared one cut at the cap; a hanging PBX is a 504', async () => {
      const small = await startHarness('telephony_calls_cap', { TELEPHONY_RECORDING_MAX_BYTES: '100000', TELEPHONY_RECORDING_TIMEOUT_MS: '3000' });
      try {
        const st = await small.tenant();
        await small.profile(st);
        small.pbx.configure({ wavBytes: 200_000 });
        const r = await small.api<{ detail: string }>('GET', '/calls/1537276453.2/recording', st.headers);
        expect(r.status).toBe(502);
        expect(r.body.detail).toContain('100000 byte limit');

        // Chunked, no content-length: headers are out before the size is known, so the cap cuts the
        // connection (no chunked terminator) rather than hand over a silently truncated WAV.
        small.pbx.configure({ wavBytes: 200_000, chunked: true });
        const res = await fetch(`${small.url}/calls/1537276453.3/recording`, { headers: st.headers });
        expect(res.status).toBe(200);
        let received = 0;
        const outcome = await (async () => {
          try {
            for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) received += chunk.length;
            return 'complete';
          } catch {
            return 'cut';
          }
        })();
        expect(outcome).toBe('cut');
        expect(received).toBeLessThanOrEqual(100_000);
        small.pbx.configure({ wavBytes: 50_000, chunked: true });
        const fine = await fetch(`${small.url}/calls/1537276453.4/recording`, { headers: st.headers });
        expect([fine.status, (await fine.arrayBuffer()).byteLength]).toEqual([200, 50_000]);

        small.pbx.configure({ recording: 'timeout' });
        const hung = await small.api<{ detail: string }>('GET', '/calls/1537276453.5/recording', st.headers);
        expect(hung.status).toBe(504);
        expect(hung.body.detail).toMatch(/did not answer the recording request in time/);
      } finally {
        await small.close();
      }
    });

    it("the recording comes through the profile of the call's latest record; a named profile without a recording request is a 409; another tenant's profile a 404, nothing sent", async () => {
      // Started through a second profile (Asterisk ARI, its recordings under /ari/recordings/stored/): not the tenant's first.
      const ari = await h.profile(t, { preset: 'asterisk-ari', chave: 'elo:pbx-chave-1' });
      const started = await h.api<{ callId: string }>('POST', '/calls', t.headers, { ramal: '1001', telefone: '41988445566', profileId: ari.id });
      expect(started.status).toBe(201);
      const res = await fetch(`${h.url}/calls/${started.body.callId}/recording`, { headers: t.headers });
      expect(res.status).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBe(64 * 1024);
      expect(h.pbx.requests.at(-1)!.path).toBe(`/ari/recordings/stored/${started.body.callId}/file`);

      const sent = h.pbx.requests.length;
      const noRecording = await h.profile(t, { preset: 'custom', click2call: { request: { method: 'GET', url: `${h.pbx.url}/click2call` }, callId: { from: 'text' } } });
      const conflict = await h.api<{ detail: string }>('GET', `/calls/${started.body.callId}/recording?profileId=${noRecording.id}`, t.headers);
      expect(conflict.status).toBe(409);
      expect(conflict.body.detail).toContain('no recording request');

      const other = await h.tenant();
      const foreign = await h.api('GET', `/calls/${started.body.callId}/recording?profileId=${ari.id}`, other.headers);
      expect(foreign.status).toBe(404);
      const call = await h.api('POST', '/calls', other.headers, { ramal: '1001', telefone: '41988445566', profileId: ari.id });
      expect(call.status).toBe(404);
      expect(h.pbx.requests.length).toBe(sent);
    });

    it('refuses call ids that could reach elsewhere on the PBX, sending nothing', async () => {
      const before = h.pbx.requests.length;
      for (const path of ['/calls/..%2f..%2fetc%2fpasswd/recording', '/calls/%2e%2e/recording', '/calls/../recording', '/calls/a%20b/recording', '/calls/.x/recording', `/calls/${'9'.repeat(200)}/recording`]) {
        const r = await rawGet(h.url, path, t.headers);
        expect([path, r.status]).toEqual([path, 400]);
      }
      expect(h.pbx.requests.length).toBe(before);
      const viewer = await h.tenant(['telephony:call']);
      expect((await h.api('GET', '/calls/1537276453.1/recording', viewer.headers)).status).toBe(403);
    });
  });
});
