import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApiKeyGuard, Principal } from '@elo/auth';
import { expectEventually } from '@elo/testing';
import express from 'express';
import { OperatorEventsController } from './operator-events.controller';
import type { OperatorEvent, PopHub } from './pop-hub.service';
import type { StreamTokens } from './stream-tokens.service';

describe('OperatorEventsController: the stream', () => {
  let server: Server;
  let url: string;
  /** What the stream was given to call: the hub's listener and the key watcher's end. */
  let pop: ((e: OperatorEvent) => void) | undefined;
  let revoked: (() => void) | undefined;
  let responseErrors: string[];
  const unsubscribed = jest.fn(() => (pop = undefined));

  // As PopHub and ApiKeyGuard do: callbacks are called until the stream stops listening.
  const hub = {
    connected: true,
    subscribe: (_tenant: string, _ramal: string, fn: (e: OperatorEvent) => void) => ((pop = fn), unsubscribed),
    latest: jest.fn(async (): Promise<OperatorEvent | undefined> => undefined),
  } as unknown as PopHub;
  const principal: Principal = { tenantId: 't1', keyId: 'k1', permissions: ['telephony:call'], isAdmin: false };
  const guard = {
    authenticate: async () => principal,
    watchKey: (_id: string, end: () => void) => ((revoked = end), () => (revoked = undefined)),
  } as unknown as ApiKeyGuard;
  const call: OperatorEvent = { tenantId: 't1', callId: '1537276453.10', ramal: '2004', telefone: '+5541988445566', answeredAt: '2026-01-05T12:00:00.000Z' } as OperatorEvent;

  beforeEach(async () => {
    pop = undefined;
    revoked = undefined;
    responseErrors = [];
    unsubscribed.mockClear();
    (hub.latest as jest.Mock).mockReset().mockResolvedValue(undefined);
    const controller = new OperatorEventsController(hub, {} as StreamTokens, guard);
    const app = express().get('/operators/:ramal/events', (req, res, next) => {
      // A write after the end is emitted as an error on the response; nobody listens in the app, so it was an
      // uncaught exception there: the whole process went down.
      res.on('error', (err: NodeJS.ErrnoException) => responseErrors.push(err.code ?? err.message));
      controller.events(req.params.ramal, undefined, req, res).catch(next);
    });
    await new Promise<void>((r) => (server = app.listen(0, '127.0.0.1', () => r())));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('a key revoked while calls keep coming: the stream says so, ends, and writes nothing after its end', async () => {
    const res = await fetch(`${url}/operators/2004/events`, { headers: { authorization: 'Bearer k' } });
    const text = res.text();
    await expectEventually(() => expect(revoked).toBeDefined());
    revoked!();
    // A call answered on the extension before the response has closed (the end is flushed asynchronously).
    pop?.(call);
    const body = await text;
    expect(body).toContain('event: revoked');
    expect(body).not.toContain('1537276453.10');
    expect(unsubscribed).toHaveBeenCalled();
    expect(responseErrors).toEqual([]);
  });

  /** Opens a stream and reads it as it comes: `text()` is what came so far; `end()` ends it (a revoked key) and answers all of it. */
  const reading = async () => {
    const res = await fetch(`${url}/operators/2004/events`, { headers: { authorization: 'Bearer k' } });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const done = (async () => {
      for (;;) {
        const { value, done: over } = await reader.read();
        if (over) return text;
        text += value;
      }
    })();
    return { text: () => text, end: async () => (revoked!(), done) };
  };
  const events = (text: string) => [...text.matchAll(/event: (\w+)\ndata: (.*)\n/g)].map(([, event, data]) => `${event} ${(JSON.parse(data) as { callId?: string }).callId ?? ''}`.trim());
  const next: OperatorEvent = { ...call, callId: '1537276460.11' } as OperatorEvent;
  const over: OperatorEvent = { event: 'ended', tenantId: 't1', callId: call.callId, ramal: '2004', profileId: 'p1', endedAt: '2026-01-05T12:05:00.000Z' };

  it('a pop the look-up already sent, arriving after it (another replica\'s NOTIFY, later than its commit), is not sent again', async () => {
    (hub.latest as jest.Mock).mockResolvedValue(call);
    const s = await reading();
    await expectEventually(() => expect(events(s.text())).toEqual(['ready', `answered ${call.callId}`]));
    pop!(call);
    pop!(next);
    await expectEventually(() => expect(s.text()).toContain(next.callId));
    expect(events(await s.end())).toEqual(['ready', `answered ${call.callId}`, `answered ${next.callId}`, 'revoked']);
  });

  it('the answer of a call whose end the look-up sent, arriving after it, does not show the call in progress again', async () => {
    (hub.latest as jest.Mock).mockResolvedValue(over);
    const s = await reading();
    await expectEventually(() => expect(events(s.text())).toEqual(['ready', `ended ${call.callId}`]));
    pop!(call);
    pop!(over);
    pop!(next);
    await expectEventually(() => expect(s.text()).toContain(next.callId));
    expect(events(await s.end())).toEqual(['ready', `ended ${call.callId}`, `answered ${next.callId}`, 'revoked']);
  });

  it('a call handed back after a transfer pops again; its answer from before the transfer, arriving late, does not', async () => {
    const away: OperatorEvent = { ...over, transferredTo: '2005', endedAt: '2026-01-05T12:02:00.000Z' };
    (hub.latest as jest.Mock).mockResolvedValue(away);
    const s = await reading();
    await expectEventually(() => expect(events(s.text())).toEqual(['ready', `ended ${call.callId}`]));
    pop!(call);
    pop!({ ...call, answeredAt: '2026-01-05T12:04:00.000Z' } as OperatorEvent);
    await expectEventually(() => expect(events(s.text())).toHaveLength(3));
    expect(events(await s.end())).toEqual(['ready', `ended ${call.callId}`, `answered ${call.callId}`, 'revoked']);
    expect(s.text()).toContain('12:04:00');
  });

  /** A call the extension answered before `call` (another replica's NOTIFY of it can come after `call`'s pop). */
  const earlier: OperatorEvent = { ...call, callId: '1537276440.09', answeredAt: '2026-01-05T11:58:00.000Z' } as OperatorEvent;

  it('an older call\'s answer arriving after the look-up sent a newer call, in progress or over, is not sent; the next call is', async () => {
    for (const found of [call, { ...over, answeredAt: call.answeredAt } as OperatorEvent]) {
      const first = `${found.event ?? 'answered'} ${call.callId}`;
      (hub.latest as jest.Mock).mockResolvedValue(found);
      const s = await reading();
      await expectEventually(() => expect(events(s.text())).toEqual(['ready', first]));
      pop!(earlier);
      pop!({ ...earlier, event: 'ended', profileId: 'p1', endedAt: '2026-01-05T11:59:00.000Z' } as OperatorEvent);
      pop!({ ...next, answeredAt: '2026-01-05T12:06:00.000Z' } as OperatorEvent);
      await expectEventually(() => expect(s.text()).toContain(next.callId));
      const body = await s.end();
      expect(events(body)).toEqual(['ready', first, `ended ${earlier.callId}`, `answered ${next.callId}`, 'revoked']);
      // An end's answer time only orders calls here: the screen is not sent it.
      for (const [, data] of body.matchAll(/event: ended\ndata: (.*)\n/g)) expect(JSON.parse(data)).not.toHaveProperty('answeredAt');
    }
  });

  /** A stream whose look-up answers only when `found` is called. */
  const lookingUp = async () => {
    let found!: (e: OperatorEvent) => void;
    (hub.latest as jest.Mock).mockImplementation(() => new Promise((r) => (found = r)));
    const s = await reading();
    await expectEventually(() => expect(hub.latest).toHaveBeenCalled());
    return { ...s, found: (e: OperatorEvent) => found(e) };
  };

  it('an older call\'s answer arriving while the look-up runs does not replace the newer call it finds', async () => {
    const s = await lookingUp();
    pop!(earlier);
    s.found(call);
    await expectEventually(() => expect(events(s.text())).toHaveLength(2));
    expect(events(await s.end())).toEqual(['ready', `answered ${call.callId}`, 'revoked']);
  });

  it('a call answered while the look-up runs goes out after the call it finds: the screen ends on the newer one', async () => {
    const s = await lookingUp();
    pop!({ ...next, answeredAt: '2026-01-05T12:06:00.000Z' } as OperatorEvent);
    s.found(call);
    await expectEventually(() => expect(s.text()).toContain(next.callId));
    expect(events(await s.end())).toEqual(['ready', `answered ${call.callId}`, `answered ${next.callId}`, 'revoked']);
  });

  it('sends every pop that shows something new: a call, the next one, the end of the first, its own end', async () => {
    const s = await reading();
    await expectEventually(() => expect(pop).toBeDefined());
    await expectEventually(() => expect(events(s.text())).toEqual(['ready']));
    for (const p of [call, next, over, { ...over, callId: next.callId }] as OperatorEvent[]) pop!(p);
    await expectEventually(() => expect(events(s.text())).toHaveLength(5));
    expect(events(await s.end())).toEqual(['ready', `answered ${call.callId}`, `answered ${next.callId}`, `ended ${call.callId}`, `ended ${next.callId}`, 'revoked']);
  });
});
