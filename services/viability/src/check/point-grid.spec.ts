import { seededRandom } from '@elo/testing';
import { spheroidDistance } from './geodesy';
import { PointGrid } from './point-grid';


describe('PointGrid', () => {
  const r = seededRandom(5);
  const n = 4_000;
  // A dense town and a sparse region around it, cells with many points and empty ones.
  const lat = Float64Array.from({ length: n }, (_, i) => (i % 2 ? -25.4 + r() * 0.02 : -26 + r() * 2));
  const lng = Float64Array.from({ length: n }, (_, i) => (i % 2 ? -49.3 + r() * 0.02 : -50 + r() * 2));
  const grid = new PointGrid(lat, lng);

  it('visits every point within the radius, each once (checked against all points)', () => {
    for (let q = 0; q < 150; q++) {
      const [qlat, qlng] = q % 2 ? [-25.4 + r() * 0.02, -49.3 + r() * 0.02] : [-26 + r() * 2, -50 + r() * 2];
      const meters = [30, 150, 600][q % 3]!;
      const visited: number[] = [];
      expect(grid.around(qlat, qlng, meters, (i) => void visited.push(i))).toBe(true);
      expect(new Set(visited).size).toBe(visited.length);
      const within = (i: number) => spheroidDistance(qlat, qlng, lat[i]!, lng[i]!) <= meters;
      const expected: number[] = [];
      for (let i = 0; i < n; i++) if (within(i)) expected.push(i);
      expect(visited.filter(within).sort((a, b) => a - b)).toEqual(expected);
    }
  });

  it('does not answer across the antimeridian or near a pole', () => {
    const edge = new PointGrid(Float64Array.of(0, 89.5), Float64Array.of(179.9999, 0));
    expect(edge.around(0, 179.9995, 150, () => undefined)).toBe(false);
    expect(edge.around(89.5, 0, 150, () => undefined)).toBe(false);
    expect(edge.around(0, 179.99, 150, () => undefined)).toBe(true);
  });
});
