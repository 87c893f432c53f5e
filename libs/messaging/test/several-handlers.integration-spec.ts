import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { BusProbe } from '../src/bus-probe';
import type { SingleHandler } from '../src/types';
import { closedEvent, counts, migrate, recordEffects, SCHEMA, SERVICE, startNode, type BusNode } from './harness';

describe('bus: several handlers of one event type in one service', () => {
  let infra: TestInfra;
  let node: BusNode | undefined;

  beforeAll(async () => {
    infra = await createTestInfra('bus_several_handlers');
    await migrate(infra.databaseUrl);
  });

  afterAll(async () => {
    await node?.stop();
    await infra?.cleanup();
  });

  it('when one handler of an event throws, the effects of its other handlers are rolled back too, so the retry does not double them', async () => {
    node = await startNode({
      databaseUrl: infra.databaseUrl,
      amqpUrl: infra.amqpUrl,
      relay: false,
      retryDelaysMs: [100, 200],
      handler: { type: 'chat.conversation.closed', batch: true, fn: recordEffects },
    });
    // A second handler of the same type that fails the first attempt only.
    const attempts: number[] = [];
    const flaky: SingleHandler = async (_event, ctx) => {
      attempts.push(ctx.attempt);
      if (ctx.attempt === 1) throw new Error('transient');
    };
    node.consumers.register({ type: 'chat.conversation.closed', batch: false, name: 'flaky', fn: flaky });
    const ds = node.ds;
    await ds.query(`TRUNCATE "${SCHEMA}".effects`);
    const event = closedEvent(node, 'r');
    const probe = await BusProbe.connect(infra.amqpUrl, []);
    try {
      await probe.publish(event);
    } finally {
      await probe.close();
    }
    // Handled for good once the inbox holds it (written in the transaction of the successful attempt).
    await expectEventually(async () => {
      const rows = (await ds.query(`SELECT 1 FROM "${SCHEMA}".inbox WHERE consumer = $1 AND event_id = $2`, [SERVICE, event.id])) as unknown[];
      expect(rows).toHaveLength(1);
    }, { timeoutMs: 10_000 });
    expect(attempts).toEqual([1, 2]);
    expect(await counts(ds)).toEqual({ total: 1, distinct: 1 });
  });
});
