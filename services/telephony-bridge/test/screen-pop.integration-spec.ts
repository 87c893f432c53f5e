import { mkdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ApiKeyGuard } from '@elo/auth';
import type { CallAnswered } from '@elo/contracts';
import { expectEventually } from '@elo/testing';
import { PopHub } from '../src/screen-pop/pop-hub.service';
import { ADMIN_KEY, holdWrites, openSse, startHarness, waitingOnLock, type Harness, type SseClient, type Tenant } from './support/harness';

const ARTIFACTS = join(__dirname, '../../../test-artifacts');

describe('telephony-bridge: screen pop', () => {
  let h: Harness;
  let t: Tenant;
  let profile: { id: string; callbackBase: string };
  const open: SseClient[] = [];

  beforeAll(async () => {
    h = await startHarness('telephony_pop');
    t = await h.tenant();
    profile = await h.profile(t);
  });
  afterEach(() => open.splice(0).forEach((c) => c.close()));
  afterAll(async () => h?.close());

  const sse = async (url: string, headers: Record<string, string> = {}) => {
    const c = await openSse(url, headers);
    open.push(c);
    return c;
  };
  const ready = (c: SseClient) => expectEventually(() => expect(c.events.some((e) => e.event === 'ready')).toBe(true));
  const answered = (c: SseClient) => c.events.filter((e) => e.event === 'answered');

  it('an API-key stream gets the answered call for its tenant and extension only, once, then its end', async () => {
    const mine = await sse(`${h.url}/operators/1001/events`, t.headers);
    const otherRamal = await sse(`${h.url}/operators/1002/events`, t.headers);
    const other = await h.tenant();
    const otherTenant = await sse(`${h.url}/operators/1001/events`, other.headers);
    expect(mine.status).toBe(200);
    await Promise.all([ready(mine), ready(otherRamal), ready(otherTenant)]);

    const cid = h.pbx.nextCallId();
    const q = { pid: '4242', num: '41988445566', cid, ramal: '1001', empresaId: 'acme' };
    await h.pbx.pushAnswered(profile.callbackBase, q);
    await expectEventually(() => expect(answered(mine)).toHaveLength(1));
    expect(answered(mine)[0].data).toEqual({
      ramal: '1001', callId: cid, profileId: profile.id, telefone: '41988445566', contactId: '4242', empresaId: 'acme',
      answeredAt: expect.any(String),
    });
    await h.pbx.pushAnswered(profile.callbackBase, q); // duplicate: no second pop
    await h.pbx.pushAnswered(profile.callbackBase, { ...q, cid: h.pbx.nextCallId(), ramal: '1003' });
    const marker = h.pbx.nextCallId();
    await h.pbx.pushAnswered(profile.callbackBase, { ...q, cid: marker });
    await expectEventually(() => expect(answered(mine).map((e) => e.data.callId)).toEqual([cid, marker]));
    expect(answered(otherRamal)).toHaveLength(0);
    expect(answered(otherTenant)).toHaveLength(0);

    // The end of the call reaches the same screen (ramal from the answered call), once.
    await h.pbx.pushEnded(profile.callbackBase, { cid, duration: 125, disposition: 'ANSWERED' });
    await h.pbx.pushEnded(profile.callbackBase, { cid, duration: 125, disposition: 'ANSWERED' });
    await h.pbx.pushEnded(profile.callbackBase, { cid: marker, duration: 3 });
    const ended = () => mine.events.filter((e) => e.event === 'ended');
    await expectEventually(() => expect(ended().map((e) => e.data.callId)).toEqual([cid, marker]));
    expect(ended()[0].data).toEqual({
      ramal: '1001', callId: cid, profileId: profile.id, durationSeconds: 125, disposition: 'ANSWERED', endedAt: expect.any(String),
    });
    expect(otherRamal.events.filter((e) => e.event === 'ended')).toHaveLength(0);
  });

  it('an answered callback arriving after the call ended does not pop the call as in progress', async () => {
    const c = await sse(`${h.url}/operators/8001/events`, t.headers);
    await ready(c);
    const cid = h.pbx.nextCallId();
    // The PBX's callbacks crossed: the end reached Elo first.
    expect((await h.pbx.pushEnded(profile.callbackBase, { cid, ramal: '8001', duration: 4, disposition: 'ANSWERED' })).status).toBe(200);
    expect((await h.pbx.pushAnswered(profile.callbackBase, { cid, ramal: '8001', num: '41988445566' })).status).toBe(200);
    const marker = h.pbx.nextCallId();
    await h.pbx.pushAnswered(profile.callbackBase, { cid: marker, ramal: '8001', num: '41988445567' });
    // Pops go out in commit order: once the next call's pop is here, a pop of the late callback would be too.
    await expectEventually(() => expect(answered(c).map((e) => e.data.callId)).toContain(marker));
    expect(answered(c).map((e) => e.data.callId)).toEqual([marker]);
    // The call is still recorded as answered, and is over.
    const [row] = await h.ds.query('SELECT answered_at, ended_at FROM "telephony".calls WHERE call_id = $1', [cid]);
    expect(row.answered_at).not.toBeNull();
    expect(row.ended_at).not.toBeNull();
  });

  it('a late answered callback of a call that ended before the next call does not replace the call in progress for a screen that connects', async () => {
    const over = h.pbx.nextCallId();
    expect((await h.pbx.pushEnded(profile.callbackBase, { cid: over, ramal: '8201', duration: 4 })).status).toBe(200);
    const current = h.pbx.nextCallId();
    expect((await h.pbx.pushAnswered(profile.callbackBase, { cid: current, ramal: '8201', num: '41988445567' })).status).toBe(200);
    // The first call's answered callback, retried by the PBX, reaches Elo only now.
    expect((await h.pbx.pushAnswered(profile.callbackBase, { cid: over, ramal: '8201', num: '41988445566' })).status).toBe(200);
    const c = await sse(`${h.url}/operators/8201/events`, t.headers);
    await expectEventually(() => expect(c.events.map((e) => e.event)).toEqual(['ready', 'answered']));
    expect(answered(c)[0].data.callId).toBe(current);
  });

  it('an end pops only once its callback has committed: nothing while its write waits, nothing when it fails; the retry pops it', async () => {
    const c = await sse(`${h.url}/operators/8701/events`, t.headers);
    await ready(c);
    const cid = h.pbx.nextCallId();
    expect((await h.pbx.pushAnswered(profile.callbackBase, { cid, ramal: '8701', num: '41988445566' })).status).toBe(200);
    await expectEventually(() => expect(answered(c).map((e) => e.data.callId)).toEqual([cid]));
    const shown = () => c.events.map((e) => [e.event, e.data.callId]);
    const hold = await holdWrites(h.ds, '"telephony".outbox');
    try {
      // The end's transaction has stored the end and waits to write its event; then it fails (its statement cancelled).
      const failing = h.pbx.pushEnded(profile.callbackBase, { cid, duration: 12 });
      const pid = await waitingOnLock(h.ds, 'INSERT INTO "telephony".outbox (event_id,%');
      expect(shown()).toEqual([['ready', undefined], ['answered', cid]]);
      await h.ds.query('SELECT pg_cancel_backend($1)', [pid]);
      expect(Math.floor((await failing).status / 100)).toBe(5); // an outage, not the PBX's fault: it retries
      // The PBX retries while the outbox is still held: it waits too, and pops nothing meanwhile.
      const retry = h.pbx.pushEnded(profile.callbackBase, { cid, duration: 12 });
      await waitingOnLock(h.ds, 'INSERT INTO "telephony".outbox (event_id,%');
      expect(shown()).toEqual([['ready', undefined], ['answered', cid]]);
      expect(await h.ds.query('SELECT ended_at FROM "telephony".calls WHERE call_id = $1', [cid])).toEqual([{ ended_at: null }]);
      await hold.release();
      expect((await retry).status).toBe(200);
    } finally {
      await hold.release();
    }
    await expectEventually(() => expect(shown()).toEqual([['ready', undefined], ['answered', cid], ['ended', cid]]));
  });

  it('a call transferred before it ended: its end reaches the extension that answered it and the one that had it last', async () => {
    const [first, second] = [await sse(`${h.url}/operators/8101/events`, t.headers), await sse(`${h.url}/operators/8102/events`, t.headers)];
    await Promise.all([ready(first), ready(second)]);
    const cid = h.pbx.nextCallId();
    await h.pbx.pushAnswered(profile.callbackBase, { cid, ramal: '8101', num: '41988445566' });
    await expectEventually(() => expect(answered(first).map((e) => e.data.callId)).toEqual([cid]));
    await h.pbx.pushEnded(profile.callbackBase, { cid, ramal: '8102', duration: 40 });
    const endedOn = (c: SseClient) => c.events.filter((e) => e.event === 'ended').map((e) => e.data.callId);
    await expectEventually(() => {
      expect(endedOn(first)).toEqual([cid]);
      expect(endedOn(second)).toEqual([cid]);
    });
  });

  it('a call answered by a second extension (transfer): pops that screen and publishes its answer; the first screen is told the call moved, also when it reconnects', async () => {
    const [first, second] = [await sse(`${h.url}/operators/8601/events`, t.headers), await sse(`${h.url}/operators/8602/events`, t.headers)];
    await Promise.all([ready(first), ready(second)]);
    const cid = h.pbx.nextCallId();
    const q = { cid, num: '41988445566', pid: 'CRM-5', empresaId: 'acme' };
    expect((await h.pbx.pushAnswered(profile.callbackBase, { ...q, ramal: '8601' })).status).toBe(200);
    await expectEventually(() => expect(answered(first).map((e) => e.data.callId)).toEqual([cid]));
    const transfer = await h.api('GET', `/telephony/${profile.id}/answered?${new URLSearchParams({ ...q, ramal: '8602' }).toString()}`);
    expect(transfer.body).toEqual({ callId: cid, duplicate: false });
    await expectEventually(() => expect(answered(second).map((e) => e.data)).toEqual([{
      ramal: '8602', callId: cid, profileId: profile.id, telefone: '41988445566', contactId: 'CRM-5', empresaId: 'acme', answeredAt: expect.any(String),
    }]));
    const endedOn = (c: SseClient) => c.events.filter((e) => e.event === 'ended').map((e) => e.data);
    await expectEventually(() => expect(endedOn(first)).toEqual([
      { ramal: '8601', callId: cid, profileId: profile.id, transferredTo: '8602', endedAt: expect.any(String) },
    ]));
    // Each extension's callback replayed: nothing more is published or popped.
    for (const ramal of ['8602', '8601']) {
      expect((await h.api('GET', `/telephony/${profile.id}/answered?${new URLSearchParams({ ...q, ramal }).toString()}`)).body).toEqual({ callId: cid, duplicate: true });
    }
    await h.settled();
    expect(h.probe.ofType<CallAnswered>('telephony.call.answered').filter((e) => e.data.callId === cid).map((e) => e.data.ramal)).toEqual(['8601', '8602']);
    // Screens that (re)connect: the second shows the call in progress, the first that it moved.
    const [again1, again2] = [await sse(`${h.url}/operators/8601/events`, t.headers), await sse(`${h.url}/operators/8602/events`, t.headers)];
    await expectEventually(() => {
      expect(again1.events.map((e) => [e.event, e.data.callId, e.data.transferredTo])).toEqual([['ready', undefined, undefined], ['ended', cid, '8602']]);
      expect(again2.events.map((e) => [e.event, e.data.callId])).toEqual([['ready', undefined], ['answered', cid]]);
    });
    // Its end reaches the screen that has it, once.
    expect((await h.pbx.pushEnded(profile.callbackBase, { cid, duration: 30 })).status).toBe(200);
    await expectEventually(() => expect(endedOn(second).map((e) => e.callId)).toEqual([cid]));
    expect(answered(second)).toHaveLength(1);
    expect(endedOn(first)).toHaveLength(1);
  });

  it('a call from a withheld number (num empty, "anonymous" or "private") pops without a phone, and its end reaches the screen', async () => {
    const c = await sse(`${h.url}/operators/8401/events`, t.headers);
    await ready(c);
    const cids = [h.pbx.nextCallId(), h.pbx.nextCallId(), h.pbx.nextCallId()];
    for (const [i, num] of ['', 'anonymous', 'Private'].entries()) {
      const r = await h.pbx.pushAnswered(profile.callbackBase, { cid: cids[i], ramal: '8401', num });
      expect([num, r.status]).toEqual([num, 200]);
    }
    await expectEventually(() => expect(answered(c).map((e) => e.data.callId)).toEqual(cids));
    expect(answered(c)[1].data).toEqual({ ramal: '8401', callId: cids[1], profileId: profile.id, answeredAt: expect.any(String) });
    expect((await h.pbx.pushEnded(profile.callbackBase, { cid: cids[1], num: 'anonymous', duration: 5 })).status).toBe(200);
    await expectEventually(() => expect(c.events.filter((e) => e.event === 'ended').map((e) => e.data.callId)).toEqual([cids[1]]));
    const rows = await h.ds.query('SELECT telefone FROM "telephony".calls WHERE call_id = ANY($1)', [cids]);
    expect(rows).toEqual([{ telefone: null }, { telefone: null }, { telefone: null }]);
  });

  it('an answered and an ended callback of a transferred call that cross: the end still reaches the extension that answered', async () => {
    const [first, second] = [await sse(`${h.url}/operators/8501/events`, t.headers), await sse(`${h.url}/operators/8502/events`, t.headers)];
    await Promise.all([ready(first), ready(second)]);
    const cid = h.pbx.nextCallId();
    // Hold the ended callback between its look-up of the call and its write: an uncommitted row on the callbacks'
    // unique key makes its insert wait, after it has read the call (not there yet).
    const holder = h.ds.createQueryRunner();
    await holder.connect();
    await holder.startTransaction();
    try {
      await holder.query(`INSERT INTO "telephony".callbacks (tenant_id, profile_id, kind, call_id, params, source_address) VALUES ($1, $2, 'ended', $3, '{}', 'test')`,
        [t.tenantId, profile.id, cid]);
      const ended = h.pbx.pushEnded(profile.callbackBase, { cid, ramal: '8502', duration: 40 });
      await expectEventually(async () => {
        const waiting = await h.ds.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO "telephony".callbacks%''ended''%'`);
        expect(waiting).toHaveLength(1);
      });
      // Meanwhile the answered callback commits and pops on the extension that answered.
      expect((await h.pbx.pushAnswered(profile.callbackBase, { cid, ramal: '8501', num: '41988445566' })).status).toBe(200);
      await expectEventually(() => expect(answered(first).map((e) => e.data.callId)).toEqual([cid]));
      await holder.rollbackTransaction();
      expect((await ended).status).toBe(200);
    } finally {
      if (holder.isTransactionActive) await holder.rollbackTransaction();
      await holder.release();
    }
    const endedOn = (c: SseClient) => c.events.filter((e) => e.event === 'ended').map((e) => e.data.callId);
    await expectEventually(() => {
      expect(endedOn(second)).toEqual([cid]);
      expect(endedOn(first)).toEqual([cid]);
    });
  });

  it('a key revoked while its screens are open ends them, by key and by stream token; the next call pops on neither', async () => {
    const staff = await h.tenant();
    const own = await h.profile(staff);
    const byKey = await sse(`${h.url}/operators/8301/events`, staff.headers);
    const issued = await h.api<{ url: string }>('POST', '/operators/8301/stream-tokens', staff.headers);
    const byToken = await sse(`${h.url}${issued.body.url}`);
    await Promise.all([ready(byKey), ready(byToken)]);
    const me = await h.api<{ keyId: string }>('GET', '/auth/me', staff.headers);
    expect((await h.api('DELETE', `/tenants/${staff.tenantId}/keys/${me.body.keyId}`, { authorization: `Bearer ${ADMIN_KEY}` })).status).toBe(204);
    const revoked = (c: SseClient) => c.events.some((e) => e.event === 'revoked');
    await expectEventually(() => {
      expect(revoked(byKey)).toBe(true);
      expect(revoked(byToken)).toBe(true);
    });
    // A colleague's screen on the same extension, with a key of their own, still gets the next call; the ended ones do not.
    const colleague = await h.api<{ key: string }>('POST', `/tenants/${staff.tenantId}/keys`, { authorization: `Bearer ${ADMIN_KEY}` }, { name: 'colleague', permissions: ['telephony:call'] });
    const stays = await sse(`${h.url}/operators/8301/events`, { authorization: `Bearer ${colleague.body.key}` });
    await ready(stays);
    const cid = h.pbx.nextCallId();
    await h.pbx.pushAnswered(own.callbackBase, { cid, ramal: '8301', num: '41988445566' });
    await expectEventually(() => expect(answered(stays).map((e) => e.data.callId)).toContain(cid));
    expect(answered(byKey)).toEqual([]);
    expect(answered(byToken)).toEqual([]);
  });

  it("a stream token whose key was revoked before the stream opened is refused (401), not sent the extension's latest call", async () => {
    const staff = await h.tenant();
    const own = await h.profile(staff);
    const cid = h.pbx.nextCallId();
    expect((await h.pbx.pushAnswered(own.callbackBase, { cid, ramal: '8302', num: '41988445566', pid: 'CRM-1' })).status).toBe(200);
    const issued = await h.api<{ url: string }>('POST', '/operators/8302/stream-tokens', staff.headers);
    const me = await h.api<{ keyId: string }>('GET', '/auth/me', staff.headers);
    expect((await h.api('DELETE', `/tenants/${staff.tenantId}/keys/${me.body.keyId}`, { authorization: `Bearer ${ADMIN_KEY}` })).status).toBe(204);
    const c = await sse(`${h.url}${issued.body.url}`);
    expect(c.status).toBe(401);
    expect(c.events).toEqual([]);
  });

  it('a callback refused by the allow-list pops nothing', async () => {
    const remote = await h.profile(t, { allowedCidrs: ['203.0.113.0/24'] });
    const c = await sse(`${h.url}/operators/2001/events`, t.headers);
    await ready(c);
    expect((await h.pbx.pushAnswered(remote.callbackBase, { cid: h.pbx.nextCallId(), ramal: '2001', num: '41988445566' })).status).toBe(403);
    const marker = h.pbx.nextCallId();
    await h.pbx.pushAnswered(profile.callbackBase, { cid: marker, ramal: '2001', num: '41988445566' });
    await expectEventually(() => expect(answered(c).map((e) => e.data.callId)).toEqual([marker]));
  });

  it('stream tokens: issued to a key, bound to the extension, forged or foreign ones refused; no auth → 401', async () => {
    const issued = await h.api<{ token: string; url: string }>('POST', '/operators/3001/stream-tokens', t.headers);
    expect(issued.status).toBe(201);
    expect(issued.body.url).toBe(`/operators/3001/events?token=${encodeURIComponent(issued.body.token)}`);
    const c = await sse(`${h.url}${issued.body.url}`);
    expect(c.status).toBe(200);
    await ready(c);
    const cid = h.pbx.nextCallId();
    await h.pbx.pushAnswered(profile.callbackBase, { cid, ramal: '3001', num: '41988445566' });
    await expectEventually(() => expect(answered(c).map((e) => e.data.callId)).toEqual([cid]));

    expect((await sse(`${h.url}/operators/3002/events?token=${encodeURIComponent(issued.body.token)}`)).status).toBe(401);
    expect((await sse(`${h.url}/operators/3001/events?token=${encodeURIComponent(issued.body.token.slice(0, -2) + 'xx')}`)).status).toBe(401);
    expect((await sse(`${h.url}/operators/3001/events`)).status).toBe(401);
    expect((await sse(`${h.url}/operators/3001/events`, { authorization: 'Bearer elo_nope' })).status).toBe(401);
    const manager = await h.tenant(['telephony:manage']);
    expect((await sse(`${h.url}/operators/3001/events`, manager.headers)).status).toBe(403);
    expect((await h.api('POST', '/operators/3001/stream-tokens', manager.headers)).status).toBe(403);
    expect((await h.api('POST', '/operators/bad%20ramal/stream-tokens', t.headers)).status).toBe(400);
  });

  it('a stream whose client went away while its key was looked up leaves no subscription behind', async () => {
    const hub = h.app.get(PopHub);
    const guard = h.app.get(ApiKeyGuard);
    // Streams of earlier tests are closed by now: every subscription left is a leak.
    await expectEventually(() => expect(hub.subscriberCount()).toBe(0));
    const server = h.app.getHttpServer() as { once(event: 'connection', fn: (s: Socket) => void): void };
    const socketClosed = new Promise<void>((resolve) => server.once('connection', (s) => s.once('close', () => resolve())));
    let looking!: () => void;
    const lookingUp = new Promise<void>((resolve) => (looking = resolve));
    const authenticate = guard.authenticate.bind(guard);
    // The key lookup (a PostgreSQL round trip when the key is not cached) answers only once the client is gone.
    const lookup = jest.spyOn(guard, 'authenticate').mockImplementationOnce(async (key) => {
      looking();
      await socketClosed;
      return authenticate(key);
    });
    const subscribe = jest.spyOn(hub, 'subscribe');
    try {
      const u = new URL(h.url);
      const req = httpRequest({ host: u.hostname, port: u.port, path: '/operators/7001/events', headers: t.headers, agent: false });
      req.on('error', () => undefined);
      req.end();
      await lookingUp;
      req.destroy();
      await socketClosed;
      await expectEventually(() => expect(subscribe).toHaveBeenCalledWith(t.tenantId, '7001', expect.any(Function)));
      await expectEventually(() => expect(hub.subscriberCount()).toBe(0), { timeoutMs: 3_000 });
    } finally {
      lookup.mockRestore();
      subscribe.mockRestore();
    }
  });

  it("a screen that connects is sent its extension's latest call first: in progress, or its end; another extension's, nothing", async () => {
    const ended = (c: SseClient) => c.events.filter((e) => e.event === 'ended');
    const cid = h.pbx.nextCallId();
    await h.pbx.pushAnswered(profile.callbackBase, { cid, ramal: '6001', num: '41988445566', pid: 'CRM-9', empresaId: 'acme' });
    const late = await sse(`${h.url}/operators/6001/events`, t.headers);
    await expectEventually(() => expect(answered(late)).toHaveLength(1));
    expect(late.events.map((e) => e.event)).toEqual(['ready', 'answered']);
    expect(answered(late)[0].data).toEqual({
      ramal: '6001', callId: cid, profileId: profile.id, telefone: '41988445566', contactId: 'CRM-9', empresaId: 'acme',
      answeredAt: expect.any(String),
    });
    // Another replica's screen (the one a reconnect may land on) is sent it too; another extension's is not.
    const other = await h.replica();
    const elsewhere = await sse(`${other.url}/operators/6001/events`, t.headers);
    const otherRamal = await sse(`${h.url}/operators/6002/events`, t.headers);
    await expectEventually(() => expect(answered(elsewhere).map((e) => e.data.callId)).toEqual([cid]));
    await ready(otherRamal);

    // The next call replaces it; once that one has ended, a screen that connects is sent its end.
    const next = h.pbx.nextCallId();
    await h.pbx.pushAnswered(profile.callbackBase, { cid: next, ramal: '6001', num: '41988445567' });
    const again = await sse(`${h.url}/operators/6001/events`, t.headers);
    await expectEventually(() => expect(answered(again).map((e) => e.data.callId)).toEqual([next]));
    await h.pbx.pushEnded(profile.callbackBase, { cid: next, duration: 9, disposition: 'ANSWERED' });
    await expectEventually(() => expect(ended(again).map((e) => e.data.callId)).toEqual([next]));
    const after = await sse(`${h.url}/operators/6001/events`, t.headers);
    await expectEventually(() => expect(after.events.map((e) => e.event)).toEqual(['ready', 'ended']));
    expect(ended(after)[0].data).toEqual({
      ramal: '6001', callId: next, profileId: profile.id, durationSeconds: 9, disposition: 'ANSWERED', endedAt: expect.any(String),
    });
    expect(answered(otherRamal)).toHaveLength(0);
    expect(ended(otherRamal)).toHaveLength(0);
  });

  it('a subscriber on another replica gets the pop (LISTEN/NOTIFY through PostgreSQL)', async () => {
    const other = await h.replica();
    const c = await sse(`${other.url}/operators/4001/events`, t.headers);
    await ready(c);
    const cid = h.pbx.nextCallId();
    const sent = performance.now();
    await h.pbx.pushAnswered(profile.callbackBase, { cid, ramal: '4001', num: '41988445566' }); // to the first replica
    await expectEventually(() => expect(answered(c).map((e) => e.data.callId)).toEqual([cid]), { intervalMs: 5 });
    process.stdout.write(`cross-replica pop: ${(answered(c)[0].at - sent).toFixed(1)} ms after the callback was sent\n`);
  });

  it("another replica's NOTIFY of an older call, arriving after a screen that connects was sent the newer one, does not replace it", async () => {
    const other = await h.replica();
    // The other replica's LISTEN handler, wrapped: the older call's NOTIFY waits until the test lets it through.
    const hub = other.app.get(PopHub) as unknown as { received(payload: string): void };
    const received = hub.received.bind(hub);
    const older = h.pbx.nextCallId();
    const held: string[] = [];
    const hold = jest.spyOn(hub, 'received').mockImplementation((payload) => {
      if ((JSON.parse(payload) as { pop: { callId: string } }).pop.callId === older) held.push(payload);
      else received(payload);
    });
    try {
      expect((await h.pbx.pushAnswered(profile.callbackBase, { cid: older, ramal: '4201', num: '41988445566' })).status).toBe(200);
      await expectEventually(() => expect(held).toHaveLength(1));
      const newer = h.pbx.nextCallId();
      expect((await h.pbx.pushAnswered(profile.callbackBase, { cid: newer, ramal: '4201', num: '41988445567' })).status).toBe(200);
      const c = await sse(`${other.url}/operators/4201/events`, t.headers);
      await expectEventually(() => expect(c.events.map((e) => [e.event, e.data.callId])).toEqual([['ready', undefined], ['answered', newer]]));
      held.splice(0).forEach(received);
      // The newer call's end comes the same way after the older call's NOTIFY was handled: a pop of that one would be before it.
      expect((await h.pbx.pushEnded(profile.callbackBase, { cid: newer, duration: 7 })).status).toBe(200);
      await expectEventually(() => expect(c.events.map((e) => e.event)).toContain('ended'));
      expect(c.events.map((e) => [e.event, e.data.callId])).toEqual([['ready', undefined], ['answered', newer], ['ended', newer]]);
    } finally {
      hold.mockRestore();
    }
  });

  it("a replica whose LISTEN connection dropped sends its open screens their extension's latest call once it is back", async () => {
    const other = await h.replica();
    const hub = other.app.get(PopHub);
    const c = await sse(`${other.url}/operators/4101/events`, t.headers);
    await ready(c);
    await h.ds.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'telephony-pop' AND datname = current_database()`);
    await expectEventually(() => expect(hub.connected).toBe(false));
    // Answered through the first replica while the other one hears no NOTIFY: its pop never reaches the other.
    const cid = h.pbx.nextCallId();
    expect((await h.pbx.pushAnswered(profile.callbackBase, { cid, ramal: '4101', num: '41988445566' })).status).toBe(200);
    await expectEventually(() => expect(hub.connected).toBe(true));
    await expectEventually(() => expect(answered(c).map((e) => e.data.callId)).toEqual([cid]));
  });

  describe('operator page in a real browser', () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
          '--disable-component-update', '--disable-sync'],
      });
    });
    afterAll(async () => browser?.close());

    it('signs in, pops the answered customer without a reload, shows the call again after a reload, shows it ended, and starts a Click2Call', async () => {
      const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
      const requested: Array<{ url: string; authorization?: string }> = [];
      page.on('request', (r) => requested.push({ url: r.url(), authorization: r.headers().authorization }));
      const text = (sel: string) => page.locator(sel).first().textContent({ timeout: 1_000 }).catch(() => null);
      await page.goto(`${h.url}/operator`);
      await page.fill('#api-key', t.key);
      await page.fill('#ramal', '5001');
      await page.click('#login-form button[type=submit]');
      await expectEventually(async () => expect(await text('#stream-state')).toBe('live'));
      expect(page.url()).not.toContain(t.key);
      // The stream is read with fetch: the key in a header, no key or token in any URL.
      const events = requested.filter((r) => r.url.includes('/operators/5001/events'));
      expect(events.length).toBeGreaterThan(0);
      expect(events[0]).toEqual({ url: `${h.url}/operators/5001/events`, authorization: `Bearer ${t.key}` });
      expect(requested.filter((r) => r.url.includes(t.key) || r.url.includes('token='))).toEqual([]);
      expect(await page.evaluate('sessionStorage.getItem("elo.operator.key")')).toBe(t.key);

      let navigations = 0;
      page.on('framenavigated', () => navigations++);
      const cid = h.pbx.nextCallId();
      await h.pbx.pushAnswered(profile.callbackBase, { cid, ramal: '5001', num: '41988445566', pid: 'CRM-778', empresaId: 'acme' });
      await expectEventually(async () => expect(await text('#pop-callid')).toBe(cid));
      expect(await text('#pop-phone')).toBe('(41) 98844-5566');
      expect(await text('#pop-contact')).toBe('CRM-778');
      expect(navigations).toBe(0);
      // A screen reloaded during the call (or a stream that dropped) is shown the call again by the service.
      await page.reload();
      await expectEventually(async () => expect(await text('#stream-state')).toBe('live'));
      await expectEventually(async () => expect(await text('#pop-callid')).toBe(cid));
      expect(await text('#pop-status')).toBe('in progress');
      await h.pbx.pushEnded(profile.callbackBase, { cid, duration: 125, disposition: 'ANSWERED' });
      await expectEventually(async () => expect(await text('#pop-status')).toBe('ended after 2:05 (ANSWERED)'));
      expect(await page.getAttribute('#pop', 'data-state')).toBe('ended');

      await page.click('#c2c-submit'); // phone prefilled from the pop
      await expectEventually(async () => expect(await text('#c2c-result')).toMatch(/^Calling \(41\) 98844-5566 — call id \d+\.\d+$/));
      expect(h.pbx.requests.at(-1)!.query).toMatchObject({ ramal: '5001', telefone: '41988445566' });

      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'telephony-operator-pop.png'), fullPage: true });
      await page.close();
    });
  });
});

describe('telephony-bridge: a screen-pop stream opened with a stream token', () => {
  let h: Harness;
  let t: Tenant;
  let profile: { id: string; callbackBase: string };

  beforeAll(async () => {
    h = await startHarness('telephony_pop_resume', { TELEPHONY_STREAM_TOKEN_TTL_SECONDS: '5' });
    t = await h.tenant();
    profile = await h.profile(t);
  });
  afterAll(async () => h?.close());

  it('reconnects as an EventSource does (same URL, Last-Event-ID) after a drop that outlasted its token, and is sent the call it missed', async () => {
    const issued = await h.api<{ url: string }>('POST', '/operators/9001/stream-tokens', t.headers);
    const first = await openSse(`${h.url}${issued.body.url}`);
    await expectEventually(() => expect(first.events.map((e) => e.event)).toEqual(['ready']));
    const lastEventId = first.lastEventId;
    first.close(); // the network drops
    // The drop outlasts the token: the URL alone is refused by now.
    await expectEventually(async () => {
      const c = await openSse(`${h.url}${issued.body.url}`);
      c.close();
      expect(c.status).toBe(401);
    }, { timeoutMs: 15_000, intervalMs: 500 });
    const cid = h.pbx.nextCallId();
    expect((await h.pbx.pushAnswered(profile.callbackBase, { cid, ramal: '9001', num: '41988445566' })).status).toBe(200);
    const back = await openSse(`${h.url}${issued.body.url}`, lastEventId ? { 'last-event-id': lastEventId } : {});
    try {
      expect(back.status).toBe(200);
      await expectEventually(() => expect(back.events.filter((e) => e.event === 'answered').map((e) => e.data.callId)).toEqual([cid]));
      expect(back.lastEventId).toEqual(expect.any(String));
    } finally {
      back.close();
    }
    // What it sends back opens only its own extension's stream, and is no stream token.
    expect((await openSse(`${h.url}/operators/9002/events`, { 'last-event-id': lastEventId! })).status).toBe(401);
    expect((await openSse(`${h.url}/operators/9001/events?token=${encodeURIComponent(lastEventId!)}`)).status).toBe(401);
    expect((await openSse(`${h.url}${issued.body.url}`, { 'last-event-id': `${lastEventId!.slice(0, -2)}xx` })).status).toBe(401);
  });
});
