import { createEvent, type CloudEvent } from '@elo/contracts';
import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { BusProbe } from '../src/bus-probe';
import type { BatchHandler } from '../src/types';
import { effectsOf, migrate, recordEffects, SCHEMA, startNode, type BusNode } from './harness';

/** Events handled by an `idempotent` handler skip the inbox; everything else keeps it. */
describe('bus: idempotent handlers skip the inbox', () => {
  let infra: TestInfra;
  let node: BusNode | undefined;
  let probe: BusProbe;

  const closed = (reason: string): CloudEvent =>
    createEvent({
      type: 'chat.conversation.closed', tenantId: 't', source: 'elo://test',
      data: { conversationId: '00000000-0000-4000-8000-000000000001', channelId: '00000000-0000-4000-8000-000000000002', reason },
    });
  const inboxRows = async (id: string): Promise<number> =>
    ((await node!.ds.query(`SELECT count(*)::int AS n FROM "${SCHEMA}".inbox WHERE event_id = $1`, [id])) as Array<{ n: number }>)[0].n;

  beforeAll(async () => {
    infra = await createTestInfra('bus_idempotent');
    await migrate(infra.databaseUrl);
    probe = await BusProbe.connect(infra.amqpUrl, []);
  });

  afterEach(async () => {
    await node?.stop();
    node = undefined;
  });

  afterAll(async () => {
    await probe?.close();
    await infra?.cleanup();
  });

  it('writes no inbox row for an idempotent handler\'s events, so a redelivery reaches the handler again', async () => {
    node = await startNode({
      databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, relay: false,
      handler: { type: 'chat.conversation.closed', batch: true, idempotent: true, fn: recordEffects },
    });
    const e = closed('idempotent');
    await probe.publish(e);
    await expectEventually(async () => expect(await effectsOf(node!.ds, e.id)).toBe(1));
    // The effects table has no unique key: a second handling shows as a second row (a real idempotent
    // handler's keyed rows would absorb it).
    await probe.publish(e);
    await expectEventually(async () => expect(await effectsOf(node!.ds, e.id)).toBe(2));
    expect(await inboxRows(e.id)).toBe(0);
  });

  it('retries an idempotent handler that failed, with no inbox row to undo', async () => {
    const failing: BatchHandler = async (events, ctx) => {
      if (ctx.attempt === 1) throw new Error('not yet');
      await recordEffects(events, ctx);
    };
    node = await startNode({
      databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, relay: false, retryDelaysMs: [100, 200],
      handler: { type: 'chat.conversation.closed', batch: true, idempotent: true, fn: failing },
    });
    const e = closed('retried');
    await probe.publish(e);
    await expectEventually(async () => expect(await effectsOf(node!.ds, e.id)).toBe(1));
    expect(await inboxRows(e.id)).toBe(0);
  });

  it('keeps the inbox by default: a redelivered event is skipped', async () => {
    node = await startNode({
      databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, relay: false, concurrency: 1,
      handler: { type: 'chat.conversation.closed', batch: true, fn: recordEffects },
    });
    const e = closed('default');
    await probe.publish(e);
    await expectEventually(async () => expect(await inboxRows(e.id)).toBe(1));
    await probe.publish(e);
    // One batch at a time: a later event handled means the redelivery before it was handled too.
    const after = closed('after');
    await probe.publish(after);
    await expectEventually(async () => expect(await effectsOf(node!.ds, after.id)).toBe(1));
    expect(await effectsOf(node!.ds, e.id)).toBe(1);
  });
});
