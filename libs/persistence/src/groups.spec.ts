import { Groups } from './groups';

describe('Groups', () => {
  it('runs what is submitted in one turn as one group, at most maxGroup at a time, and answers each caller', async () => {
    const runs: number[][] = [];
    const g = new Groups<number, number>(async (items) => {
      runs.push(items);
      return items.map((i) => i * 10);
    }, { maxGroup: 4, lanes: 1 });
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => g.submit(i)));
    expect(answers).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    expect(runs).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  });

  it('redoes a failed group one item at a time: only the bad item fails', async () => {
    const runs: number[][] = [];
    const g = new Groups<number, string>(async (items) => {
      runs.push(items);
      if (items.includes(2)) throw new Error('bad item');
      return items.map(String);
    }, { maxGroup: 10, lanes: 2 });
    const settled = await Promise.allSettled([1, 2, 3].map((i) => g.submit(i)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(runs).toEqual([[1, 2, 3], [1], [2], [3]]);
  });

  it('with lingerMs, items submitted shortly after one another still share a group', async () => {
    const runs: number[][] = [];
    const g = new Groups<number, number>(async (items) => {
      runs.push(items);
      return items;
    }, { maxGroup: 10, lanes: 1, lingerMs: 50 });
    const first = g.submit(1);
    await new Promise((r) => setTimeout(r, 5));
    await Promise.all([first, g.submit(2)]);
    expect(runs).toEqual([[1, 2]]);
  });
});
