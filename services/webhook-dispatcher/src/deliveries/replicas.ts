import { randomUUID } from 'node:crypto';
import { periodic, type Periodic } from '@elo/platform';
import type { DataSource } from 'typeorm';

const S = '"dispatcher"';
/** How often a replica says it is alive and counts the others. */
export const REPLICA_HEARTBEAT_MS = 5_000;
/** A replica not heard from for this long counts as gone (its share goes to the others). */
export const REPLICA_GONE_MS = 3 * REPLICA_HEARTBEAT_MS;
/** Rows of replicas not heard from for this long are deleted (a crashed replica's row). */
const REPLICA_FORGOTTEN_MS = 3_600_000;

interface Logger {
  warn(obj: object, msg: string): void;
}

/**
 * This replica among the live ones (`dispatcher.replicas`, a heartbeat each): how many there are (`count`,
 * itself included) and its place among them by id (`rank`, from 0). Each integration's limits are shared
 * between them by these two (the claim query computes the shares). A failed heartbeat keeps the last values.
 */
export class ReplicaMembership {
  readonly id = randomUUID();
  count = 1;
  rank = 0;
  private schedule?: Periodic;

  constructor(private readonly ds: DataSource, private readonly logger: Logger) {}

  async start(): Promise<void> {
    await this.heartbeat().catch((err: Error) => this.warn(err));
    this.schedule = periodic(REPLICA_HEARTBEAT_MS, () => this.heartbeat(), (err) => this.warn(err));
  }

  async stop(): Promise<void> {
    await this.schedule?.stop();
    await this.ds.query(`DELETE FROM ${S}.replicas WHERE id = $1`, [this.id])
      .catch((err: Error) => this.logger.warn({ err: err.message }, 'removing this replica from the live ones failed'));
  }

  /** Says this replica is alive (its row written again if it was deleted), forgets long-gone ones, counts the live ones. */
  async heartbeat(): Promise<void> {
    // The statement's snapshot does not see its own upsert: this replica is added to the live ones by hand.
    const rows = (await this.ds.query(
      `WITH me AS (
         INSERT INTO ${S}.replicas (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET seen_at = now() RETURNING id
       ), forgotten AS (
         DELETE FROM ${S}.replicas WHERE seen_at < now() - make_interval(secs => $3)
       )
       SELECT id FROM ${S}.replicas WHERE seen_at > now() - make_interval(secs => $2) AND id <> $1
       UNION SELECT id FROM me
       ORDER BY id`,
      [this.id, REPLICA_GONE_MS / 1000, REPLICA_FORGOTTEN_MS / 1000],
    )) as Array<{ id: string }>;
    const rank = rows.findIndex((r) => r.id === this.id);
    if (rank < 0) throw new Error('this replica is missing from the live ones');
    this.count = rows.length;
    this.rank = rank;
  }

  private warn(err: Error): void {
    this.logger.warn({ err: err.message, count: this.count, rank: this.rank }, 'replica heartbeat failed; keeping the last count of live replicas');
  }
}
