import { Readable } from 'node:stream';
import { parseByteRange, sliceBytes } from './byte-range';

describe('parseByteRange', () => {
  it('reads one range: first-last, first- and a suffix, the end clamped to the size', () => {
    expect(parseByteRange('bytes=0-99', 1000)).toEqual({ start: 0, end: 99 });
    expect(parseByteRange('bytes=900-', 1000)).toEqual({ start: 900, end: 999 });
    expect(parseByteRange('bytes=-100', 1000)).toEqual({ start: 900, end: 999 });
    expect(parseByteRange('bytes=-5000', 1000)).toEqual({ start: 0, end: 999 });
    expect(parseByteRange('Bytes = 990 - 5000', 1000)).toEqual({ start: 990, end: 999 });
  });

  it('unsatisfiable: a first byte past the end, or an empty suffix', () => {
    expect(parseByteRange('bytes=1000-', 1000)).toBe('unsatisfiable');
    expect(parseByteRange('bytes=1000-2000', 1000)).toBe('unsatisfiable');
    expect(parseByteRange('bytes=-0', 1000)).toBe('unsatisfiable');
  });

  it('ignored (the whole representation): absent, malformed, another unit, several ranges, last before first', () => {
    for (const h of [undefined, '', 'bytes=', 'bytes=-', 'bytes=abc', 'items=0-9', 'bytes=0-1,5-9', 'bytes=9-1', 'bytes=1.5-2']) {
      expect([h, parseByteRange(h, 1000)]).toEqual([h, undefined]);
    }
  });
});

describe('parseByteRange on hostile headers', () => {
  it('refuses a long malformed header in linear time (no backtracking over its spaces)', () => {
    // 160 kB of spaces: quadratic backtracking took about 18 s here (180 ms at 16 kB); linear, well under a millisecond.
    // The bound is a hundred times above linear and ten times below quadratic, so the machine's noise cannot decide it.
    const header = `bytes=${' '.repeat(80_000)}-${' '.repeat(80_000)}x`;
    const started = process.hrtime.bigint();
    expect(parseByteRange(header, 1000)).toBeUndefined();
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(1_500);
  });
});

describe('sliceBytes', () => {
  const chunks = [Buffer.from('0123'), Buffer.from('4567'), Buffer.from('89')];
  const slice = async (start: number, end: number) => {
    const out: Buffer[] = [];
    for await (const b of sliceBytes(Readable.from(chunks), { start, end })) out.push(b);
    return Buffer.concat(out).toString();
  };

  it('yields exactly the range across chunk boundaries', async () => {
    expect(await slice(0, 9)).toBe('0123456789');
    expect(await slice(3, 4)).toBe('34');
    expect(await slice(5, 5)).toBe('5');
    expect(await slice(8, 9)).toBe('89');
  });

  it('stops pulling once past the end', async () => {
    let pulled = 0;
    async function* source() {
      for (const c of chunks) {
        pulled++;
        yield c;
      }
    }
    const out: Buffer[] = [];
    for await (const b of sliceBytes(source(), { start: 1, end: 2 })) out.push(b);
    expect(Buffer.concat(out).toString()).toBe('12');
    expect(pulled).toBe(1);
  });
});
