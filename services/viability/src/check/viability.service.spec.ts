import { inOrder } from './viability.service';

type Row = { part: 'in' | 'more' | 'pole'; n: number };
const rows = (...xs: Array<[Row['part'], number]>): Row[] => xs.map(([part, n]) => ({ part, n }));

describe('inOrder', () => {
  it('keeps rows already by part and nearest first as they are', () => {
    const r = rows(['in', 1], ['in', 2], ['more', 1], ['pole', 1], ['pole', 2]);
    expect(inOrder(r)).toBe(r);
    expect(inOrder(r)).toEqual(rows(['in', 1], ['in', 2], ['more', 1], ['pole', 1], ['pole', 2]));
  });

  it('sorts rows a plan yields otherwise, as ORDER BY part, n did', () => {
    expect(inOrder(rows(['more', 2], ['in', 2], ['pole', 1], ['more', 1], ['in', 1]))).toEqual(
      rows(['in', 1], ['in', 2], ['more', 1], ['more', 2], ['pole', 1]),
    );
    expect(inOrder([])).toEqual([]);
  });
});
