import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { createLogger } from '@elo/observability';
import { EventEmitter } from 'node:events';
import { Client } from 'pg';
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
  private client?: Client;
  private stopped = false;
  private retryTimer?: NodeJS.Timeout;
  /** False while the LISTEN connection is down (streams say so to their clients). */
  connected = false;

  constructor(@Inject(LIVE_FEED_OPTIONS) private readonly opts: LiveFeedOptions) {
    this.emitter.setMaxListeners(0);
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.connect().catch(() => this.scheduleReconnect());
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.endStreams();
    await this.client?.end().catch(() => undefined);
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

  private async connect(): Promise<void> {
    const client = new Client({ connectionString: this.opts.databaseUrl, application_name: 'message-status-live' });
    client.on('error', (err) => {
      this.logger.warn({ err: err.message }, 'live feed connection lost');
      this.connected = false;
      void client.end().catch(() => undefined);
      if (this.client === client) this.client = undefined;
      this.scheduleReconnect();
    });
    client.on('notification', (n) => {
      // Nobody streaming from this replica: nothing to parse (a payload carries up to 7 kB of changes).
      if (n.channel !== CHANGES_CHANNEL || !n.payload || this.emitter.listenerCount('changes') === 0) return;
      try {
        this.emitter.emit('changes', JSON.parse(n.payload) as LiveChange[]);
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'bad live feed payload');
      }
    });
    await client.connect();
    await client.query(`LISTEN "${CHANGES_CHANNEL}"`);
    this.client = client;
    this.connected = true;
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect().catch(() => this.scheduleReconnect());
    }, 1_000);
    this.retryTimer.unref();
  }
}
