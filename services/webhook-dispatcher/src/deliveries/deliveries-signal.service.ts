import { Injectable } from '@nestjs/common';
import { createLogger } from '@elo/observability';
import { PostCommitNotifier } from '@elo/persistence';
import { DataSource, type EntityManager } from 'typeorm';
import { DELIVERIES_CHANNEL, SERVICE } from '../service-name';

/**
 * Wakes every replica's delivery workers (LISTEN on DELIVERIES_CHANNEL) once the transaction that made
 * deliveries due has committed. The NOTIFY goes out after the commit, never inside it (see afterCommit).
 */
@Injectable()
export class DeliveriesSignal {
  private readonly logger = createLogger(SERVICE).child({ component: 'deliveries-signal' });
  private readonly notifier: PostCommitNotifier;

  constructor(ds: DataSource) {
    this.notifier = new PostCommitNotifier(ds, (err) => this.logger.warn({ err: err.message }, 'NOTIFY failed; workers find the deliveries by polling'));
  }

  dueAfterCommit(manager: EntityManager): void {
    this.notifier.notifyAfterCommit(manager, DELIVERIES_CHANNEL);
  }
}
