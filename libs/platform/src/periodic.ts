/** A task run on a timer by {@link periodic}. */
export interface Periodic {
  /** Clears the timers; resolves once a run in progress (if any) has ended. */
  stop(): Promise<void>;
}

/**
 * Runs `task` every `everyMs` (and once `firstAfterMs` after the start, when given), never two runs at once: a
 * tick that finds the previous run still going is skipped. A failed run goes to `onError` and the next tick runs
 * again. The timers do not keep the process alive.
 */
export function periodic(everyMs: number, task: () => Promise<unknown>, onError: (err: Error) => void, firstAfterMs?: number): Periodic {
  let running: Promise<void> | undefined;
  const run = (): void => {
    if (running) return;
    running = task()
      .then(() => undefined, (err: Error) => onError(err))
      .finally(() => (running = undefined));
  };
  const timers = [setInterval(run, everyMs), ...(firstAfterMs === undefined ? [] : [setTimeout(run, firstAfterMs)])];
  for (const t of timers) t.unref();
  return {
    async stop() {
      for (const t of timers) clearTimeout(t);
      await running;
    },
  };
}
