import { randomUUID } from 'node:crypto';
import { createEvent, type CloudEvent } from '@elo/contracts';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { BusProbe } from '../src/bus-probe';
import type { BatchHandler } from '../src/types';
import { counts, migrate, recordEffects, startNode, type BusNode } from './harness';

describe('bus: one batch handler for several event types', () => {
  let infra: TestInfra;
  let node: BusNode | undefined;

  beforeAll(async () => {
    infra = await createTestInfra('bus_multi_type');
    await migrate(infra.databaseUrl);
  });

  afterAll(async () => {
    await node?.stop();
    await infra?.cleanup();
  });

  it('binds the queue to every type and gets the events of all of them from one delivered batch in one call', async () => {
    const calls: string[][] = [];
    const handler: BatchHandler = async (events, ctx) => {
      calls.push(events.map((e) => e.type));
      await recordEffects(events, ctx);
    };
    const options = {
      databaseUrl: infra.databaseUrl,
      amqpUrl: infra.amqpUrl,
      relay: false,
      handler: { type: ['chat.conversation.opened', 'chat.conversation.closed'], batch: true, fn: handler },
    };
    // First start declares the queue and its bindings; the events then wait in the queue, both types
    // interleaved, so the consumer's batches carry both.
    node = await startNode(options);
    await node.stop();
    node = undefined;
    const conversationId = randomUUID();
    const channelId = randomUUID();
    const events: CloudEvent[] = [];
    for (let i = 0; i < 200; i++) {
      events.push(
        createEvent({
          type: 'chat.conversation.opened', tenantId: 'tenant-a', source: 'elo://test',
          data: { conversationId, channelId, provider: 'whatsapp', contact: { phone: '+5541999990000' }, queue: 'bot' },
        }),
        createEvent({ type: 'chat.conversation.closed', tenantId: 'tenant-a', source: 'elo://test', data: { conversationId, channelId, reason: `r${i}` } }),
      );
    }
    const probe = await BusProbe.connect(infra.amqpUrl, []);
    try {
      await probe.publish(...events);
    } finally {
      await probe.close();
    }
    node = await startNode(options);
    const ds = node.ds;
    await expectEventually(async () => expect(await counts(ds)).toEqual({ total: 400, distinct: 400 }), { timeoutMs: 20_000 });
    expect(calls.some((types) => new Set(types).size === 2)).toBe(true);
    expect(calls.flat().sort()).toEqual(events.map((e) => e.type).sort());
  });
});
