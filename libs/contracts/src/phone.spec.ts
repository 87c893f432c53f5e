import { normaliseBrPhone, normalisePhone } from './phone';

describe('normalisePhone', () => {
  it('adds the ninth digit to old-form Brazilian mobiles and keeps the old form as alt', () => {
    expect(normalisePhone('554188445566')).toEqual({ e164: '+5541988445566', alt: '+554188445566' });
  });
  it('keeps the ninth digit and gives the eight-digit alt form', () => {
    expect(normalisePhone('5541988445566')).toEqual({ e164: '+5541988445566', alt: '+554188445566' });
    expect(normalisePhone('+55 (41) 98844-5566')).toEqual({ e164: '+5541988445566', alt: '+554188445566' });
  });
  it('leaves Brazilian landlines alone', () => {
    expect(normalisePhone('554130001000')).toEqual({ e164: '+554130001000' });
  });
  it('reads national Brazilian numbers with a default country', () => {
    expect(normalisePhone('41988445566', 'BR')).toEqual({ e164: '+5541988445566', alt: '+554188445566' });
  });
  it('normalises other countries to E.164', () => {
    expect(normalisePhone('14155550123')).toEqual({ e164: '+14155550123' });
  });
  it('returns undefined for garbage', () => {
    expect(normalisePhone('abc')).toBeUndefined();
    expect(normalisePhone('')).toBeUndefined();
  });
});

describe('normaliseBrPhone', () => {
  it.each([
    ['41988445566', '41988445566'],
    ['(41) 98844-5566', '41988445566'],
    ['041988445566', '41988445566'],
    ['5541988445566', '41988445566'],
    ['+55 41 98844-5566', '41988445566'],
    ['4188445566', '41988445566'],
    ['4133334444', '4133334444'],
  ])('%s → %s', (input, out) => expect(normaliseBrPhone(input)).toBe(out));

  it.each(['', '123', 'abc', '+1 202 555 0100', '41988445566999', '00988445566'])('refuses %p', (input) =>
    expect(normaliseBrPhone(input)).toBeUndefined(),
  );
});
