import { parseAnswered, parseEnded } from './callback-params';

describe('callback parameters', () => {
  it.each(['', 'anonymous', 'ANONYMOUS', 'private', 'Restricted', 'unavailable', 'Unknown', ' unknown '])(
    'answered: a withheld caller id (num %j) is accepted without a phone',
    (num) => {
      expect(parseAnswered({ cid: '1537276453.1', ramal: '1001', num })).toEqual({ params: { cid: '1537276453.1', ramal: '1001', num: undefined }, errors: [] });
      expect(parseEnded({ cid: '1537276453.1', num }).params).toEqual({ cid: '1537276453.1' });
    },
  );

  it('answered: num absent, or a word that is no withheld caller id, is refused naming num', () => {
    expect(parseAnswered({ cid: '1', ramal: '1001' }).errors.map((e) => e.field)).toEqual(['num']);
    for (const num of ['withheld-ish', 'anonymous caller', 'nobody']) {
      expect([num, parseAnswered({ cid: '1', ramal: '1001', num }).errors.map((e) => e.field)]).toEqual([num, ['num']]);
    }
  });

  it('answered: a Brazilian number is normalised (area code + number, ninth digit); others kept as 3-20 digits', () => {
    expect(parseAnswered({ cid: '1', ramal: '1', num: '+55 (41) 8844-5566' }).params?.num).toBe('41988445566');
    expect(parseAnswered({ cid: '1', ramal: '1', num: '2001' }).params?.num).toBe('2001');
    expect(parseAnswered({ cid: '1', ramal: '1', num: '12' }).errors.map((e) => e.field)).toEqual(['num']);
  });
});
