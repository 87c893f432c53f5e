import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { createLogger } from '@elo/observability';
import { afterCommit, PgListener, PostCommitNotifier } from '@elo/persistence';
import { SERVICE_CONFIG } from '@elo/platform';
import { DataSource, type EntityManager } from 'typeorm';
import type { TelephonyBridgeConfig } from '../config/telephony-bridge.config';

/** The PostgreSQL channel pops travel on between replicas (payload: an Announcement as JSON). */
export const POP_CHANNEL = 'telephony_pop';

interface Announcement {
  /** The replica that announced it (it has delivered the pop to its own streams already). */
  from: string;
  pop: OperatorEvent;
}

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

/**
 * What it receives when that call ends (SSE event `ended`), or when another extension answers it (a transfer): then
 * `transferredTo` names that extension, and `endedAt` is when the call left this one.
 */
export interface CallEndedPop {
  event: 'ended';
  tenantId: string;
  ramal: string;
  callId: string;
  profileId: string;
  durationSeconds?: number;
  disposition?: string;
  transferredTo?: string;
  endedAt: string;
  /**
   * When the call was answered, as recorded (for a transfer, when the extension that took it answered: the time
   * {@link PopHub.latest} orders the extension's calls by), where known. Not sent to the screen: a stream compares
   * it with a later answer to tell an older call from a newer one.
   */
  answeredAt?: string;
}

export type OperatorEvent = ScreenPop | CallEndedPop;

type Listener = (pop: OperatorEvent) => void;

/**
 * A call answered longer ago than this is not replayed to a screen that connects: neither shown as in
 * progress if its end never reached Elo (a PBX that missed the `ended` callback would otherwise pin it to
 * the screen), nor its end.
 */
export const LATEST_CALL_MAX_AGE_HOURS = 4;

/**
 * Screen pops across replicas. Once the callback's transaction has committed (never for one that
 * rolled back), the replica that took it hands the pop to its own subscribed streams at once and
 * NOTIFYs the others, which hand it to theirs. The NOTIFY is sent after the commit, not inside the
 * callback's transaction: PostgreSQL serialises the commits of notifying transactions (see afterCommit).
 */
@Injectable()
export class PopHub implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = createLogger('telephony-bridge').child({ component: 'pop-hub' });
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly replica = randomUUID();
  private readonly notifier: PostCommitNotifier;
  private readonly listener: PgListener;
  /** Whether the LISTEN connection was lost since it last listened (other replicas' pops were missed meanwhile). */
  private down = false;
  /** Extensions popped while a catch-up looks their latest call up, one set per catch-up running. */
  private readonly catchingUp = new Set<Set<string>>();

  constructor(
    @Inject(SERVICE_CONFIG) config: TelephonyBridgeConfig,
    private readonly ds: DataSource,
  ) {
    this.notifier = new PostCommitNotifier(ds, (err) =>
      this.logger.warn({ err: err.message }, 'screen-pop NOTIFY failed; other replicas miss this pop'),
    );
    this.listener = new PgListener({
      databaseUrl: config.DATABASE_URL,
      channels: [POP_CHANNEL],
      applicationName: 'telephony-pop',
      onNotification: (_channel, payload) => this.received(payload),
      onLost: (err) => {
        this.down = true;
        this.logger.warn({ err: err.message }, 'screen-pop LISTEN connection lost; reconnecting');
      },
      onConnected: () => {
        if (!this.down) return;
        this.down = false;
        void this.catchUp();
      },
    });
  }

  /** Delivers `pop` to every replica's subscribers once `manager`'s transaction has committed. */
  announce(manager: EntityManager, pop: OperatorEvent): void {
    afterCommit(manager, () => {
      this.deliver(pop);
      this.notifier.notify(POP_CHANNEL, JSON.stringify({ from: this.replica, pop } satisfies Announcement));
    });
  }

  async onModuleInit(): Promise<void> {
    await this.listener.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.listener.stop();
  }

  /** True while the LISTEN connection is up. */
  get connected(): boolean {
    return this.listener.connected;
  }

  /** Resolves once the LISTEN connection is up (or after timeoutMs). */
  ready(timeoutMs = 5_000): Promise<boolean> {
    return this.listener.ready(timeoutMs);
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

  /**
   * The extension's latest call (answered within {@link LATEST_CALL_MAX_AGE_HOURS}) as a screen that
   * connects is sent it: its `answered` pop while it is in progress, its `ended` once it has ended (a
   * screen that showed it before a drop learns it is over), or once another extension has answered it (a
   * transfer; its answered_at is then when that one did). Undefined when there is none.
   */
  async latest(tenantId: string, ramal: string): Promise<OperatorEvent | undefined> {
    const rows: Array<{
      call_id: string;
      profile_id: string;
      ramal: string;
      telefone: string | null;
      contact_id: string | null;
      empresa_id: string | null;
      answered_at: Date;
      ended_at: Date | null;
      duration_seconds: number | null;
      disposition: string | null;
    }> = await this.ds.query(
      `SELECT call_id, profile_id, ramal, telefone, contact_id, empresa_id, answered_at, ended_at, duration_seconds, disposition FROM "telephony".calls
        WHERE tenant_id = $1 AND (ramal = $2 OR transferred_from = $2) AND answered_at IS NOT NULL AND answered_at > now() - make_interval(hours => $3)
        ORDER BY answered_at DESC LIMIT 1`,
      [tenantId, ramal, LATEST_CALL_MAX_AGE_HOURS],
    );
    const c = rows[0];
    if (!c) return undefined;
    const call = { tenantId, ramal, callId: c.call_id, profileId: c.profile_id };
    const answeredAt = c.answered_at.toISOString();
    if (c.ramal !== ramal) return { event: 'ended', ...call, transferredTo: c.ramal, endedAt: answeredAt, answeredAt };
    if (c.ended_at) {
      return {
        event: 'ended',
        ...call,
        ...(c.duration_seconds !== null ? { durationSeconds: c.duration_seconds } : {}),
        ...(c.disposition ? { disposition: c.disposition } : {}),
        endedAt: c.ended_at.toISOString(),
        answeredAt,
      };
    }
    return {
      ...call,
      ...(c.telefone ? { telefone: c.telefone } : {}),
      ...(c.contact_id ? { contactId: c.contact_id } : {}),
      ...(c.empresa_id ? { empresaId: c.empresa_id } : {}),
      answeredAt,
    };
  }

  subscriberCount(): number {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }

  /**
   * Pops other replicas announced while the LISTEN connection was down never reached this replica's streams:
   * each extension with a stream here is sent its latest call again, as a stream that connects is. A pop that
   * arrives for it during the lookup is newer and has gone out instead.
   */
  private async catchUp(): Promise<void> {
    const popped = new Set<string>();
    this.catchingUp.add(popped);
    try {
      for (const key of [...this.listeners.keys()]) {
        const [tenantId, ramal] = key.split('\u0000');
        const latest = await this.latest(tenantId, ramal);
        if (latest && !popped.has(key)) this.deliver(latest);
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, "could not send open screens their extension's latest call after the LISTEN connection came back");
    } finally {
      this.catchingUp.delete(popped);
    }
  }

  private received(payload: string): void {
    let a: Announcement;
    try {
      a = JSON.parse(payload) as Announcement;
    } catch {
      return;
    }
    if (a.from !== this.replica && a.pop) this.deliver(a.pop);
  }

  private deliver(pop: OperatorEvent): void {
    const key = `${pop.tenantId}\u0000${pop.ramal}`;
    for (const popped of this.catchingUp) popped.add(key);
    const set = this.listeners.get(key);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(pop);
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'screen-pop subscriber failed');
      }
    }
  }
}
