import { createTestInfra, type TestInfra } from '@elo/testing';
import { DataSource } from 'typeorm';
import { RetentionSweeper, retentionIndex } from '../src';

describe('retention: rows past their days are deleted, in batches, by one replica at a time', () => {
  let infra: TestInfra;
  let ds: DataSource;

  beforeAll(async () => {
    infra = await createTestInfra('retention');
    ds = new DataSource({ type: 'postgres', url: infra.databaseUrl });
    await ds.initialize();
    await ds.query('CREATE SCHEMA logs');
    for (const t of ['receipts', 'kept']) {
      await ds.query(`CREATE TABLE logs.${t} (id bigserial PRIMARY KEY, body text NOT NULL, received_at timestamptz NOT NULL DEFAULT now())`);
    }
    const runner = ds.createQueryRunner();
    await new (retentionIndex('logs.receipts', 'received_at', 'receipts_received_brin'))().up(runner);
    await runner.release();
  });

  afterAll(async () => {
    await ds?.destroy();
    await infra?.cleanup();
  });

  /** `old` rows written `days` days ago (minus a minute), then `recent` rows now, in `table`. */
  async function fill(table: string, old: number, recent: number, days: number): Promise<void> {
    await ds.query(`INSERT INTO logs.${table} (body, received_at) SELECT 'old ' || g, now() - make_interval(days => $2) - interval '1 minute' FROM generate_series(1, $1) g`, [old, days]);
    await ds.query(`INSERT INTO logs.${table} (body) SELECT 'recent ' || g FROM generate_series(1, $1) g`, [recent]);
  }
  const count = async (table: string, like: string) =>
    ((await ds.query(`SELECT count(*)::int AS n FROM logs.${table} WHERE body LIKE $1`, [like])) as Array<{ n: number }>)[0]!.n;

  it('indexes the timestamp with BRIN', async () => {
    const [ix] = (await ds.query("SELECT indexdef FROM pg_indexes WHERE schemaname = 'logs' AND indexname = 'receipts_received_brin'")) as Array<{ indexdef: string }>;
    expect(ix?.indexdef).toMatch(/USING brin \(received_at\)/);
  });

  it('deletes every row older than its days, past several batches, keeps the younger ones, and leaves a table kept for ever alone', async () => {
    await fill('receipts', 12_345, 20, 30);
    // A row 29 days old is inside the retention.
    await ds.query("INSERT INTO logs.receipts (body, received_at) VALUES ('young', now() - interval '29 days')");
    await fill('kept', 50, 5, 400);
    const sweeper = new RetentionSweeper(ds, {
      intervalMs: 0,
      rules: [{ table: 'logs.receipts', column: 'received_at', days: 30 }, { table: 'logs.kept', column: 'received_at', days: 0 }],
    });
    expect(await sweeper.sweep()).toEqual({ 'logs.receipts': 12_345 });
    expect(await count('receipts', 'old %')).toBe(0);
    expect(await count('receipts', 'recent %')).toBe(20);
    expect(await count('receipts', 'young')).toBe(1);
    expect(await count('kept', '%')).toBe(55);
    // Nothing more to do: a second pass deletes nothing.
    expect(await sweeper.sweep()).toEqual({ 'logs.receipts': 0 });
  });

  it('two replicas sweeping at once delete each row once, without error', async () => {
    await fill('receipts', 20_000, 0, 30);
    const rules = [{ table: 'logs.receipts', column: 'received_at', days: 30 }];
    const [a, b] = await Promise.all([new RetentionSweeper(ds, { intervalMs: 0, rules }).sweep(), new RetentionSweeper(ds, { intervalMs: 0, rules }).sweep()]);
    // What one replica skipped while the other held the table, the next pass takes; each row counted once.
    const c = await new RetentionSweeper(ds, { intervalMs: 0, rules }).sweep();
    expect((a['logs.receipts'] ?? 0) + (b['logs.receipts'] ?? 0) + (c['logs.receipts'] ?? 0)).toBe(20_000);
    expect(await count('receipts', 'old %')).toBe(0);
  });
});
