import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { createLogger } from '@elo/observability';
import { EventEmitter } from 'node:events';
import { PgListener } from '@elo/persistence';
import { CHANGES_CHANNEL, type LiveChange } from '../tracking/tracking.service';

export const LIVE_FEED_OPTIONS = Symbol('LIVE_FEED_OPTIONS');

export interface LiveFeedOptions {
  /** The service database; the feed holds one extra connection for LISTEN. */
  databaseUrl: string;
}

/**
 * The live side of the service: every replica LISTENs on the schema's change channel, so each
 * replica's stream clients see every change, whichever replica applied it. Changes are announced
 * only after their transaction has committed, so nothing rolled back is ever streamed.
 */
@Injectable()
export class LiveFeed implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = createLogger('message-status').child({ component: 'live-feed' });
  private readonly emitter = new EventEmitter();
  private readonly listener: PgListener;
  /** Whether streams were told the feed is down, so each failed retry does not tell them again. */
  private down = false;

  constructor(@Inject(LIVE_FEED_OPTIONS) opts: LiveFeedOptions) {
    this.emitter.setMaxListeners(0);
    this.listener = new PgListener({
      databaseUrl: opts.databaseUrl,
      channels: [CHANGES_CHANNEL],
      applicationName: 'message-status-live',
      onNotification: (_channel, payload) => this.received(payload),
      onLost: (err) => this.lost(err),
      onConnected: () => this.connectedAgain(),
    });
  }

  /** False while the LISTEN connection is down (streams say so to their clients). */
  get connected(): boolean {
    return this.listener.connected;
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.listener.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.endStreams();
    await this.listener.stop();
  }

  /** Ends every open stream (shutdown); clients reconnect, to another replica if this one is going away. */
  endStreams(): void {
    this.emitter.emit('end');
  }

  /**
   * Calls `on.change` with every change of `tenantId`, `on.state` when the feed goes down (changes are
   * missed from then on) and when it is back (what was missed must be read again), until the returned
   * function is called.
   */
  subscribe(tenantId: string, on: { change: (change: LiveChange) => void; state?: (live: boolean) => void; end?: () => void }): () => void {
    const listener = (changes: LiveChange[]) => {
      for (const c of changes) if (c.tenantId === tenantId) on.change(c);
    };
    this.emitter.on('changes', listener);
    if (on.state) this.emitter.on('state', on.state);
    if (on.end) this.emitter.on('end', on.end);
    return () => {
      this.emitter.off('changes', listener);
      if (on.state) this.emitter.off('state', on.state);
      if (on.end) this.emitter.off('end', on.end);
    };
  }

  private lost(err: Error): void {
    this.logger.warn({ err: err.message }, 'live feed connection lost; streams are told, and told again when it is back');
    if (this.down) return;
    this.down = true;
    this.emitter.emit('state', false);
  }

  private connectedAgain(): void {
    if (!this.down) return;
    this.down = false;
    this.logger.info('live feed connection back');
    this.emitter.emit('state', true);
  }

  private received(payload: string): void {
    // Nobody streaming from this replica: nothing to parse (a payload carries up to 7 kB of changes).
    if (!payload || this.emitter.listenerCount('changes') === 0) return;
    try {
      this.emitter.emit('changes', JSON.parse(payload) as LiveChange[]);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'bad live feed payload');
    }
  }
}
