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
  /**
   * How often a query checks the connection, and how long it may take to answer (default 5 s). A connection
   * gone silently dead (a peer or a NAT that vanished: no error, no end) would otherwise look up for good
   * while no notification reaches it; it is treated as broken once a check goes unanswered.
   */
  checkMs?: number;
}

const DEFAULT_CHECK_MS = 5_000;

/** Ends `client`, dropping its socket if the server does not answer within `timeoutMs` (a dead one never would). */
async function close(client: Client, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([client.end().catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
  clearTimeout(timer);
  client.connection.stream.destroy();
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
    await Promise.all(clients.map((c) => c && close(c, this.checkMs)));
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

  /**
   * Runs a statement on the listening connection itself: what it takes for the session (an advisory lock)
   * lasts until the connection breaks, which `onLost` reports. Throws while not connected.
   */
  async query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> {
    if (!this.client) throw new Error('not connected');
    return (await this.client.query(sql, params)).rows as T[];
  }

  private get checkMs(): number {
    return this.opts.checkMs ?? DEFAULT_CHECK_MS;
  }

  private async connect(): Promise<void> {
    if (!this.running) return;
    // A server that accepts the socket and never answers would otherwise hold the first attempt for good;
    // keepalive lets the server's side find a client gone dead too (its session locks released).
    const client = new Client({
      connectionString: this.opts.databaseUrl,
      application_name: this.opts.applicationName,
      connectionTimeoutMillis: this.checkMs,
      keepAlive: true,
    });
    this.opening = client;
    client.on('notification', (n) => this.opts.onNotification(n.channel, n.payload ?? ''));
    let failed = false;
    let checkTimer: NodeJS.Timeout | undefined;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      clearTimeout(checkTimer);
      if (this.client === client) this.client = undefined;
      void close(client, this.checkMs);
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
    const check = () => {
      checkTimer = setTimeout(() => {
        checkTimer = setTimeout(() => fail(new Error(`no answer to a check within ${this.checkMs} ms`)), this.checkMs).unref();
        client.query('SELECT 1').then(() => {
          clearTimeout(checkTimer);
          if (!failed) check();
        }, fail);
      }, this.checkMs).unref();
    };
    check();
    this.opts.onConnected?.();
    for (const w of this.waiters.splice(0)) w();
  }
}
