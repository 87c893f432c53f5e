import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { createLogger } from '@elo/observability';
import { SERVICE_CONFIG } from '@elo/platform';
import { Client } from 'pg';
import type { TelephonyBridgeConfig } from '../config/telephony-bridge.config';

/** The PostgreSQL channel answered calls are announced on (payload: a ScreenPop as JSON), by NOTIFY in the callback's transaction. */
export const POP_CHANNEL = 'telephony_pop';

/** What an operator's screen receives when a call is delivered to its extension (SSE event `answered`). */
export interface ScreenPop {
  event?: 'answered';
  tenantId: string;
  ramal: string;
  callId: string;
  profileId: string;
  telefone?: string;
  contactId?: string;
  empresaId?: string;
  answeredAt: string;
}

/** What it receives when that call ends (SSE event `ended`). */
export interface CallEndedPop {
  event: 'ended';
  tenantId: string;
  ramal: string;
  callId: string;
  profileId: string;
  durationSeconds?: number;
  disposition?: string;
  endedAt: string;
}

export type OperatorEvent = ScreenPop | CallEndedPop;

type Listener = (pop: OperatorEvent) => void;

/**
 * Screen pops across replicas: the callback's transaction runs NOTIFY, so every replica hears the
 * pop once the callback is committed (and never for one that rolled back); each replica then hands
 * it to the streams subscribed to that tenant and extension.
 */
@Injectable()
export class PopHub implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = createLogger('telephony-bridge').child({ component: 'pop-hub' });
  private readonly listeners = new Map<string, Set<Listener>>();
  private client?: Client;
  private running = false;
  private readyWaiters: Array<() => void> = [];

  constructor(@Inject(SERVICE_CONFIG) private readonly config: TelephonyBridgeConfig) {}

  async onModuleInit(): Promise<void> {
    this.running = true;
    await this.listen();
  }

  async onApplicationShutdown(): Promise<void> {
    this.running = false;
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }

  /** True while the LISTEN connection is up. */
  get connected(): boolean {
    return this.client !== undefined;
  }

  /** Resolves once the LISTEN connection is up (or after timeoutMs). */
  async ready(timeoutMs = 5_000): Promise<boolean> {
    if (this.client) return true;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.readyWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
    return this.connected;
  }

  subscribe(tenantId: string, ramal: string, fn: Listener): () => void {
    const key = `${tenantId}\u0000${ramal}`;
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.listeners.delete(key);
    };
  }

  subscriberCount(): number {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }

  private dispatch(payload: string | undefined): void {
    if (!payload) return;
    let pop: OperatorEvent;
    try {
      pop = JSON.parse(payload) as OperatorEvent;
    } catch {
      return;
    }
    const set = this.listeners.get(`${pop.tenantId}\u0000${pop.ramal}`);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(pop);
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'screen-pop subscriber failed');
      }
    }
  }

  private async listen(): Promise<void> {
    if (!this.running) return;
    const client = new Client({ connectionString: this.config.DATABASE_URL });
    client.on('notification', (n) => this.dispatch(n.payload));
    const retry = () => setTimeout(() => void this.listen().catch(() => undefined), 1_000).unref();
    client.on('error', (err) => {
      this.logger.warn({ err: err.message }, 'screen-pop LISTEN connection lost; reconnecting');
      if (this.client === client) this.client = undefined;
      void client.end().catch(() => undefined);
      if (this.running) retry();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${POP_CHANNEL}`);
      if (!this.running) {
        await client.end();
        return;
      }
      this.client = client;
      for (const w of this.readyWaiters.splice(0)) w();
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'screen-pop LISTEN failed; retrying');
      await client.end().catch(() => undefined);
      retry();
    }
  }
}
