import { RateLimiter } from './rate-limit';

describe('RateLimiter', () => {
  it('allows the configured burst, then asks to wait, then refills over time', () => {
    let t = 0;
    const rl = new RateLimiter({ perKeyPerMinute: 60, perSourcePerMinute: 0, now: () => t });
    for (let i = 0; i < 60; i++) expect(rl.take('a', 60)).toBe(0);
    expect(rl.take('a', 60)).toBe(1); // one token a second
    expect(rl.take('b', 60)).toBe(0); // other keys are unaffected
    t += 5_000;
    for (let i = 0; i < 5; i++) expect(rl.take('a', 60)).toBe(0);
    expect(rl.take('a', 60)).toBeGreaterThan(0);
  });

  describe('middleware', () => {
    const answer = (rl: RateLimiter, remoteAddress: string, headers: Record<string, string> = {}, path = '/webhooks/whatsapp/x') => {
      const out = { status: 200, headers: {} as Record<string, string>, body: '', passed: false };
      const res = {
        setHeader: (k: string, v: string) => void (out.headers[k.toLowerCase()] = v),
        status(code: number) { out.status = code; return this; },
        type(t: string) { out.headers['content-type'] = t; return this; },
        send(b: string) { out.body = b; return this; },
      };
      rl.middleware()({ path, headers, socket: { remoteAddress } } as never, res as never, () => void (out.passed = true));
      return out;
    };

    it('limits a source without a key (webhooks) with 429, Retry-After and a problem, other sources unaffected', () => {
      const t = 0;
      const rl = new RateLimiter({ perKeyPerMinute: 0, perSourcePerMinute: 30, now: () => t });
      for (let i = 0; i < 30; i++) expect(answer(rl, '198.51.100.7').passed).toBe(true);
      const limited = answer(rl, '198.51.100.7');
      expect(limited).toMatchObject({ passed: false, status: 429, headers: { 'retry-after': '2', 'content-type': 'application/problem+json' } });
      expect(JSON.parse(limited.body)).toMatchObject({ status: 429, detail: 'rate limit exceeded; retry in 2 s' });
      expect(answer(rl, '203.0.113.9').passed).toBe(true);
    });

    it('a made-up key on every request does not escape the source limit', () => {
      const rl = new RateLimiter({ perKeyPerMinute: 1_000, perSourcePerMinute: 10, now: () => 0 });
      const passed = Array.from({ length: 50 }, (_, i) => answer(rl, '198.51.100.8', { authorization: `Bearer made-up-${i}` }).passed);
      expect(passed.filter(Boolean)).toHaveLength(10);
    });

    it('a made-up key on every request does not escape the source limit once the limiter holds 100,000 buckets', () => {
      // Past 100,000 buckets a new one sweeps the full ones, but judged every bucket by the rate of the new one: a key's
      // bucket (6,000 a minute) found a source's with 50,000 tokens left full, and deleted it, so the source began again.
      let t = 0;
      const rl = new RateLimiter({ perKeyPerMinute: 6_000, perSourcePerMinute: 150_000, now: () => t });
      let passed = 0;
      for (let i = 0; i < 300_000; i++) {
        t += 0.01; // 300,000 requests in 3 s: the source refills 7,500 tokens meanwhile
        if (answer(rl, '198.51.100.10', { authorization: `Bearer made-up-${i}` }).passed) passed++;
      }
      expect(passed).toBeGreaterThanOrEqual(150_000);
      expect(passed).toBeLessThanOrEqual(157_500 + 1);
    });

    it('limits a key across sources, and never limits health or metrics', () => {
      const rl = new RateLimiter({ perKeyPerMinute: 5, perSourcePerMinute: 0, now: () => 0 });
      const key = { authorization: 'Bearer elo_AAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB' };
      const passed = Array.from({ length: 10 }, (_, i) => answer(rl, `198.51.100.${i}`, key, '/channels').passed);
      expect(passed.filter(Boolean)).toHaveLength(5);
      const tight = new RateLimiter({ perKeyPerMinute: 1, perSourcePerMinute: 1, now: () => 0 });
      for (let i = 0; i < 5; i++) {
        expect(answer(tight, '198.51.100.9', {}, '/health/ready').passed).toBe(true);
        expect(answer(tight, '198.51.100.9', {}, '/metrics').passed).toBe(true);
      }
    });

    it('limits the key the guard reads, however the request spells its headers', () => {
      // The guard takes `Bearer` in any case with any spacing, and `x-api-key` when Authorization is not a
      // Bearer: keyed by the raw header, each spelling (or a junk Authorization beside x-api-key) was a fresh bucket.
      const rl = new RateLimiter({ perKeyPerMinute: 5, perSourcePerMinute: 0, now: () => 0 });
      const key = 'elo_AAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
      const spellings: Array<Record<string, string>> = [
        { authorization: `Bearer ${key}` }, { authorization: `bearer ${key}` }, { authorization: `BEARER  ${key} ` },
        { 'x-api-key': key }, { 'x-api-key': ` ${key}` },
        ...Array.from({ length: 5 }, (_, i) => ({ authorization: `Basic junk-${i}`, 'x-api-key': key })),
      ];
      const passed = spellings.map((h, i) => answer(rl, `198.51.100.${i}`, h, '/messages').passed);
      expect(passed.filter(Boolean)).toHaveLength(5);
    });
  });

  it('does not limit when the limit is 0', () => {
    const rl = new RateLimiter({ perKeyPerMinute: 0, perSourcePerMinute: 0 });
    for (let i = 0; i < 1_000; i++) expect(rl.take('a', 0)).toBe(0);
  });
});
