import type { Outbox } from '@elo/messaging';
import type { DataSource } from 'typeorm';
import { CheckRecordsService, type CheckRecord } from './check-records.service';

const record = (id: string): CheckRecord => ({
  id,
  tenantId: 't',
  via: 'coordinates',
  lat: 1,
  lng: 2,
  status: 'viable',
  boxId: null,
  result: { status: 'viable' },
  event: { id: `e-${id}` } as CheckRecord['event'],
});

/** An outbox whose addWith records each statement's check ids and fails any statement holding `bad`. */
function fakeOutbox(bad?: string) {
  const statements: string[][] = [];
  const outbox = {
    addWith: async (_m: unknown, change: { params: unknown[] }) => {
      const ids = idsOf(change);
      statements.push(ids);
      if (bad && ids.includes(bad)) throw new Error('refused');
      return true;
    },
  };
  return { outbox: outbox as unknown as Outbox, statements };
}

const ds = { manager: {} } as DataSource;

/** The check ids a statement writes (its one parameter: the rows as a JSON array). */
const idsOf = (change: { params: unknown[] }) => (JSON.parse(change.params[0] as string) as Array<{ id: string }>).map((r) => r.id);

describe('CheckRecordsService', () => {
  it('writes the records queued in the same turn with one statement', async () => {
    const { outbox, statements } = fakeOutbox();
    const s = new CheckRecordsService(ds, outbox);
    await Promise.all(['a', 'b', 'c'].map((id) => s.write(record(id))));
    expect(statements).toEqual([['a', 'b', 'c']]);
  });

  it('queues behind busy lanes and writes what queued meanwhile as one group', async () => {
    const statements: string[][] = [];
    const held: Array<() => void> = [];
    const outbox = {
      addWith: (_m: unknown, change: { params: unknown[] }) => {
        statements.push(idsOf(change));
        return new Promise((resolve) => held.push(() => resolve(true)));
      },
    } as unknown as Outbox;
    const turns = async (n: number) => {
      for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
    };
    const s = new CheckRecordsService(ds, outbox);
    const writes = [s.write(record('a'))];
    await turns(2); // lane 1 holds a
    writes.push(s.write(record('b')));
    await turns(2); // lane 2 holds b
    writes.push(...['c', 'd', 'e'].map((id) => s.write(record(id))));
    await turns(2);
    expect(statements).toEqual([['a'], ['b']]);
    held[0]!(); // lane 1 is free again and takes everything queued
    await turns(2);
    expect(statements).toEqual([['a'], ['b'], ['c', 'd', 'e']]);
    for (const release of held.splice(1)) release();
    await Promise.all(writes);
  });

  it('redoes a failed group one record at a time: only the bad record fails', async () => {
    const { outbox, statements } = fakeOutbox('b');
    const s = new CheckRecordsService(ds, outbox);
    const results = await Promise.allSettled(['a', 'b', 'c'].map((id) => s.write(record(id))));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toEqual(new Error('refused'));
    expect(statements).toEqual([['a', 'b', 'c'], ['a'], ['b'], ['c']]);
  });
});
