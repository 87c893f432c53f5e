import { AckTracker } from './ack-tracker';

describe('AckTracker', () => {
  const make = () => {
    const acks: number[] = [];
    return { acks, t: new AckTracker((tag) => acks.push(tag)) };
  };

  it('acks a batch of settled deliveries with one multiple ack', () => {
    const { acks, t } = make();
    for (const tag of [1, 2, 3]) t.track(tag);
    t.settle([1, 2, 3]);
    expect(acks).toEqual([3]);
  });

  it('waits for earlier deliveries when a later batch finishes first', () => {
    const { acks, t } = make();
    for (const tag of [1, 2, 3, 4]) t.track(tag);
    t.settle([3]);
    t.settle([4]);
    expect(acks).toEqual([]);
    t.settle([2]);
    expect(acks).toEqual([]);
    t.settle([1]);
    expect(acks).toEqual([4]);
    expect(t.outstanding).toBe(0);
  });

  it('never names a delivery that was settled on its own', () => {
    const { acks, t } = make();
    for (const tag of [1, 2, 3]) t.track(tag);
    t.settle([3], true);
    t.settle([1]);
    t.settle([2]);
    // 3 was nacked on its own: the ack that releases it names 2, which covers 1 and 2 only.
    expect(acks).toEqual([1, 2]);
  });

  it('sends nothing when every released delivery was settled on its own', () => {
    const { acks, t } = make();
    for (const tag of [5, 6]) t.track(tag);
    t.settle([5], true);
    t.settle([6], true);
    expect(acks).toEqual([]);
    expect(t.outstanding).toBe(0);
  });

  it('keeps working across the compaction of its tag list', () => {
    const { acks, t } = make();
    for (let tag = 1; tag <= 5000; tag++) t.track(tag);
    for (let tag = 1; tag <= 5000; tag++) t.settle([tag]);
    expect(acks).toHaveLength(5000);
    expect(acks.at(-1)).toBe(5000);
    expect(t.outstanding).toBe(0);
  });
});
