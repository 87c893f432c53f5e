export interface EventuallyOptions {
  /** Deadline in milliseconds (default 10 s). */
  timeoutMs?: number;
  /** Pause between attempts (default 50 ms). */
  intervalMs?: number;
}

/**
 * Polls `probe` until it stops throwing (jest `expect` failures included) or the deadline passes,
 * then rethrows the last failure. Returns the probe's value.
 */
export async function expectEventually<T>(probe: () => T | Promise<T>, opts: EventuallyOptions = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  const interval = opts.intervalMs ?? 50;
  let lastError: unknown;
  for (;;) {
    try {
      return await probe();
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) throw lastError;
    await new Promise((r) => setTimeout(r, interval));
  }
}
