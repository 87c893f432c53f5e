import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { busMetrics } from '@elo/observability';
import { PgListener, PostCommitNotifier } from '@elo/persistence';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { BusConnection } from './connection';
import { outboxChannel } from './outbox';
import { EVENTS_EXCHANGE } from './topology';
import { messagesOf, type OutgoingMessage } from './wire';

export interface OutboxRelayOptions {
  schema: string;
  databaseUrl: string;
  /** Rows published per round trip (each batch waits for its confirms once). */
  batchSize?: number;
  /** Polling fallback when no NOTIFY arrives. */
  pollIntervalMs?: number;
  /** How often inbox rows past 30 days are deleted. */
  cleanupIntervalMs?: number;
  /**
   * Batches in flight at once (default 2): while one waits for the broker's confirms, the next is
   * claimed and published. SKIP LOCKED keeps them on different rows. Since a run of events travels in
   * one message, more did not help: 4 loops walked more rows locked by each other (bench, 4 December:
   * bus 13,847 events/s with 4, 16,209 with 2, 15,384 with 1).
   */
  concurrency?: number;
  /**
   * How long a batch waits for the broker's confirms (default 30 s). Past it the batch fails: its claim rolls
   * back, so its rows are unlocked and pending again (other replicas publish them), and the channel is dropped
   * for a new connection. Without it a link gone silently dead held the claim's transaction and row locks
   * open until the connection's heartbeat (the broker's, 60 s by default) missed twice.
   */
  confirmTimeoutMs?: number;
  /**
   * How long this replica goes on without its lease connection (the LISTEN connection cannot be opened: the server's
   * connection limit, a pooler that keeps no sessions) before it publishes without the lease (default 10 s): its events
   * are then neither lost nor held, only their order across replicas is not kept until the connection is back.
   */
  leaseGraceMs?: number;
}

const DEFAULT_CONFIRM_TIMEOUT_MS = 30_000;

/**
 * How long past confirmTimeoutMs the server lets a claim's transaction sit idle before it ends the session, and so the
 * claim (see publishBatch). A claim whose client went without a word (its host died; a pool connection has no keepalive
 * of its own) otherwise held its rows until the operating system's keepalive, two hours by default: every other claim
 * skipped them, and a new leader waits for them (see lease).
 */
const CLAIM_IDLE_MARGIN_MS = 10_000;

/** How often a replica that took the lease looks whether the claims other sessions hold have ended (see lease). */
const CLAIMS_CHECK_MS = 100;

/** A claim made as this replica lost the lease: rolled back, its rows left to the new leader. */
class LeaseLost extends Error {}

/** A claimed row, whole (an event the broker returns is written back from it). */
interface OutboxRow {
  id: string;
  event_id: string;
  type: string;
  tenant_id: string;
  body: string;
  created_at: Date;
  attempts: number;
}

/**
 * Publishes outbox rows with publisher confirms. Rows are claimed with FOR UPDATE SKIP LOCKED and deleted
 * by the same statement, published in batches, and the deletes commit once the broker confirmed every
 * message; a crash before commit leaves them in place and they are published again (the inbox drops the
 * duplicates). The outbox holds only what is still to publish.
 *
 * One replica publishes a schema's outbox at a time: the one holding the relay's lease, a session-level
 * advisory lock on its LISTEN connection, taken only while it has a broker channel. Its claims take turns
 * on one channel, so events leave in the order they were written, across replicas too (two replicas
 * publishing at once could each send a batch, on two connections, in either order). The others stand by
 * and try for the lease at every poll; a leader that dies, or loses its database or broker connection,
 * frees it (the server drops a dead client's session within about 15 s: keepalives below).
 * Woken in-process when a writer's transaction commits (`committed`), by LISTEN/NOTIFY when a replica
 * that does not lead wrote rows, and by a polling fallback.
 *
 * A handover can find the old leader's claims still open: its lease connection died and the server freed the lock,
 * but the pool connection holding a claim's transaction lives on. The new leader would skip those locked rows and
 * publish later ones, and if that claim then rolled back (a failed publish, no confirms, a return) its events went
 * out after theirs. So a replica that takes the lease publishes only once no other session holds a claim on the
 * outbox (a claim's transaction holds ROW SHARE on the table; writers take only ROW EXCLUSIVE): one look at pg_locks
 * at acquisition, repeated while a claim is open, nothing on the hot path. The server ends every claim's transaction
 * once it has been idle for confirmTimeoutMs and a margin, so a dead client's claim holds that wait (and its rows)
 * that long, not until the operating system's keepalive; past that bound the new leader publishes anyway and says
 * so. The old leader, once it knows it lost the lease, claims nothing more: a claim waiting for its turn gives up,
 * and one whose statement was under way rolls back instead of publishing.
 */
export class OutboxRelay {
  private channel?: ConfirmChannel;
  /** The connection `channel` is on. */
  private model?: ChannelModel;
  private listener?: PgListener;
  private running = false;
  private loop?: Promise<void>;
  private wakers: Array<() => void> = [];
  private pending = false;
  private timers: NodeJS.Timeout[] = [];
  private readonly returned = new Set<string>();
  private readonly notifier: PostCommitNotifier;
  /** The batch whose claim and publish go before the next one's (see publishBatch). */
  private turn: Promise<void> = Promise.resolve();
  /** Whether this replica holds the lease (see the class). */
  private leading = false;
  private leasing?: Promise<void>;
  /** Since when the lease connection is down (see leaseGraceMs); undefined while it is up. */
  private leaseDownSince?: number;
  private leaseless = false;
  /** The settings of every claim's transaction (see publishBatch). */
  private readonly claimSettings: string;

  constructor(
    private readonly ds: DataSource,
    private readonly bus: BusConnection,
    private readonly opts: OutboxRelayOptions,
    private readonly logger: Logger,
  ) {
    // Whole milliseconds in the statement (the option is a number: nothing else can reach the SQL).
    this.claimSettings =
      'SET LOCAL synchronous_commit = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off; ' +
      `SET LOCAL idle_in_transaction_session_timeout = ${Math.ceil(this.claimIdleLimitMs)}`;
    this.notifier = new PostCommitNotifier(ds, (err) => this.logger.warn({ err: err.message }, 'outbox NOTIFY failed; replicas poll'));
  }

  /** Opens a confirm channel on every (re)connect. */
  attach(): void {
    this.bus.onConnect(async (model) => {
      const ch = await model.createConfirmChannel();
      // The broker closed the channel (the connection is up): without a channel the relay would stop for good.
      ch.on('error', (err: Error) => this.bus.restart(model, `relay channel: ${err.message}`));
      ch.on('close', () => {
        if (this.channel !== ch && this.channel !== undefined) return;
        this.channel = undefined;
        // No broker here: a replica that has one takes over.
        void this.release();
      });
      ch.on('return', (msg) => this.returned.add(String(msg.properties.messageId)));
      this.channel = ch;
      this.model = model;
      await this.lease();
      this.kick();
    });
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.leaseDownSince = Date.now();
    this.listener = new PgListener({
      databaseUrl: this.opts.databaseUrl,
      channels: [outboxChannel(this.opts.schema)],
      onNotification: () => this.kick(),
      // Rows announced while it was down are found now (and by polling meanwhile).
      onConnected: () => {
        this.leaseDownSince = undefined;
        void this.lease().then(() => this.kick());
      },
      onLost: (err) => {
        // The lease went with the connection (the server frees the lock when the session ends).
        if (this.leading) this.logger.warn('outbox relay lease lost with its connection');
        this.leading = false;
        this.leaseDownSince ??= Date.now();
        this.logger.warn({ err: err.message }, 'outbox LISTEN connection lost; another replica publishes, or this one once it is back');
      },
    });
    await this.listener.start();
    this.timers.push(
      setInterval(() => {
        if (!this.leading) void this.lease();
        this.kick();
      }, this.opts.pollIntervalMs ?? 1_000),
    );
    this.timers.push(setInterval(() => void this.cleanup(), this.opts.cleanupIntervalMs ?? 60_000));
    this.timers.push(setInterval(() => void this.measureBacklog(), 5_000));
    for (const t of this.timers) t.unref();
    this.loop = Promise.all(Array.from({ length: this.opts.concurrency ?? 2 }, () => this.run())).then(() => undefined);
  }

  /** Stops after publishing what is pending (bounded by `timeoutMs`). */
  async stop(timeoutMs = 5_000): Promise<void> {
    if (!this.running) return;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.mayPublish() && this.channel && (await this.backlog()) > 0) {
      this.kick();
      await new Promise((r) => setTimeout(r, 20));
    }
    this.running = false;
    this.kick();
    for (const t of this.timers.splice(0)) clearInterval(t);
    await this.loop;
    // Closing the connection frees the lease.
    this.leading = false;
    await this.listener?.stop();
    this.listener = undefined;
  }

  /** Whether this replica publishes the outbox now (holds the lease). */
  get isLeading(): boolean {
    return this.leading;
  }

  /** Whether this replica publishes now: it holds the lease, or its lease connection has been down past leaseGraceMs. */
  private mayPublish(): boolean {
    if (this.leading) return true;
    const down = this.leaseDownSince !== undefined && Date.now() - this.leaseDownSince >= (this.opts.leaseGraceMs ?? 10_000);
    if (down !== this.leaseless) {
      this.leaseless = down;
      if (down) this.logger.warn('outbox relay publishing without the lease: its connection cannot be opened (order across replicas is not kept meanwhile)');
    }
    return down;
  }

  private get leaseKey(): string {
    return `elo.outbox-relay:${this.opts.schema}`;
  }

  /** How long a claim's transaction may sit idle before the server ends it (see CLAIM_IDLE_MARGIN_MS). */
  private get claimIdleLimitMs(): number {
    return (this.opts.confirmTimeoutMs ?? DEFAULT_CONFIRM_TIMEOUT_MS) + CLAIM_IDLE_MARGIN_MS;
  }

  /** Tries for the lease once (see the class); a no-op while leading, without a broker channel or without the connection. */
  private lease(): Promise<void> {
    this.leasing ??= (async () => {
      const listener = this.listener;
      if (this.leading || !this.running || !this.channel || !listener?.connected) return;
      try {
        // One round trip. A client gone without a word (its host died) would otherwise keep the lock until the operating
        // system's keepalive, two hours by default: the server probes an idle session after 5 s, every 3 s, 3 times.
        const [row] = await listener.query<{ ok: boolean }>(
          `SELECT set_config('tcp_keepalives_idle', '5', false), set_config('tcp_keepalives_interval', '3', false),
                  set_config('tcp_keepalives_count', '3', false), pg_try_advisory_lock(hashtextextended($1, 0)) AS ok`,
          [this.leaseKey],
        );
        if (!row?.ok) return;
        const current = () => this.listener === listener && listener.connected && this.channel !== undefined && this.running;
        if (!current() || !(await this.othersClaimsEnded(listener, current)) || !current()) return this.unlock(listener);
        this.leading = true;
        this.logger.info('outbox relay lease taken: this replica publishes');
        // The wait may have outlasted the kicks that came with it.
        this.kick();
      } catch (err) {
        // The connection broke: onLost reports it and the next connection tries again.
        this.logger.debug({ err: (err as Error).message }, 'outbox relay lease not taken');
      }
    })().finally(() => (this.leasing = undefined));
    return this.leasing;
  }

  /**
   * Having just taken the lease: resolves once no other session holds a claim on this schema's outbox (see the class), or
   * past the longest a claim of a replica configured like this one can last (it then publishes anyway: the order across
   * this handover is not kept). Resolves false when `current` says the lease went meanwhile.
   */
  private async othersClaimsEnded(listener: PgListener, current: () => boolean): Promise<boolean> {
    // A claim's statement takes ROW SHARE on the table (its FOR UPDATE) and holds it until its transaction ends.
    const sql = `SELECT EXISTS (SELECT 1 FROM pg_locks
                  WHERE locktype = 'relation' AND mode = 'RowShareLock' AND pid <> pg_backend_pid()
                    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    AND relation = to_regclass($1)) AS held`;
    const outbox = `"${this.opts.schema}".outbox`;
    const deadline = Date.now() + this.claimIdleLimitMs + CLAIM_IDLE_MARGIN_MS;
    for (let waited = false; ; waited = true) {
      const [row] = await listener.query<{ held: boolean }>(sql, [outbox]);
      if (!row?.held) {
        if (waited) this.logger.info('outbox relay: the claims other sessions held have ended');
        return true;
      }
      if (!waited) this.logger.info('outbox relay lease taken; waiting for the claims other sessions still hold to end, so their events go out first');
      if (Date.now() >= deadline) {
        this.logger.warn('outbox relay: a claim of another session is still open past its bound; publishing anyway (its events may go out after later ones)');
        return true;
      }
      await new Promise((r) => setTimeout(r, CLAIMS_CHECK_MS));
      if (!current()) return false;
    }
  }

  /** Gives the lease up (this replica lost its broker channel), so a replica that has one publishes. */
  private async release(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    this.logger.warn('outbox relay lease given up: no broker channel');
    // Writers here now ask the leader by NOTIFY; rows already written are found by its poll.
    if (this.listener) await this.unlock(this.listener);
  }

  private async unlock(listener: PgListener): Promise<void> {
    await listener.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [this.leaseKey]).catch(() => undefined);
  }

  /**
   * A transaction that wrote outbox rows has committed in this process: publish them now. When this
   * replica does not lead (see the class), NOTIFY asks the leader to (after the commit, never inside the writer's
   * transaction: see afterCommit).
   */
  committed(): void {
    if (this.running && this.channel && this.mayPublish()) this.kick();
    else this.notifier.notify(outboxChannel(this.opts.schema));
  }

  /** Asks the loop to look for work now. */
  kick(): void {
    this.pending = true;
    for (const w of this.wakers.splice(0)) w();
  }

  async backlog(): Promise<number> {
    const rows: Array<{ n: string }> = await this.ds.query(
      `SELECT count(*) AS n FROM "${this.opts.schema}".outbox`,
    );
    return Number(rows[0]?.n ?? 0);
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (!this.pending) {
        await new Promise<void>((resolve) => this.wakers.push(resolve));
        continue;
      }
      this.pending = false;
      try {
        const published = await this.publishBatch();
        if (published === (this.opts.batchSize ?? 1_000)) this.pending = true;
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'outbox publish failed; will retry');
        await new Promise((r) => setTimeout(r, 200));
        this.pending = true;
      }
    }
  }

  /**
   * Claims and marks one batch in one statement, publishes it and commits once the broker confirmed
   * every message; returns how many rows it published. A failed publish rolls the marks back, so the
   * rows stay pending.
   */
  private async publishBatch(): Promise<number> {
    const ch = this.channel;
    if (!ch || !this.mayPublish()) return 0;
    const schema = this.opts.schema;
    const limit = this.opts.batchSize ?? 1_000;
    const claim = this.ds.transaction(async (m) => {
      // The claim need not wait for the WAL flush: if a crash loses it, the rows are published again and
      // the consumers' inboxes drop the copies. The commit that matters (the writer's) is already durable.
      // The claim walks the primary key in id order and stops at the limit (the planner is kept off a
      // table scan and sort, which it chose with statistics a growing backlog had made stale).
      // Deleting a published row instead of marking it costs PostgreSQL a third of the mark (no new row
      // version, no index entries; 4-5 µs a row against 9-26 µs on this machine) and keeps the table small.
      // The server ends the claim if its client stops answering (see CLAIM_IDLE_MARGIN_MS): its rows unlocked, its events
      // published by another replica. In the same round trip; the server arms a timer while the transaction is idle.
      await m.query(this.claimSettings);
      // Claims take turns, each published before the next claim: the next one then skips these rows (locked) and
      // takes later ids, so the channel carries the events in the order they were written (a subject's events
      // included). Claimed at once, the later claim could lock the earlier ids and publish them second. The waits
      // for the broker's confirms still overlap.
      const before = this.turn;
      let release!: () => void;
      this.turn = new Promise<void>((r) => (release = r));
      await before;
      let messages: Array<OutgoingMessage<OutboxRow>>;
      let rows: OutboxRow[];
      try {
        // The lease may have gone while this claim waited for its turn: the new leader publishes from here on.
        if (!this.mayPublish()) return 0;
        rows = await m.query(
          `WITH claimed AS (
             DELETE FROM "${schema}".outbox AS o
              USING (SELECT id FROM "${schema}".outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) AS c
              WHERE o.id = c.id
             RETURNING o.*)
           SELECT * FROM claimed ORDER BY id`,
          [limit],
        );
        // Or while its statement ran: the rows go back in their place, unpublished, and the new leader (which waits for
        // this claim to end) publishes them before the later ones.
        if (!this.mayPublish()) throw new LeaseLost();
        // Consecutive events of one type travel in one message (see wire.ts); a return fails the whole run.
        messages = messagesOf(rows, (r) => r.event_id, (r) => r.type, (r) => r.body);
        for (const { type, content, contentType, messageId } of messages) {
          ch.publish(EVENTS_EXCHANGE, type, content, { persistent: true, mandatory: true, messageId, contentType, type });
        }
      } finally {
        release();
      }
      if (rows.length === 0) return 0;
      await this.confirmed(ch);
      // The alternate exchange catches unroutable events; a return means even that failed: keep the rows pending.
      const failed = new Set<OutboxRow>();
      for (const m of messages) if (this.returned.delete(m.messageId)) for (const r of m.items) failed.add(r);
      if (failed.size) {
        // Back in place (same id, so same turn), the attempt recorded: the claimed rows as they were, as JSON.
        await m.query(
          `INSERT INTO "${schema}".outbox (id, event_id, type, tenant_id, body, created_at, attempts, last_error)
           SELECT id, event_id, type, tenant_id, body, created_at, attempts + 1, 'returned unroutable'
             FROM json_populate_recordset(NULL::"${schema}".outbox, $1::json)`,
          [JSON.stringify([...failed])],
        );
        this.logger.error({ count: failed.size }, 'events returned as unroutable; kept in the outbox');
      }
      for (const r of rows) if (!failed.has(r)) busMetrics.published.inc({ type: r.type });
      return rows.length - failed.size;
    });
    return claim.catch((err: unknown) => {
      if (!(err instanceof LeaseLost)) throw err;
      this.logger.info('outbox relay: a claim made as the lease went was rolled back; the new leader publishes its rows');
      return 0;
    });
  }

  /** Resolves once the broker confirmed everything published on `ch`; throws after confirmTimeoutMs (see there). */
  private async confirmed(ch: ConfirmChannel): Promise<void> {
    const ms = this.opts.confirmTimeoutMs ?? DEFAULT_CONFIRM_TIMEOUT_MS;
    const confirms = ch.waitForConfirms();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
    try {
      if ((await Promise.race([confirms, timedOut])) !== 'timeout') return;
    } finally {
      clearTimeout(timer);
    }
    confirms.catch(() => undefined); // settles when the channel closes, if ever
    // Its confirms still owed, the channel is of no use: no more batches on it, and a new connection.
    if (this.channel === ch) {
      this.channel = undefined;
      // Now, not when the channel closes: its close cannot complete over a dead link.
      void this.release();
      if (this.model) this.bus.restart(this.model, `relay: no publisher confirms within ${ms} ms`);
    }
    throw new Error(`no publisher confirms within ${ms} ms`);
  }

  private async cleanup(): Promise<void> {
    await this.ds
      .query(`DELETE FROM "${this.opts.schema}".inbox WHERE handled_at < now() - interval '30 days'`)
      .catch((err: Error) => this.logger.warn({ err: err.message }, 'inbox cleanup failed'));
  }

  private async measureBacklog(): Promise<void> {
    try {
      const rows: Array<{ n: string; age: string | null }> = await this.ds.query(
        `SELECT count(*) AS n, extract(epoch FROM now() - min(created_at)) AS age
           FROM "${this.opts.schema}".outbox`,
      );
      busMetrics.outboxBacklog.set(Number(rows[0]?.n ?? 0));
      busMetrics.outboxOldestAgeSeconds.set(Number(rows[0]?.age ?? 0));
    } catch {
      // the database being away is reported by readiness, not here
    }
  }
}
