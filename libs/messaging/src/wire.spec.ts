import { BATCH_CONTENT_TYPE, decodeMessage, encodeRun, EVENT_CONTENT_TYPE, MAX_BATCH_BYTES, MAX_BATCH_EVENTS, runsOf } from './wire';

describe('runsOf', () => {
  const split = (items: Array<{ t: string; n?: number }>) => runsOf(items, (x) => x.t, (x) => x.n ?? 10).map((r) => r.length);

  it('keeps order and starts a new run when the type changes', () => {
    expect(split([{ t: 'a' }, { t: 'a' }, { t: 'b' }, { t: 'a' }])).toEqual([2, 1, 1]);
  });

  it('cuts a run at MAX_BATCH_EVENTS', () => {
    expect(split(Array.from({ length: 2 * MAX_BATCH_EVENTS + 1 }, () => ({ t: 'a' })))).toEqual([MAX_BATCH_EVENTS, MAX_BATCH_EVENTS, 1]);
  });

  it('cuts a run before it passes MAX_BATCH_BYTES, and an event bigger than that travels alone', () => {
    const third = Math.floor(MAX_BATCH_BYTES / 3);
    expect(split([{ t: 'a', n: third }, { t: 'a', n: third }, { t: 'a', n: third }, { t: 'a', n: 10 }])).toEqual([2, 2]);
    expect(split([{ t: 'a', n: MAX_BATCH_BYTES * 2 }, { t: 'a' }])).toEqual([1, 1]);
  });
});

describe('encodeRun', () => {
  it('sends one event as itself and several as a JSON array of them', () => {
    expect(encodeRun(['{"id":"1"}'])).toEqual({ content: Buffer.from('{"id":"1"}'), contentType: EVENT_CONTENT_TYPE });
    const batch = encodeRun(['{"id":"1"}', '{"id":"2"}']);
    expect(batch.contentType).toBe(BATCH_CONTENT_TYPE);
    expect(JSON.parse(batch.content.toString())).toEqual([{ id: '1' }, { id: '2' }]);
  });
});

describe('decodeMessage', () => {
  it('unpacks a batch message into its events, and takes anything else as one body', () => {
    expect(decodeMessage(Buffer.from('[{"id":"1"},{"id":"2"}]'), BATCH_CONTENT_TYPE)).toEqual({ bodies: [{ id: '1' }, { id: '2' }], batch: true });
    expect(decodeMessage(Buffer.from('{"id":"1"}'), EVENT_CONTENT_TYPE)).toEqual({ bodies: [{ id: '1' }], batch: false });
    expect(decodeMessage(Buffer.from('[]'), BATCH_CONTENT_TYPE)).toEqual({ bodies: [[]], batch: false });
    expect(() => decodeMessage(Buffer.from('not json'), BATCH_CONTENT_TYPE)).toThrow();
  });
});
