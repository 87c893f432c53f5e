import { parseRetryAfter } from '@elo/http-egress';

/** When to try again, or undefined when the schedule is exhausted. */
export function nextDelaySeconds(opts: {
  schedule: number[];
  /** attempts made so far, including the one that just failed */
  attempts: number;
  errorClass: string;
  httpStatus?: number;
  retryAfter?: string;
  now?: Date;
  random?: () => number;
}): number | undefined {
  if (opts.attempts > opts.schedule.length) return undefined;
  const base = opts.schedule[opts.attempts - 1];
  const random = opts.random ?? Math.random;
  // ±10 % jitter keeps a recovering endpoint from getting every retry at the same second.
  let delay = base * (0.9 + 0.2 * random());
  const after = parseRetryAfter(opts.retryAfter, opts.now ?? new Date());
  if (after !== undefined) delay = Math.max(delay, after);
  if (opts.errorClass === 'timeout' || opts.httpStatus === 429) delay = Math.max(delay, 60);
  return delay;
}
