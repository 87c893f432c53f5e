import { get, type ClientRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApiKeyGuard, Principal } from '@elo/auth';
import { expectEventually } from '@elo/testing';
import express from 'express';
import type { LiveFeed } from '../live/live-feed.service';
import type { LiveChange } from '../tracking/tracking.service';
import { StreamController } from './stream.controller';

describe('StreamController', () => {
  let server: Server;
  let url: string;
  /** What the stream was given to call: the feed's callbacks and the key watcher's. */
  let feed: { change: (c: LiveChange) => void; end?: () => void } | undefined;
  let revoked: (() => void) | undefined;
  let responseErrors: string[];
  const unsubscribed = jest.fn(() => (feed = undefined));
  const unwatched = jest.fn(() => (revoked = undefined));

  // As LiveFeed and ApiKeyGuard do: callbacks are called until the stream stops watching.
  const live = {
    connected: true,
    subscribe: (_tenant: string, on: { change: (c: LiveChange) => void; end?: () => void }) => ((feed = on), unsubscribed),
  } as unknown as LiveFeed;
  const keys = { watchKey: (_id: string, end: () => void) => ((revoked = end), unwatched) } as unknown as ApiKeyGuard;
  const principal: Principal = { tenantId: 't1', keyId: 'k1', permissions: ['dashboard:read'], isAdmin: false };
  const change: LiveChange = {
    kind: 'status', tenantId: 't1', messageId: 'm1', channelId: null, provider: 'whatsapp', conversationId: null,
    previousStatus: 'sent', status: 'delivered', at: '2026-01-05T12:00:00.000Z',
  };

  beforeEach(async () => {
    feed = undefined;
    revoked = undefined;
    responseErrors = [];
    unsubscribed.mockClear();
    unwatched.mockClear();
    const controller = new StreamController(live, keys, { STREAM_MAX_PER_KEY: 10, STREAM_MAX_BUFFERED_BYTES: 65_536 });
    const app = express().get('/stream', (req, res) => {
      // A write after the end is emitted as an error on the response; nobody listens in the app, so it was
      // an uncaught exception there: the whole process went down.
      res.on('error', (err: NodeJS.ErrnoException) => responseErrors.push(err.code ?? err.message));
      controller.stream(principal, req, res);
    });
    await new Promise<void>((r) => (server = app.listen(0, '127.0.0.1', () => r())));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  /** Opens a stream; its whole text once it has ended. */
  const open = async (): Promise<{ text: Promise<string> }> => {
    const res = await fetch(`${url}/stream`);
    await expectEventually(() => expect(feed).toBeDefined());
    return { text: res.text() };
  };

  it('a key revoked while changes keep coming: the stream says so, ends, and writes nothing after its end', async () => {
    const { text } = await open();
    revoked!();
    // A change of the tenant announced before the response has closed (the end is flushed asynchronously).
    feed?.change(change);
    const body = await text;
    expect(body).toContain('event: revoked');
    expect(body).not.toContain('"messageId":"m1"');
    expect(unsubscribed).toHaveBeenCalled();
    expect(responseErrors).toEqual([]);
  });

  it('the feed ending the stream (shutdown) stops its changes too', async () => {
    const { text } = await open();
    feed!.end!();
    feed?.change(change);
    expect(await text).not.toContain('"messageId":"m1"');
    expect(unwatched).toHaveBeenCalled();
    expect(responseErrors).toEqual([]);
  });

  it('a client that does not read is dropped once more than STREAM_MAX_BUFFERED_BYTES wait for it; one that reads is not', async () => {
    // About 16 kB a change: the socket's buffers fill first, then the response's, in this process's memory.
    const big: LiveChange = { ...change, errorTitle: 'x'.repeat(16_384) };
    const reading = await open();
    // Fed one change a turn, as the feed does: 4 MB, far past the limit, which a reading client keeps up with.
    for (let i = 0; i < 256; i++) {
      feed!.change(big);
      await new Promise((r) => setImmediate(r));
    }
    expect(unsubscribed).not.toHaveBeenCalled();
    feed!.end!();
    expect((await reading.text).length).toBeGreaterThan(4_000_000);

    unsubscribed.mockClear();
    const stalled = await new Promise<ClientRequest>((resolve) => {
      const req = get(`${url}/stream`, (res) => {
        res.pause();
        resolve(req);
      });
    });
    await expectEventually(() => expect(feed).toBeDefined());
    await expectEventually(() => {
      feed?.change(big);
      expect(unsubscribed).toHaveBeenCalled();
    }, { intervalMs: 1 });
    // Its connection is gone from the server (the client sees the end once it reads again).
    await expectEventually(async () => expect(await new Promise((r) => server.getConnections((_e, n) => r(n)))).toBe(0));
    stalled.destroy();
    expect(responseErrors).toEqual([]);
  });
});
