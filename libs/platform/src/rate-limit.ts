import { createHash } from 'node:crypto';
import { presentedKey } from '@elo/auth';
import type { NextFunction, Request, Response } from 'express';
import { problem } from './problem-details.filter';

export interface RateLimitOptions {
  /** Requests a minute one API key may make (0 = unlimited). */
  perKeyPerMinute: number;
  /** Requests a minute one source address may make without a key, e.g. webhooks (0 = unlimited). */
  perSourcePerMinute: number;
  now?: () => number;
}

interface Bucket {
  tokens: number;
  updated: number;
  /** The bucket's own limit: a key's and a source's refill at different rates. */
  perMinute: number;
}

/**
 * Token buckets in memory, one per API key and one per source address. Every request takes from its
 * source's bucket (provider webhooks carry no key); a request that presents a key also takes from that
 * key's bucket. Presenting a made-up key therefore never escapes the source limit (a fresh key would
 * otherwise be a fresh, full bucket). Each replica limits on its own: with N replicas behind a
 * balancer the effective limit is up to N times the setting. Health and metrics are never limited.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;

  constructor(private readonly o: RateLimitOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Takes one token; returns 0 when allowed, else the seconds to wait. */
  take(bucketKey: string, perMinute: number): number {
    if (perMinute <= 0) return 0;
    const now = this.now();
    const rate = perMinute / 60_000;
    let b = this.buckets.get(bucketKey);
    if (!b) {
      b = { tokens: perMinute, updated: now, perMinute };
      this.buckets.set(bucketKey, b);
      if (this.buckets.size > 100_000) this.sweep(now);
    }
    b.tokens = Math.min(perMinute, b.tokens + (now - b.updated) * rate);
    b.updated = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / rate / 1000));
  }

  middleware() {
    return (req: Request, res: Response, next: NextFunction): void => {
      if (req.path.startsWith('/health/') || req.path === '/metrics') return next();
      // The key as the guard reads it: keyed by a raw header, every spelling of it (`bearer`, spacing, a
      // junk Authorization beside x-api-key) was a fresh, full bucket for the same key.
      const key = presentedKey(req);
      let wait = this.take(`s:${req.socket.remoteAddress ?? 'unknown'}`, this.o.perSourcePerMinute);
      if (wait === 0 && this.o.perKeyPerMinute > 0 && key) {
        wait = this.take(`k:${createHash('sha256').update(key).digest('base64url')}`, this.o.perKeyPerMinute);
      }
      if (wait === 0) return next();
      res.setHeader('Retry-After', String(wait));
      res
        .status(429)
        .type('application/problem+json')
        .send(JSON.stringify(problem(429, `rate limit exceeded; retry in ${wait} s`, { instance: req.path })));
    };
  }

  /**
   * Forgets the buckets that are full again (a new one would be the same), each judged by its own limit: judged by
   * the new bucket's, a key's (6,000 a minute) found a source's with 50,000 tokens left full, and the source began
   * again, so made-up keys escaped the source limit after all.
   */
  private sweep(now: number): void {
    for (const [k, b] of this.buckets) if (b.tokens + ((now - b.updated) * b.perMinute) / 60_000 >= b.perMinute) this.buckets.delete(k);
  }
}
