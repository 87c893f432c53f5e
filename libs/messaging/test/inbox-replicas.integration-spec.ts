import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { connect, type ChannelModel } from 'amqplib';
import { BusProbe } from '../src/bus-probe';
import { closedEvent, counts, migrate, SCHEMA, SERVICE, startRecordingNode, type BusNode } from './harness';

/** Copies of one event reaching two replicas at once: the inbox lets exactly one of them apply it. */
describe('inbox: the same event delivered to two replicas at once is applied once', () => {
  let infra: TestInfra;
  let model: ChannelModel;
  const nodes: BusNode[] = [];

  beforeAll(async () => {
    infra = await createTestInfra('bus_inbox_replicas');
    await migrate(infra.databaseUrl);
    model = await connect(infra.amqpUrl);
  });

  afterAll(async () => {
    for (const n of nodes.splice(0)) await n.stop();
    await model?.close().catch(() => undefined);
    await infra?.cleanup();
  });

  it('40 events, each published six times in a burst, end as 40 effects on two replicas consuming one queue', async () => {
    const a = await startRecordingNode(infra);
    nodes.push(a);
    const b = await startRecordingNode(infra);
    nodes.push(b);
    const events = Array.from({ length: 40 }, (_, i) => closedEvent(a, `copy-${i}`));
    const probe = await BusProbe.connect(infra.amqpUrl, []);
    try {
      // Copies side by side: consecutive deliveries go to alternate consumers, so each event's copies reach both replicas together.
      await probe.publish(...events.flatMap((e) => [e, e, e, e, e, e]));
    } finally {
      await probe.close();
    }
    await expectEventually(async () => expect((await counts(a.ds)).distinct).toBe(40), { timeoutMs: 30_000 });
    const ch = await model.createChannel();
    try {
      await expectEventually(async () => expect((await ch.checkQueue(SERVICE)).messageCount).toBe(0), { timeoutMs: 30_000 });
    } finally {
      await ch.close();
    }
    // Stopped, a replica finishes and acknowledges what it holds: every copy is settled before the count.
    await b.stop();
    nodes.splice(nodes.indexOf(b), 1);
    await a.consumers.stop();
    expect(await counts(a.ds)).toEqual({ total: 40, distinct: 40 });
    const [inbox] = (await a.ds.query(`SELECT count(*)::int AS n FROM "${SCHEMA}".inbox WHERE consumer = $1`, [SERVICE])) as Array<{ n: number }>;
    expect(inbox!.n).toBe(40);
  }, 90_000);
});

