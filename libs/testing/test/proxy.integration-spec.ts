import { Client } from 'pg';
import { createTestInfra, startTcpProxy, viaProxy } from '../src';

describe('tcp proxy', () => {
  it('carries a PostgreSQL session and cuts it on pause', async () => {
    const infra = await createTestInfra('proxy');
    const u = new URL(infra.databaseUrl);
    const p = await startTcpProxy(u.hostname, Number(u.port || 5432));
    try {
      const c = new Client({ connectionString: viaProxy(infra.databaseUrl, p), connectionTimeoutMillis: 3000 });
      await c.connect();
      expect((await c.query('select 1 as x')).rows).toEqual([{ x: 1 }]);
      c.on('error', () => undefined);
      p.pause();
      await expect(c.query('select 1')).rejects.toThrow();
    } finally {
      await p.close();
      await infra.cleanup();
    }
  });
});
