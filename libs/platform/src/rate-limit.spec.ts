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

  it('does not limit when the limit is 0', () => {
    const rl = new RateLimiter({ perKeyPerMinute: 0, perSourcePerMinute: 0 });
    for (let i = 0; i < 1_000; i++) expect(rl.take('a', 0)).toBe(0);
  });
});
