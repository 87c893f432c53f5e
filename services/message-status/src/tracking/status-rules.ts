import type { MessageState, Provider } from '@elo/contracts';

/** Forward order of states; `failed` is terminal and handled apart. */
export const STATUS_RANK: Record<MessageState, number> = { queued: 0, sent: 1, delivered: 2, read: 3, failed: 9 };

/** What each channel can report. A state a channel cannot report stays in the timeline, never as status. */
export const CHANNEL_CAPABILITIES: Record<Provider, ReadonlySet<MessageState>> = {
  whatsapp: new Set(['queued', 'sent', 'delivered', 'read', 'failed']),
  messenger: new Set(['queued', 'sent', 'delivered', 'read', 'failed']),
  instagram: new Set(['queued', 'sent', 'read', 'failed']),
  telegram: new Set(['queued', 'sent', 'failed']),
  generic: new Set(['queued', 'sent', 'delivered', 'read', 'failed']),
};

export function canReport(provider: string | null | undefined, status: MessageState): boolean {
  const caps = CHANNEL_CAPABILITIES[(provider ?? 'generic') as Provider] ?? CHANNEL_CAPABILITIES.generic;
  return caps.has(status);
}

export interface CurrentState {
  status: MessageState;
  provider: string | null;
}

export interface Candidate {
  status: MessageState;
  /** Provider timestamp. */
  at: Date;
}

/**
 * The state a message moves to given its current state and newly known statuses, or undefined when it
 * stays. Forward only (queued < sent < delivered < read, skipping allowed); failed is sticky and wins
 * over everything not yet failed; unreportable states never become the status.
 */
export function nextState<C extends Candidate>(current: CurrentState, candidates: C[]): C | undefined {
  if (current.status === 'failed') return undefined;
  let best: C | undefined;
  for (const c of candidates) {
    if (!canReport(current.provider, c.status)) continue;
    if (c.status === 'failed') {
      // Of the failures known at once, the earliest decides the details. One reported after the message
      // failed is kept in the timeline only: failed is terminal, and its details and time stay those first applied.
      if (best?.status !== 'failed' || c.at < best.at) best = c;
      continue;
    }
    if (best?.status === 'failed') continue;
    if (STATUS_RANK[c.status] <= STATUS_RANK[current.status]) continue;
    if (!best || STATUS_RANK[c.status] > STATUS_RANK[best.status]) best = c;
  }
  return best;
}
