import { classify } from './provider-api';

const answer = (body: unknown) => Buffer.from(JSON.stringify(body));

describe('classify: the provider\'s answer to a send', () => {
  it('Instagram\'s "sent outside of allowed window" (code 10, subcode 2534022) is outside_window, not a permission problem', () => {
    const body = answer({ error: { message: 'This message is sent outside of allowed window.', type: 'OAuthException', code: 10, error_subcode: 2534022 } });
    expect(classify('instagram', 400, body, {}, '6200000000000009')).toMatchObject({ kind: 'failed', reason: 'outside_window' });
  });

  it('Messenger\'s outside-window answer (code 10, subcode 2018278) stays outside_window; a bare code 10 stays no_access', () => {
    expect(classify('messenger', 400, answer({ error: { code: 10, error_subcode: 2018278 } }), {}, '1')).toMatchObject({ kind: 'failed', reason: 'outside_window' });
    expect(classify('messenger', 400, answer({ error: { code: 10, message: 'Application does not have permission for this action' } }), {}, '1')).toMatchObject({ kind: 'failed', reason: 'no_access' });
  });
});

describe('classify: Retry-After', () => {
  it('a rate limit waits as long as Retry-After asks, given in seconds or as an HTTP date', () => {
    const limited = answer({ error: { code: 130429, message: 'Rate limit hit' } });
    expect(classify('whatsapp', 429, limited, { 'retry-after': '120' }, '55')).toMatchObject({ kind: 'retry', reason: 'rate_limited', afterMs: 120_000 });
    // The clock stands still between writing the date and reading it (a stalled run would eat into the margin).
    jest.useFakeTimers({ now: Date.parse('2026-11-22T10:00:00.750Z') });
    try {
      const at = new Date(Date.now() + 600_000).toUTCString();
      const outcome = classify('whatsapp', 429, limited, { 'retry-after': at }, '55');
      expect(outcome).toMatchObject({ kind: 'retry', reason: 'rate_limited' });
      // An HTTP date has whole seconds: within a second of ten minutes.
      expect((outcome as { afterMs: number }).afterMs).toBeGreaterThan(598_000);
      expect((outcome as { afterMs: number }).afterMs).toBeLessThanOrEqual(600_000);
    } finally {
      jest.useRealTimers();
    }
  });
});
