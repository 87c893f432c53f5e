import type { Provider } from '@elo/contracts';

/**
 * A failed message's reason. Integration failures are not messages: the failures board groups them apart,
 * as `integration:<error class>`.
 */
export const FAILURE_REASONS = [
  'provider_auth',
  'no_access',
  'template',
  'rate_limited',
  'recipient_unreachable',
  'outside_window',
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
  // (Messenger and Instagram say it with code 10, subcode 2018278: only chat-ingress sees the subcode, and
  // says so with the reason `outside_window`.)
  '131047': { reason: 'outside_window', retryable: false },
  '470': { reason: 'outside_window', retryable: false },
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

const FAIL = (reason: FailureReason, retryable = false): Classification => ({ reason, retryable });

/**
 * Reasons chat-ingress decides at send time (services/chat-ingress/src/outbound: provider-api.ts `classify`,
 * sender.service.ts, outbound.service.ts), onto the board's reasons. It decides them from the whole
 * answer (code, subcode, HTTP status, description), so they say more than the code alone: Messenger's
 * "outside the 24-hour window" is code 10 (otherwise "no access") with subcode 2018278.
 */
const SEND_TIME_REASONS = new Map<string, Classification>(Object.entries({
  authentication: FAIL('provider_auth'),
  no_access: FAIL('no_access'),
  channel_disabled: FAIL('no_access'),
  channel_not_found: FAIL('no_access'),
  template_not_supported: FAIL('template'),
  rate_limited: FAIL('rate_limited', true),
  outside_window: FAIL('outside_window'),
  recipient_unreachable: FAIL('recipient_unreachable'),
  blocked_by_user: FAIL('recipient_unreachable'),
  // The provider was down or not reachable (retried until chat-ingress gave up): may work later.
  provider_unavailable: FAIL('unknown', true),
  provider_unreachable: FAIL('unknown', true),
  // A 2xx answer without a message id: its code is the HTTP status, not a Graph code (200-299 would read
  // as "no permission"); not retryable, the message may have gone out.
  provider_error: FAIL('unknown'),
  // The board's own names, when a producer already speaks them.
  provider_auth: FAIL('provider_auth'),
  template: FAIL('template'),
}));

/**
 * chat-ingress's catch-alls (`invalid_request`, `internal_error`, `message_invalid`, …)
 * and callbacks (no reason) are classified from the code; what the code does not know is `unknown`.
 */
function fromCode(provider: Provider | string | null | undefined, code: string): Classification | undefined {
  // Own properties only: a code like `constructor` would find Object itself (no reason, no retryable).
  if (provider === 'telegram') return Object.hasOwn(TELEGRAM_CODES, code) ? TELEGRAM_CODES[code] : undefined;
  if (!code) return undefined;
  const meta = Object.hasOwn(META_CODES, code) ? META_CODES[code] : undefined;
  if (meta) return meta;
  const n = Number(code);
  if (Number.isInteger(n) && n >= 132000 && n <= 132016) return FAIL('template');
  if (Number.isInteger(n) && n >= 200 && n <= 299) return FAIL('no_access');
  return undefined;
}

/**
 * Classifies a provider failure. A specific reason decided by chat-ingress at send time wins (it saw the
 * subcode and the HTTP status, the event carries only the code); otherwise the provider's error code
 * decides (never its title, which changes with the language and over time).
 */
export function classifyFailure(provider: Provider | string | null | undefined, code?: string | null, hint?: string | null): Classification {
  return (hint ? SEND_TIME_REASONS.get(hint) : undefined) ?? fromCode(provider, (code ?? '').trim()) ?? FAIL('unknown');
}
