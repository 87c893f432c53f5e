import { createTestInfra, expectEventually, type TestInfra } from '@elo/testing';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { afterCommit, createServiceDataSource, PostCommitNotifier } from '../src';

describe('afterCommit and PostCommitNotifier', () => {
  let infra: TestInfra;
  let ds: DataSource;

  beforeAll(async () => {
    infra = await createTestInfra('after-commit');
    ds = createServiceDataSource({ url: infra.databaseUrl, schema: 'public', poolSize: 4 });
    await ds.initialize();
    await ds.query('CREATE TABLE IF NOT EXISTS after_commit_rows (v text NOT NULL)');
  });

  afterAll(async () => {
    await ds?.destroy();
    await infra?.cleanup();
  });

  it('runs after the outermost commit, when the row is visible to others, and not before', async () => {
    const seen: number[] = [];
    await ds.transaction(async (m) => {
      await m.query(`INSERT INTO after_commit_rows VALUES ('committed')`);
      afterCommit(m, () => seen.push(1));
      // A savepoint released inside the transaction is not its commit.
      await m.transaction(async (inner) => {
        afterCommit(inner, () => seen.push(2));
      });
      expect(seen).toEqual([]);
    });
    expect(seen).toEqual([1, 2]);
    const [row] = await ds.query(`SELECT count(*)::int AS n FROM after_commit_rows WHERE v = 'committed'`);
    expect(row.n).toBe(1);
  });

  it('never runs for a transaction that rolls back, nor carries over to the next one', async () => {
    const seen: string[] = [];
    const qr = ds.createQueryRunner();
    try {
      await qr.startTransaction();
      afterCommit(qr.manager, () => seen.push('rolled back'));
      await qr.rollbackTransaction();
      await qr.startTransaction();
      afterCommit(qr.manager, () => seen.push('second'));
      await qr.commitTransaction();
    } finally {
      await qr.release();
    }
    expect(seen).toEqual(['second']);
  });

  it('runs at once for a manager outside a transaction (its statements have committed)', async () => {
    let ran = false;
    afterCommit(ds.manager, () => (ran = true));
    expect(ran).toBe(true);
  });

  it('notifies listeners after the commit, merging identical wake-ups, and nothing for a rollback', async () => {
    const listener = new Client({ connectionString: infra.databaseUrl });
    await listener.connect();
    const heard: Array<{ channel: string; payload: string }> = [];
    listener.on('notification', (n) => heard.push({ channel: n.channel, payload: n.payload ?? '' }));
    await listener.query('LISTEN after_commit_a');
    await listener.query('LISTEN after_commit_b');
    const notifier = new PostCommitNotifier(ds);
    try {
      await ds
        .transaction(async (m) => {
          notifier.notifyAfterCommit(m, 'after_commit_a', 'rolled back');
          throw new Error('abort');
        })
        .catch(() => undefined);
      await ds.transaction(async (m) => {
        for (let i = 0; i < 5; i++) notifier.notifyAfterCommit(m, 'after_commit_a');
        notifier.notifyAfterCommit(m, 'after_commit_b', 'x');
        notifier.notifyAfterCommit(m, 'after_commit_b', 'y');
      });
      await expectEventually(() => expect(heard).toHaveLength(3));
      expect(heard).toEqual(
        expect.arrayContaining([
          { channel: 'after_commit_a', payload: '' },
          { channel: 'after_commit_b', payload: 'x' },
          { channel: 'after_commit_b', payload: 'y' },
        ]),
      );
      // A later, separate notification arrives on its own: the rolled-back one never does.
      notifier.notify('after_commit_a', 'last');
      await expectEventually(() => expect(heard.map((h) => h.payload)).toContain('last'));
      expect(heard.map((h) => h.payload)).not.toContain('rolled back');
    } finally {
      await listener.end();
    }
  });
});
