import { readCallId } from './click2call.service';

describe('readCallId', () => {
  it('reads a call id the PBX sent as a JSON number with every digit it was written with', () => {
    const json = { from: 'json', path: 'data.call.id' } as const;
    expect(readCallId(Buffer.from('{"data": {"call": {"id": 1537276453.10}}}'), json)).toBe('1537276453.10');
    expect(readCallId(Buffer.from('{"data": {"call": {"id": 12345678901234567891}}}'), json)).toBe('12345678901234567891');
    expect(readCallId(Buffer.from('{"data": {"call": {"id": "1537276453.47245539"}}}'), json)).toBe('1537276453.47245539');
  });
  it('reads the plain-text answer, and nothing from an answer without a valid id', () => {
    expect(readCallId(Buffer.from(' 1537276453.47245539\n'), { from: 'text' })).toBe('1537276453.47245539');
    expect(readCallId(Buffer.from('{"id": null}'), { from: 'json', path: 'id' })).toBeUndefined();
    expect(readCallId(Buffer.from('not json'), { from: 'json', path: 'id' })).toBeUndefined();
  });
});
