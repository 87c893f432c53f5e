import { EVENT_CATALOGUE, EVENT_TYPES } from './index';

/**
 * Event types are public contract: once shipped, a type is never renamed or dropped, only joined by a new
 * version (a consumer or a bound queue still names the old one). This list is what has shipped; add to it,
 * never take from it.
 */
const SHIPPED = [
  'chat.message.received', 'chat.message.send.requested', 'chat.message.sent', 'chat.message.status',
  'chat.conversation.opened', 'chat.conversation.transferred', 'chat.conversation.closed', 'chat.conversation.transfer.requested',
  'chat.flow.step', 'chat.channel.token.expiring', 'chat.channel.token.invalid',
  'integration.requested', 'integration.delivery.succeeded', 'integration.delivery.failed', 'integration.disabled',
  'viability.requested', 'viability.checked',
  'telephony.call.answered', 'telephony.call.started', 'telephony.call.ended',
  'message.status.changed', 'message.failed',
];

describe('shipped event types', () => {
  it('are all still in the catalogue, each with its payload class', () => {
    const types: readonly string[] = EVENT_TYPES;
    expect(SHIPPED.filter((t) => !types.includes(t))).toEqual([]);
    const catalogue = EVENT_CATALOGUE as unknown as Record<string, { payload?: unknown }>;
    for (const t of SHIPPED) expect(typeof catalogue[t]?.payload).toBe('function');
  });
});
