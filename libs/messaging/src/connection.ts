import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { Logger } from 'pino';

export interface BusConnectionOptions {
  url: string;
  /** Connection name shown in the RabbitMQ management UI. */
  name: string;
  logger: Logger;
  /** Backoff bounds for reconnecting. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

type Listener = (model: ChannelModel) => Promise<void>;

/** How long opening a connection (TCP and AMQP handshake) may take before it is tried again. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * One AMQP connection that comes back by itself: on loss it reconnects with exponential backoff and
 * jitter, then runs every `onConnect` listener again (re-declare topology, re-open channels, resume
 * consumers).
 */
export class BusConnection {
  private model?: ChannelModel;
  private closing = false;
  private connecting?: Promise<void>;
  private readonly listeners: Listener[] = [];
  private attempt = 0;
  private retryTimer?: NodeJS.Timeout;
  private readyWaiters: Array<() => void> = [];

  constructor(private readonly opts: BusConnectionOptions) {}

  get connected(): boolean {
    return this.model !== undefined;
  }

  /** Registers a step run after every (re)connect, in registration order. */
  onConnect(listener: Listener): void {
    this.listeners.push(listener);
    if (this.model) void listener(this.model).catch((err) => this.fail(err));
  }

  /** Connects, retrying until it succeeds or `close()` is called. */
  start(): Promise<void> {
    this.closing = false;
    this.connecting ??= this.tryConnect();
    return this.waitReady();
  }

  waitReady(timeoutMs?: number): Promise<void> {
    if (this.model) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.readyWaiters.push(resolve);
      if (timeoutMs !== undefined) {
        setTimeout(() => reject(new Error(`RabbitMQ not reachable within ${timeoutMs} ms`)), timeoutMs).unref();
      }
    });
  }

  async createConfirmChannel(): Promise<ConfirmChannel> {
    if (!this.model) throw new Error('RabbitMQ is not connected');
    return this.model.createConfirmChannel();
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const model = this.model;
    this.model = undefined;
    if (model) await model.close().catch(() => undefined);
  }

  /**
   * Starts over as if `model` had dropped: for a channel the broker closed or a consumer it cancelled while
   * the connection stayed up (a deleted exchange or queue). Every `onConnect` step then runs again, so
   * what went missing is declared again and the channels come back; nothing is done once `model` is gone.
   */
  restart(model: ChannelModel, reason: string): void {
    if (this.closing || this.model !== model) return;
    this.opts.logger.warn({ reason }, 'rabbitmq channel lost; reconnecting');
    void model.close().catch(() => undefined);
  }

  /** Forces the connection closed as a network failure would (used by fault tests). */
  async dropForTest(): Promise<void> {
    const model = this.model;
    if (model) await model.close().catch(() => undefined);
  }

  private async tryConnect(): Promise<void> {
    while (!this.closing) {
      let model: ChannelModel | undefined;
      let closed = false;
      try {
        model = await connect(this.opts.url, { clientProperties: { connection_name: this.opts.name }, timeout: CONNECT_TIMEOUT_MS });
        const current = model;
        let closedDuringSetup!: (err: Error) => void;
        const setupAborted = new Promise<never>((_, reject) => (closedDuringSetup = reject));
        model.on('error', (err: Error) => this.opts.logger.warn({ err: err.message }, 'rabbitmq connection error'));
        model.on('close', () => {
          closed = true;
          closedDuringSetup(new Error('connection closed during setup'));
          this.lost(current);
        });
        model.on('blocked', (reason: string) => this.opts.logger.warn({ reason }, 'rabbitmq blocked publishing'));
        // A connection that dies while the listeners run can leave one of their calls unanswered for
        // good (seen with a channel being opened): stop waiting for them then, and start over.
        const setup = (async () => {
          for (const l of this.listeners) await l(current);
        })();
        setup.catch(() => undefined);
        await Promise.race([setup, setupAborted]);
        if (closed) throw new Error('connection closed during setup');
        this.model = model;
        this.attempt = 0;
        this.opts.logger.info('rabbitmq connected');
        for (const w of this.readyWaiters.splice(0)) w();
        this.connecting = undefined;
        return;
      } catch (err) {
        if (model && !closed) await model.close().catch(() => undefined);
        await this.backoff(err);
      }
    }
    this.connecting = undefined;
  }

  /** Only the connection in use matters; one that dies during setup is handled by tryConnect. */
  private lost(model: ChannelModel): void {
    if (this.model !== model) return;
    this.model = undefined;
    if (this.closing) return;
    this.opts.logger.warn('rabbitmq connection lost; reconnecting');
    this.connecting ??= this.tryConnect();
  }

  private fail(err: unknown): void {
    this.opts.logger.error({ err: (err as Error).message }, 'rabbitmq setup after connect failed; reconnecting');
    void this.dropForTest();
  }

  private backoff(err: unknown): Promise<void> {
    const min = this.opts.minBackoffMs ?? 100;
    const max = this.opts.maxBackoffMs ?? 5_000;
    const base = Math.min(max, min * 2 ** this.attempt++);
    const delay = base / 2 + Math.random() * (base / 2);
    this.opts.logger.warn({ err: (err as Error).message, delayMs: Math.round(delay) }, 'rabbitmq connect failed');
    return new Promise((resolve) => {
      this.retryTimer = setTimeout(resolve, delay);
    });
  }
}
