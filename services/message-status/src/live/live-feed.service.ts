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

  constructor(@Inject(LIVE_FEED_OPTIONS) opts: LiveFeedOptions) {
    this.emitter.setMaxListeners(0);
    this.listener = new PgListener({
      databaseUrl: opts.databaseUrl,
      channels: [CHANGES_CHANNEL],
      applicationName: 'message-status-live',
      onNotification: (_channel, payload) => this.received(payload),
      onLost: (err) => this.logger.warn({ err: err.message }, 'live feed connection lost'),
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

  /** Calls `fn` with every change of `tenantId` until the returned function is called. */
  subscribe(tenantId: string, fn: (change: LiveChange) => void, onEnd?: () => void): () => void {
    const listener = (changes: LiveChange[]) => {
      for (const c of changes) if (c.tenantId === tenantId) fn(c);
    };
    this.emitter.on('changes', listener);
    if (onEnd) this.emitter.on('end', onEnd);
    return () => {
      this.emitter.off('changes', listener);
      if (onEnd) this.emitter.off('end', onEnd);
    };
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
