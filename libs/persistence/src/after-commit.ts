import type { DataSource, EntityManager, EntitySubscriberInterface, QueryRunner } from 'typeorm';

const PENDING = 'eloAfterCommit';
const hooked = new WeakSet<DataSource>();

type Pending = Array<() => void>;

/** Runs (or drops) what was registered on a query runner when its outermost transaction ends. */
const subscriber: EntitySubscriberInterface = {
  afterTransactionCommit({ queryRunner }: { queryRunner: QueryRunner }): void {
    if (queryRunner.isTransactionActive) return; // a savepoint was released; the transaction goes on
    const pending = queryRunner.data?.[PENDING] as Pending | undefined;
    if (!pending) return;
    delete queryRunner.data[PENDING];
    for (const fn of pending) fn();
  },
  afterTransactionRollback({ queryRunner }: { queryRunner: QueryRunner }): void {
    if (!queryRunner.isTransactionActive) delete queryRunner.data?.[PENDING];
  },
};

/**
 * Runs `fn` once the transaction `manager` belongs to has committed, and never when it rolls back.
 * A manager outside a transaction has already committed its statements, so `fn` runs at once.
 *
 * This is how a writer signals other components (wake a relay, a worker, a live feed) without putting
 * NOTIFY inside its own transaction: PostgreSQL serialises the commits of every transaction that
 * notified (a cluster-wide lock held through the WAL flush), which turned 10,000 commits/s from 8
 * concurrent writers into 1,000.
 */
export function afterCommit(manager: EntityManager, fn: () => void): void {
  const qr = manager.queryRunner;
  if (!qr?.isTransactionActive) {
    fn();
    return;
  }
  const ds = manager.connection;
  if (!hooked.has(ds)) {
    hooked.add(ds);
    ds.subscribers.push(subscriber);
  }
  const data = (qr.data ??= {}) as Record<string, unknown>;
  ((data[PENDING] ??= []) as Pending).push(fn);
}

/** NOTIFY payloads must stay under 8,000 bytes. */
export const NOTIFY_MAX_BYTES = 7_000;

/** pg_notify calls per statement (two parameters each). */
const NOTIFY_PER_STATEMENT = 100;

/**
 * NOTIFY for other processes, sent after the writer's commit and outside its transaction. Calls are
 * coalesced: one round trip at a time per notifier, carrying everything queued meanwhile (identical
 * payloads on a channel merge into one). A notification is a hint (whoever listens also polls or
 * reloads), so it commits without waiting for the WAL flush.
 */
export class PostCommitNotifier {
  private readonly queued = new Map<string, Set<string>>();
  private flushing = false;

  constructor(
    private readonly ds: DataSource,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  /** Sends `payload` on `channel` once `manager`'s transaction has committed. */
  notifyAfterCommit(manager: EntityManager, channel: string, payload = ''): void {
    afterCommit(manager, () => this.notify(channel, payload));
  }

  /** Sends `payload` on `channel` soon (the caller has committed what it announces). */
  notify(channel: string, payload = ''): void {
    let set = this.queued.get(channel);
    if (!set) this.queued.set(channel, (set = new Set()));
    set.add(payload);
    if (this.flushing) return;
    this.flushing = true;
    queueMicrotask(() => void this.flush()); // what else this tick queues goes in the same round trip
  }

  private async flush(): Promise<void> {
    try {
      while (this.queued.size > 0 && this.ds.isInitialized) {
        // Each channel and payload its own parameter: a payload sent inside a text[] would be escaped
        // character by character (JSON is full of quotes).
        const params: string[] = [];
        for (const [channel, set] of this.queued) for (const p of set) params.push(channel, p);
        this.queued.clear();
        for (let i = 0; i < params.length; i += 2 * NOTIFY_PER_STATEMENT) {
          const part = params.slice(i, i + 2 * NOTIFY_PER_STATEMENT);
          const calls = Array.from({ length: part.length / 2 }, (_, k) => `pg_notify($${2 * k + 1}, $${2 * k + 2})`);
          await this.ds
            .query(`SELECT set_config('synchronous_commit', 'off', true), ${calls.join(', ')}`, part)
            .catch((err: Error) => this.onError(err));
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}
