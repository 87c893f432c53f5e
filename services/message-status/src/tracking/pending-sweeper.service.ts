import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Outbox } from '@elo/messaging';
import { createLogger } from '@elo/observability';
import { DataSource } from 'typeorm';
import { toEvents } from './status.consumer';
import { TrackingService } from './tracking.service';

const INTERVAL_MS = 2_000;

/**
 * A status and the `sent` of its message can commit at the same moment in two transactions that
 * cannot see each other; the status then waits in `pending_statuses` with its message already known.
 * This sweeper links such statuses within a couple of seconds (any replica; rows are claimed with
 * SKIP LOCKED).
 */
@Injectable()
export class PendingSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = createLogger('message-status').child({ component: 'pending-sweeper' });
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
    private readonly tracking: TrackingService,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.sweep().catch((err: Error) => this.logger.warn({ err: err.message }, 'pending sweep failed')).finally(() => (this.running = undefined));
    }, INTERVAL_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Links what it can; returns how many statuses it applied. */
  async sweep(): Promise<number> {
    return this.ds.transaction(async (m) => {
      const inputs = await this.tracking.sweepPending(m);
      if (inputs.length === 0) return 0;
      const changes = await this.tracking.apply(m, inputs);
      if (changes.length > 0) {
        await this.outbox.add(m, toEvents(changes).map((s) => this.outbox.event({ ...s, data: s.data as Record<string, unknown> })));
        await this.tracking.notify(m, changes);
      }
      return inputs.length;
    });
  }
}
