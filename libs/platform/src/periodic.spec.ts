import { periodic } from './periodic';

describe('periodic', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('runs the task every period, skips a tick while a run is still going, reports failures and runs again', async () => {
    const finish: Array<() => void> = [];
    let runs = 0;
    const errors: string[] = [];
    const p = periodic(
      100,
      () => {
        runs++;
        if (runs === 2) return Promise.reject(new Error('boom'));
        return new Promise<void>((resolve) => finish.push(resolve));
      },
      (err) => errors.push(err.message),
    );
    await jest.advanceTimersByTimeAsync(100);
    expect(runs).toBe(1);
    await jest.advanceTimersByTimeAsync(300); // the first run has not finished: these ticks are skipped
    expect(runs).toBe(1);
    finish.shift()!();
    await jest.advanceTimersByTimeAsync(100);
    expect(runs).toBe(2);
    expect(errors).toEqual(['boom']);
    await jest.advanceTimersByTimeAsync(100);
    expect(runs).toBe(3);
    let stopped = false;
    const stopping = p.stop().then(() => (stopped = true));
    await jest.advanceTimersByTimeAsync(500);
    expect(stopped).toBe(false); // waits for the run in progress
    expect(runs).toBe(3); // and starts no other
    finish.shift()!();
    await stopping;
    expect(stopped).toBe(true);
  });

  it('runs once after firstAfterMs, before the first period', async () => {
    let runs = 0;
    const p = periodic(1_000, async () => void runs++, () => undefined, 10);
    await jest.advanceTimersByTimeAsync(10);
    expect(runs).toBe(1);
    await jest.advanceTimersByTimeAsync(990);
    expect(runs).toBe(2);
    await p.stop();
  });
});
