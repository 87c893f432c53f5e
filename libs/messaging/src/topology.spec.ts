import { DEFAULT_RETRY_DELAYS_MS, EVENTS_EXCHANGE, queueNames, UNROUTABLE_EXCHANGE, UNROUTABLE_QUEUE } from './topology';

/**
 * Exchange and queue names are public contract, like event types: a deployed broker holds queues and bindings
 * under these names (and messages in them), so a rename would strand what they hold. They are never renamed.
 */
describe('topology names', () => {
  it('are the ones shipped', () => {
    expect([EVENTS_EXCHANGE, UNROUTABLE_EXCHANGE, UNROUTABLE_QUEUE]).toEqual(['elo.events', 'elo.unroutable', 'elo.unroutable']);
    const q = queueNames('chat-ingress');
    expect([q.main, q.dead, q.ordered, q.retry(1_000), q.orderedRetry(60_000)]).toEqual([
      'chat-ingress', 'chat-ingress.dead', 'chat-ingress.ordered', 'chat-ingress.retry.1000ms', 'chat-ingress.ordered.retry.60000ms',
    ]);
    expect(DEFAULT_RETRY_DELAYS_MS).toEqual([1_000, 10_000, 60_000, 300_000, 1_800_000]);
  });
});
