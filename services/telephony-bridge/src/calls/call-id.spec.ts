import { isValidCallId } from './call-id';

describe('isValidCallId', () => {
  it.each(['1537276453.47245539', 'abc-123', 'CALL_1', 'a:b'])('accepts %s', (id) => expect(isValidCallId(id)).toBe(true));
  it.each(['', '../etc/passwd', '..', 'a/b', 'a%2fb', '.hidden', 'a..b', 'x'.repeat(129), 'a b', 'a\nb'])('refuses %p', (id) =>
    expect(isValidCallId(id)).toBe(false),
  );
});
