import { decodeCursor, encodeCursor, pageFilters } from './page-cursor';
import { ProblemException } from './problem-details.filter';

/** The 400 problem's detail `fn` throws. */
function problemOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProblemException);
    expect((err as ProblemException).getStatus()).toBe(400);
    return String((err as ProblemException).getResponse() && ((err as ProblemException).getResponse() as { detail?: string }).detail);
  }
  throw new Error('no problem thrown');
}

describe('page cursors', () => {
  const id = '0b6a3c1e-5f7d-4e2a-9c4b-8d1f2e3a4b5c';

  it('round-trips position and filters as an opaque string', () => {
    const c = { k: '1796297909176123', id, f: { outcome: 'failed' } };
    const s = encodeCursor(c);
    expect(s).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(s, 'time')).toEqual(c);
    expect(decodeCursor(encodeCursor({ k: '42' }), 'serial')).toEqual({ k: '42' });
  });

  it('refuses what this API did not hand out, and cursors of the other listing', () => {
    const bad = ['', 'x', '!!!', encodeCursor({ k: '42' }), Buffer.from('[1]').toString('base64url'), Buffer.from('null').toString('base64url'),
      encodeCursor({ k: '12345678901234567', id }), encodeCursor({ k: '1; DROP', id }), encodeCursor({ k: '1', id: 'nope' }),
      Buffer.from(JSON.stringify({ k: '1', id, f: { outcome: 1 } })).toString('base64url')];
    for (const s of bad) expect(problemOf(() => decodeCursor(s, 'time'))).toMatch(/^cursor:/);
    expect(problemOf(() => decodeCursor(encodeCursor({ k: '1', id }), 'serial'))).toMatch(/^cursor:/);
  });

  it('keeps the filters of the cursor, accepts the same ones repeated, refuses different or added ones', () => {
    const c = { k: '1', id, f: { outcome: 'failed', from: '2026-01-01T00:00:00Z' } };
    const valid = { outcome: (v: string) => ['pending', 'succeeded', 'failed'].includes(v), from: (v: string) => v.startsWith('20'), to: (v: string) => v.startsWith('20') };
    expect(pageFilters({ outcome: undefined, from: undefined, to: undefined }, c, valid)).toEqual(c.f);
    expect(pageFilters({ outcome: 'failed', from: '2026-01-01T00:00:00Z' }, c, valid)).toEqual(c.f);
    // A filter the first page did not have would change the listing halfway through.
    expect(problemOf(() => pageFilters({ outcome: 'failed', to: '2026-02-01T00:00:00Z' }, c, valid))).toMatch(/^to: differs/);
    expect(problemOf(() => pageFilters({ outcome: 'succeeded' }, c, valid))).toMatch(/^outcome:/);
    expect(pageFilters({ outcome: 'pending', from: undefined }, undefined, valid)).toEqual({ outcome: 'pending' });
    // A filter the cursor carries that its listing would not take (edited by hand) is no cursor of this API.
    expect(problemOf(() => pageFilters({}, { ...c, f: { outcome: 'exploded' } }, valid))).toMatch(/^cursor:/);
    expect(problemOf(() => pageFilters({}, { ...c, f: { unknown: 'x' } }, valid))).toMatch(/^cursor:/);
  });
});
