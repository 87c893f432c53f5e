/** A byte range of a representation, both ends included (RFC 9110 §14.1.2). */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The one byte range a `Range` header asks of `size` bytes: a range, `unsatisfiable` (416), or undefined
 * when the header is to be ignored and the whole representation sent (absent, malformed, another unit,
 * or several ranges, which a WAV player does not ask for).
 */
export function parseByteRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  // Each run of spaces can be taken one way only (`\s*(\d*)\s*` could split it anywhere: a 16 kB header of spaces took
  // 180 ms to refuse), so refusing a malformed header takes linear time.
  const m = /^\s*bytes\s*=\s*(?:(\d+)\s*)?-\s*(?:(\d+)\s*)?$/i.exec(header ?? '');
  if (!m || (m[1] === undefined && m[2] === undefined)) return undefined;
  if (m[1] === undefined) {
    const suffix = Number(m[2]);
    return suffix > 0 ? { start: Math.max(0, size - suffix), end: size - 1 } : 'unsatisfiable';
  }
  const start = Number(m[1]);
  const last = m[2] === undefined ? Infinity : Number(m[2]);
  if (last < start) return undefined;
  return start < size ? { start, end: Math.min(last, size - 1) } : 'unsatisfiable';
}

/** The bytes `start`..`end` of a stream of Buffers, pulled as they are needed; stops reading once past `end`. */
export async function* sliceBytes(source: AsyncIterable<Buffer>, { start, end }: ByteRange): AsyncGenerator<Buffer> {
  let offset = 0;
  for await (const chunk of source) {
    const from = Math.max(0, start - offset);
    const to = Math.min(chunk.length, end + 1 - offset);
    offset += chunk.length;
    if (to > from) yield chunk.subarray(from, to);
    if (offset > end) return;
  }
}
