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
    latest: async () => undefined,
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
});
