import { createTestInfra, type TestInfra } from '@elo/testing';
import { startApp, tenantWithKey, type RunningApp } from './app.fixture';

/**
 * Every query a client sends, with U+0000 (%00; a URL cannot carry a lone surrogate, and one sent as its UTF-8
 * bytes is no valid UTF-8: the query parser keeps it percent-encoded) in each text parameter: never a 500.
 */
describe('message-status: U+0000 in what clients ask', () => {
  let infra: TestInfra;
  let svc: RunningApp;
  let key: string;

  beforeAll(async () => {
    infra = await createTestInfra('message_status_unstorable');
    svc = await startApp(infra);
    ({ key } = await tenantWithKey(svc.url));
  });

  afterAll(async () => {
    await svc?.close();
    await infra?.cleanup();
  });

  const get = async (path: string) => {
    const res = await fetch(`${svc.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it.each([
    ['/messages?reason=a%00b', 400],
    ['/messages?cursor=a%00b', 400],
    // A cursor edited to carry it in its filter is not one this API handed out.
    [`/messages?cursor=${Buffer.from(JSON.stringify({ k: '1', id: '00000000-0000-4000-8000-000000000000', f: { reason: 'a\u0000b' } })).toString('base64url')}`, 400],
    ['/messages?provider=a%00b', 400],
    ['/messages?status=a%00b', 400],
    ['/messages?from=a%00b', 400],
    ['/messages?channelId=a%00b', 400],
    ['/messages/a%00b', 400],
    ['/stats?bucket=a%00b', 400],
    ['/failures?resolved=a%00b', 400],
  ])('GET %s: %d, not a 500', async (path, status) => {
    expect((await get(path)).status).toBe(status);
  });
});
