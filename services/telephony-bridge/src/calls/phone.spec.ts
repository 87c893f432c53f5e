import { isValidCallId } from './call-id';
import { normaliseBrPhone } from './phone';

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

describe('isValidCallId', () => {
  it.each(['1537276453.47245539', 'abc-123', 'CALL_1', 'a:b'])('accepts %s', (id) => expect(isValidCallId(id)).toBe(true));
  it.each(['', '../etc/passwd', '..', 'a/b', 'a%2fb', '.hidden', 'a..b', 'x'.repeat(129), 'a b', 'a\nb'])('refuses %p', (id) =>
    expect(isValidCallId(id)).toBe(false),
  );
});
