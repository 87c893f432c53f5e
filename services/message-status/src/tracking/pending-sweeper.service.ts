import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Outbox } from '@elo/messaging';
import { createLogger } from '@elo/observability';
import { periodic, type Periodic } from '@elo/platform';
import { DataSource } from 'typeorm';
import { toEvents } from './status.consumer';
import { TrackingService } from './tracking.service';

const INTERVAL_MS = 2_000;

export const PENDING_EXPIRY = Symbol('PENDING_EXPIRY');

export interface PendingExpiry {
  /** A status still waiting for its message after this long is deleted (PENDING_STATUS_MAX_AGE_MINUTES). */
  maxAgeMs: number;
  /** How often expired statuses are looked for (PENDING_STATUS_CLEANUP_INTERVAL_MS). */
  intervalMs: number;
}

/**
 * A status and the `sent` of its message can commit at the same moment in two transactions that
 * cannot see each other; the status then waits in `pending_statuses` with its message already known.
 * This sweeper links such statuses within a couple of seconds (any replica; rows are claimed with
 * SKIP LOCKED). On a slower schedule it deletes statuses whose message never appeared: without that
 * they would pile up, and every sweep would scan them.
 */
@Injectable()
export class PendingSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = createLogger('message-status').child({ component: 'pending-sweeper' });
  private schedules: Periodic[] = [];

  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
    private readonly tracking: TrackingService,
    @Inject(PENDING_EXPIRY) private readonly expiry: PendingExpiry,
  ) {}

  onApplicationBootstrap(): void {
    this.schedules = [
      periodic(INTERVAL_MS, () => this.sweep(), (err) => this.logger.warn({ err: err.message }, 'pending sweep failed')),
      periodic(this.expiry.intervalMs, () => this.expire(), (err) => this.logger.warn({ err: err.message }, 'pending cleanup failed')),
    ];
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.schedules.map((s) => s.stop()));
  }

  /** Links what it can; returns how many statuses it applied. */
  async sweep(): Promise<number> {
    return this.ds.transaction(async (m) => {
      const inputs = await this.tracking.sweepPending(m);
      if (inputs.length === 0) return 0;
      const changes = await this.tracking.apply(m, inputs);
      // `apply` announced the changes to live streams; they go on the bus too.
      if (changes.length > 0) {
        await this.outbox.add(m, toEvents(changes).map((s) => this.outbox.event({ ...s, data: s.data as Record<string, unknown> })));
      }
      return inputs.length;
    });
  }

  /** Deletes the statuses that waited longer than the configured age; returns how many. */
  async expire(): Promise<number> {
    const deleted = await this.tracking.expirePending(this.ds.manager, new Date(Date.now() - this.expiry.maxAgeMs));
    if (deleted > 0) {
      this.logger.warn({ deleted, maxAgeMinutes: Math.round(this.expiry.maxAgeMs / 60_000) }, 'deleted statuses whose message never appeared');
    }
    return deleted;
  }
}
