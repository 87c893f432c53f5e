import { createTestInfra, startTcpProxy, viaProxy, type TcpProxy, type TestInfra } from '@elo/testing';
import { BusConnection } from '../src/connection';
import { logger } from './harness';

describe('BusConnection', () => {
  let infra: TestInfra;
  let proxy: TcpProxy;

  beforeAll(async () => {
    infra = await createTestInfra('bus-connection');
    const amqp = new URL(infra.amqpUrl);
    proxy = await startTcpProxy(amqp.hostname, Number(amqp.port || 5672));
  });

  afterAll(async () => {
    await proxy?.close();
    await infra?.cleanup();
  });

  it('starts over when the connection dies while setting up, even if a setup call is never answered', async () => {
    const bus = new BusConnection({ url: viaProxy(infra.amqpUrl, proxy), name: 'connection-test', logger, maxBackoffMs: 200 });
    let setups = 0;
    bus.onConnect(async () => {
      setups++;
      if (setups === 1) {
        // The first connection dies mid-setup and this call never returns (as an unanswered RPC would).
        proxy.dropAll();
        await new Promise<never>(() => undefined);
      }
    });
    try {
      void bus.start();
      await bus.waitReady(15_000);
      expect(bus.connected).toBe(true);
      expect(setups).toBe(2);
    } finally {
      await bus.close();
    }
  }, 30_000);
});
