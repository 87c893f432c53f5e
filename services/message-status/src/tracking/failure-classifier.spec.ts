import { classifyFailure } from './failure-classifier';

describe('classifyFailure', () => {
  it.each([
    ['whatsapp', '190', 'provider_auth', false],
    ['whatsapp', '0', 'provider_auth', false],
    // Code 10 alone is "no permission"; with subcode 2018278 (which only chat-ingress sees) it is the
    // 24-hour window: see the reason tests below.
    ['whatsapp', '10', 'no_access', false],
    ['messenger', '10', 'no_access', false],
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

  // What chat-ingress publishes at send time (services/chat-ingress/src/outbound/provider-api.ts `classify`
  // and sender.service.ts): its reason next to the provider's code.
  it.each([
    ['messenger', '10', 'outside_window', 'outside_window', false],
    ['instagram', '10', 'outside_window', 'outside_window', false],
    ['messenger', '10', 'no_access', 'no_access', false],
    ['whatsapp', '131047', 'outside_window', 'outside_window', false],
    ['whatsapp', '190', 'authentication', 'provider_auth', false],
    ['telegram', '401', 'authentication', 'provider_auth', false],
    ['telegram', '404', 'authentication', 'provider_auth', false],
    ['generic', '403', 'authentication', 'provider_auth', false],
    ['whatsapp', '132001', 'template_not_supported', 'template', false],
    ['messenger', undefined, 'template_not_supported', 'template', false],
    ['telegram', '403', 'blocked_by_user', 'recipient_unreachable', false],
    ['telegram', '400', 'recipient_unreachable', 'recipient_unreachable', false],
    ['messenger', '551', 'recipient_unreachable', 'recipient_unreachable', false],
    ['whatsapp', '130429', 'rate_limited', 'rate_limited', true],
    ['messenger', '4', 'rate_limited', 'rate_limited', true],
    ['whatsapp', '131000', 'provider_unavailable', 'unknown', true],
    ['whatsapp', 'timeout', 'provider_unreachable', 'unknown', true],
    ['whatsapp', undefined, 'channel_disabled', 'no_access', false],
    ['whatsapp', undefined, 'channel_not_found', 'no_access', false],
    ['generic', 'not_configured', 'no_access', 'no_access', false],
    ['whatsapp', '200', 'provider_error', 'unknown', false],
    ['messenger', '201', 'provider_error', 'unknown', false],
    ['whatsapp', 'error', 'internal_error', 'unknown', false],
    ['whatsapp', undefined, 'message_invalid', 'unknown', false],
    ['whatsapp', '100', 'invalid_request', 'unknown', false],
    ['whatsapp', 'attachment_too_large', 'attachment_too_large', 'unknown', false],
  ])('%s code %s with reason %s → %s (retryable %s)', (provider, code, hint, reason, retryable) => {
    expect(classifyFailure(provider, code, hint)).toEqual({ reason, retryable });
  });

  it('a specific send-time reason wins over the code; a catch-all one leaves the code to decide', () => {
    expect(classifyFailure('messenger', '10', 'outside_window').reason).toBe('outside_window');
    expect(classifyFailure('whatsapp', '131047', 'invalid_request')).toEqual({ reason: 'outside_window', retryable: false });
    expect(classifyFailure('telegram', '429', 'internal_error')).toEqual({ reason: 'rate_limited', retryable: true });
  });

  it('keeps a known reason decided at send time when the code says nothing', () => {
    expect(classifyFailure('whatsapp', undefined, 'rate_limited')).toEqual({ reason: 'rate_limited', retryable: true });
    expect(classifyFailure('whatsapp', 'x', 'bogus')).toEqual({ reason: 'unknown', retryable: false });
  });

  it('a code named like an Object property (constructor, __proto__, toString) is unknown, not a reason-less class', () => {
    // A lookup through the prototype chain gave Object itself: the message was stored with no reason, a group
    // of its own on the failures board (shown as a second `unknown`) that `reason=unknown` did not find.
    for (const provider of ['whatsapp', 'telegram']) {
      for (const code of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
        expect(classifyFailure(provider, code)).toEqual({ reason: 'unknown', retryable: false });
      }
    }
  });
});
