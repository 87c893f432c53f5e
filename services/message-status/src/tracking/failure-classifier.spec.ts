import { classifyFailure } from './failure-classifier';

describe('classifyFailure', () => {
  it.each([
    ['whatsapp', '190', 'provider_auth', false],
    ['whatsapp', '0', 'provider_auth', false],
    ['whatsapp', '10', 'no_access', false],
    ['whatsapp', '131005', 'no_access', false],
    ['whatsapp', '132001', 'template', false],
    ['whatsapp', '132015', 'template', false],
    ['whatsapp', '130429', 'rate_limited', true],
    ['whatsapp', '131056', 'rate_limited', true],
    ['whatsapp', '80007', 'rate_limited', true],
    ['whatsapp', '131047', 'outside_window', false],
    ['whatsapp', '131026', 'recipient_unreachable', false],
    ['whatsapp', '131051', 'recipient_unreachable', false],
    ['messenger', '551', 'recipient_unreachable', false],
    ['telegram', '403', 'recipient_unreachable', false],
    ['telegram', '429', 'rate_limited', true],
    ['telegram', '190', 'unknown', false],
    ['whatsapp', '999999', 'unknown', false],
  ])('%s code %s → %s (retryable %s)', (provider, code, reason, retryable) => {
    expect(classifyFailure(provider, code)).toEqual({ reason, retryable });
  });

  it('keeps a known reason decided at send time when the code says nothing', () => {
    expect(classifyFailure('whatsapp', undefined, 'rate_limited')).toEqual({ reason: 'rate_limited', retryable: true });
    expect(classifyFailure('whatsapp', 'x', 'bogus')).toEqual({ reason: 'unknown', retryable: false });
  });
});
