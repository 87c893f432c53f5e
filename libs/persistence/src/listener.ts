import { Client } from 'pg';

export interface PgListenerOptions {
  databaseUrl: string;
  /** Channels to LISTEN on (plain identifiers). */
  channels: string[];
  /** Shown in pg_stat_activity. */
  applicationName?: string;
  onNotification: (channel: string, payload: string) => void;
  /**
   * The connection is up and listening: at start and after every reconnect. Notifications sent while it
   * was down are lost, so whoever relies on them re-reads what they announce here.
   */
  onConnected?: () => void;
  /** The connection failed or broke; it is retried every `retryMs`. */
  onLost?: (err: Error) => void;
  retryMs?: number;
}

/**
 * A dedicated PostgreSQL connection LISTENing on some channels, reconnected when it breaks. A
 * notification is a hint: every user also has a way to catch up (poll, reload, drop a cache) when
 * onConnected says notifications may have been missed.
 */
export class PgListener {
  private client?: Client;
  /** The connection being opened, if any (stop ends it too). */
  private opening?: Client;
  private running = false;
  private waiters: Array<() => void> = [];

  constructor(private readonly opts: PgListenerOptions) {}

  /** Starts listening; resolves after the first attempt (connected or not; it keeps retrying). */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.running = false;
    const clients = [this.client, this.opening];
    this.client = this.opening = undefined;
    await Promise.all(clients.map((c) => c?.end().catch(() => undefined)));
  }

  /** True while the connection is up and listening. */
  get connected(): boolean {
    return this.client !== undefined;
  }

  /** Resolves once listening (true), or false after `timeoutMs`. */
  async ready(timeoutMs = 5_000): Promise<boolean> {
    if (this.client) return true;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
    return this.connected;
  }

  private async connect(): Promise<void> {
    if (!this.running) return;
    const client = new Client({ connectionString: this.opts.databaseUrl, application_name: this.opts.applicationName });
    this.opening = client;
    client.on('notification', (n) => this.opts.onNotification(n.channel, n.payload ?? ''));
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      if (this.client === client) this.client = undefined;
      void client.end().catch(() => undefined);
      if (!this.running) return; // stopped: the end was ours
      this.opts.onLost?.(err);
      setTimeout(() => void this.connect(), this.opts.retryMs ?? 1_000).unref();
    };
    client.on('error', fail);
    client.on('end', () => fail(new Error('connection ended')));
    try {
      await client.connect();
      for (const ch of this.opts.channels) await client.query(`LISTEN ${ch}`);
    } catch (err) {
      fail(err as Error);
      return;
    } finally {
      if (this.opening === client) this.opening = undefined;
    }
    if (!this.running) {
      failed = true;
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.opts.onConnected?.();
    for (const w of this.waiters.splice(0)) w();
  }
}
