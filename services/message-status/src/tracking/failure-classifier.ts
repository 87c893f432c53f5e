import type { Provider } from '@elo/contracts';

export const FAILURE_REASONS = [
  'provider_auth',
  'no_access',
  'template',
  'rate_limited',
  'recipient_unreachable',
  'outside_window',
  'integration',
  'unknown',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export interface Classification {
  reason: FailureReason;
  retryable: boolean;
}

const META_CODES: Record<string, Classification> = {
  // Authentication with the provider: bad, expired or revoked access token.
  '0': { reason: 'provider_auth', retryable: false },
  '190': { reason: 'provider_auth', retryable: false },
  // No access: missing permission, app not allowed, account restricted.
  '3': { reason: 'no_access', retryable: false },
  '10': { reason: 'no_access', retryable: false },
  '200': { reason: 'no_access', retryable: false },
  '131005': { reason: 'no_access', retryable: false },
  '131031': { reason: 'no_access', retryable: false },
  // Throttling at every level (app, account, pair rate, spam).
  '4': { reason: 'rate_limited', retryable: true },
  '80007': { reason: 'rate_limited', retryable: true },
  '130429': { reason: 'rate_limited', retryable: true },
  '131048': { reason: 'rate_limited', retryable: true },
  '131056': { reason: 'rate_limited', retryable: true },
  '613': { reason: 'rate_limited', retryable: true },
  // Re-engagement: more than 24 hours since the customer last wrote.
  '131047': { reason: 'outside_window', retryable: false },
  '470': { reason: 'outside_window', retryable: false },
  '2018278': { reason: 'outside_window', retryable: false },
  // The recipient cannot get it: not on WhatsApp, experiment, ecosystem protection, unsupported type.
  '131026': { reason: 'recipient_unreachable', retryable: false },
  '131049': { reason: 'recipient_unreachable', retryable: false },
  '131050': { reason: 'recipient_unreachable', retryable: false },
  '131051': { reason: 'recipient_unreachable', retryable: false },
  '551': { reason: 'recipient_unreachable', retryable: false },
  // Transient errors on Meta's side.
  '1': { reason: 'unknown', retryable: true },
  '2': { reason: 'unknown', retryable: true },
  '131000': { reason: 'unknown', retryable: true },
  '131016': { reason: 'unknown', retryable: true },
};

const TELEGRAM_CODES: Record<string, Classification> = {
  '401': { reason: 'provider_auth', retryable: false },
  '403': { reason: 'recipient_unreachable', retryable: false },
  '429': { reason: 'rate_limited', retryable: true },
};

const isReason = (r: string | undefined): r is FailureReason => !!r && (FAILURE_REASONS as readonly string[]).includes(r);

/**
 * Classifies a provider failure from its error code (never its title, which changes with the language
 * and over time). A reason already decided by chat-ingress at send time is kept when it is one we know.
 */
export function classifyFailure(provider: Provider | string | null | undefined, code?: string | null, hint?: string | null): Classification {
  const c = (code ?? '').trim();
  if (provider === 'telegram') {
    const t = TELEGRAM_CODES[c];
    if (t) return t;
  } else if (c) {
    const meta = META_CODES[c];
    if (meta) return meta;
    const n = Number(c);
    if (Number.isInteger(n) && n >= 132000 && n <= 132016) return { reason: 'template', retryable: false };
    if (Number.isInteger(n) && n >= 200 && n <= 299) return { reason: 'no_access', retryable: false };
  }
  if (isReason(hint ?? undefined)) {
    const reason = hint as FailureReason;
    return { reason, retryable: reason === 'rate_limited' };
  }
  return { reason: 'unknown', retryable: false };
}
