import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { AuditService } from '@elo/auth';
import type { CloudEvent } from '@elo/contracts';
import { Outbox } from '@elo/messaging';
import { createLogger, runWithCorrelationId } from '@elo/observability';
import { SERVICE_CONFIG } from '@elo/platform';
import { PgListener, returnedRows } from '@elo/persistence';
import { DataSource, type EntityManager } from 'typeorm';
import { DEFAULT_DISABLE_AFTER_SECONDS } from '../integrations/dto/integration.dto';
import type { IntegrationRow } from '../integrations/integration.model';
import type { WebhookDispatcherConfig } from '../config/webhook-dispatcher.config';
import { DELIVERIES_CHANNEL, SERVICE } from '../service-name';
import { DeliverySender, type ErrorClass, type SendResult } from './delivery-sender.service';
import { ReplicaMembership } from './replicas';
import { correlationOf, outcomeEvents, type PublishSpecs } from './outcome';
import { nextDelaySeconds } from './retry-policy';

const S = '"dispatcher"';
/** A claimed delivery is not claimed again before this lease runs out (a crashed worker's deliveries come back). */
const LEASE_SECONDS = 300;
const PERMANENT = new Set(['template', 'blocked', 'invalid']);
/** Successes written together at most. */
const MAX_GROUP = 400;
/** Groups of successes being written at once. */
const MAX_WRITERS = 2;
/** Successes sent and not yet written past which the worker stops claiming (the database is slow or away). */
const MAX_UNWRITTEN = 4_000;

interface Finished {
  d: DeliveryRow;
  integration: IntegrationRow;
  r: SendResult;
}

/**
 * This replica's share of its integration's limits, as the claim computed it: `slots` requests at once, `rate`
 * requests a second (null: no rate limit).
 */
interface Share {
  slots: number;
  rate: number | null;
}

type Claimed = DeliveryRow & { integration: IntegrationRow; share: Share };

/**
 * A token bucket's size at a share of `rate` requests a second: one second's worth, at least one token (the
 * claim query's `greatest(s.rate, 1)` computes the same for a bucket not yet known).
 */
function burstOf(rate: number): number {
  return Math.max(1, rate);
}

export interface DeliveryRow {
  id: string;
  tenant_id: string;
  integration_id: string;
  event_id: string;
  event_type: string;
  event: CloudEvent;
  /**
   * The correlation id its send, outcome events and log lines run in: the causing event's, kept for its whole life
   * (a resend runs in it too). Null on rows written before it was kept (correlationOf falls back to their event's).
   */
  correlation_id: string | null;
  status: string;
  /** Attempts made so far, across resends: the next attempt's number is attempts + 1. */
  attempts: number;
  /** Failed attempts since the delivery was written or last resent: its place in the retry schedule. */
  schedule_step: number;
  created_at: Date;
}

/**
 * Sends due deliveries: claims them with FOR UPDATE SKIP LOCKED (several replicas share the work),
 * woken by NOTIFY from the consumer and by a slow poll for retries that fall due.
 */
@Injectable()
export class DeliveryWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = createLogger(SERVICE).child({ component: 'delivery-worker' });
  private readonly concurrency: number;
  private readonly perIntegration: number;
  private readonly pollMs: number;
  private readonly requestedSchedule: number[];
  private readonly requestedDeadlineSeconds: number;
  private readonly inFlightByIntegration = new Map<string, number>();
  private readonly buckets = new Map<string, { tokens: number; at: number; rate: number }>();
  private inFlight = 0;
  private stopped = false;
  private wake?: () => void;
  private wakeTimer?: NodeJS.Timeout;
  private loop?: Promise<void>;
  private listener?: PgListener;
  private readonly running = new Set<Promise<void>>();
  private readonly finished: Array<{ item: Finished; resolve: () => void; reject: (err: Error) => void }> = [];
  /** Successes sent and not yet written. */
  private readonly writes = new Set<Promise<void>>();
  private writers = 0;
  /** The live replicas, between which each integration's limits are shared. */
  private readonly replicas: ReplicaMembership;

  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
    private readonly sender: DeliverySender,
    private readonly audit: AuditService,
    @Inject(SERVICE_CONFIG) private readonly config: WebhookDispatcherConfig,
  ) {
    this.concurrency = config.DISPATCHER_CONCURRENCY;
    this.perIntegration = config.DISPATCHER_PER_INTEGRATION_CONCURRENCY;
    this.pollMs = config.DISPATCHER_POLL_MS;
    const requested = config.DISPATCHER_REQUESTED_RETRY_SECONDS;
    this.requestedSchedule = requested ? requested.split(',').map(Number) : [];
    this.requestedDeadlineSeconds = config.DISPATCHER_REQUESTED_DEADLINE_SECONDS;
    this.replicas = new ReplicaMembership(ds, this.logger);
  }

  async onApplicationBootstrap(): Promise<void> {
    this.listener = new PgListener({
      databaseUrl: this.config.DATABASE_URL,
      channels: [DELIVERIES_CHANNEL],
      applicationName: 'dispatcher-worker',
      onNotification: () => this.wake?.(),
      // Deliveries announced while it was down are due already: look now (polling covers the gap).
      onConnected: () => this.wake?.(),
      onLost: (err) => this.logger.warn({ err: err.message }, 'LISTEN connection lost; polling until it is back'),
    });
    await this.listener.start();
    await this.replicas.start();
    this.loop = this.run();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.wakeTimer);
    this.wake?.();
    await this.loop;
    await Promise.allSettled([...this.running]);
    // Gone once nothing of its own is in flight: the others take its share from their next heartbeat.
    await this.replicas.stop();
    await Promise.allSettled([...this.writes]);
    await this.listener?.stop();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let claimed = 0;
      const free = this.writes.size >= MAX_UNWRITTEN ? 0 : this.concurrency - this.inFlight;
      if (free > 0) {
        try {
          const due = await this.claim(free);
          claimed = due.length;
          const over: string[] = [];
          for (const d of due) {
            // The claim already kept to each integration's limits; this catches what changed meanwhile.
            if ((this.inFlightByIntegration.get(d.integration_id) ?? 0) >= d.share.slots || !this.takeToken(d.integration_id, d.share.rate)) {
              over.push(d.id);
            } else this.start(d);
          }
          // Over the integration's limit: back to the queue, due again shortly.
          if (over.length) await this.release(over);
        } catch (err) {
          this.logger.error({ err: (err as Error).message }, 'claiming deliveries failed');
        }
      }
      if (this.stopped) break;
      if (claimed > 0 && claimed === free) {
        await this.sleep(0, true);
        continue;
      }
      await this.sleep(this.pollMs, false);
    }
  }

  private sleep(ms: number, onlyIfSlotFree: boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, onlyIfSlotFree && this.inFlight >= this.concurrency ? 1_000 : ms);
      this.wake = done;
    });
  }

  /**
   * Token bucket per integration at this replica's share of its rate (burst = one second's worth, at least one
   * token, so a share below 1 a second still lets a request through once a token has built up), refilled to now.
   */
  private bucket(id: string, rate: number): { tokens: number; at: number; rate: number } {
    const now = Date.now();
    const burst = burstOf(rate);
    const b = this.buckets.get(id) ?? { tokens: burst, at: now, rate };
    b.rate = rate;
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    this.buckets.set(id, b);
    return b;
  }

  /** True when a request of this integration may go now (and takes its token). */
  private takeToken(integrationId: string, rate: number | null): boolean {
    if (rate === null) {
      this.buckets.delete(integrationId);
      return true;
    }
    const b = this.bucket(integrationId, rate);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /**
   * A finished delivery frees a slot; waiting a few milliseconds lets several slots free up, so one
   * claim query fetches a group instead of one query per delivery.
   */
  private wakeSoon(): void {
    if (this.wakeTimer) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.wake?.();
    }, 5);
  }

  private async release(ids: string[]): Promise<void> {
    await this.ds.query(
      `UPDATE ${S}.deliveries SET next_attempt_at = now() + make_interval(secs => $2) WHERE id = ANY($1::uuid[]) AND status = 'pending'`,
      [ids, this.pollMs / 1000 / 2],
    );
  }

  private start(d: Claimed): void {
    this.inFlight++;
    const key = d.integration_id;
    this.inFlightByIntegration.set(key, (this.inFlightByIntegration.get(key) ?? 0) + 1);
    // Sent and recorded in its causing event's correlation id: the worker runs outside the context the delivery was
    // written in, so its log lines and the events it publishes would carry none.
    const p = runWithCorrelationId(d.correlation_id ?? undefined, () => this.process(d)
      .catch((err: Error) => this.logger.error({ err: err.message, deliveryId: d.id }, 'delivery attempt failed to record')))
      .finally(() => {
        this.inFlight--;
        const left = (this.inFlightByIntegration.get(key) ?? 1) - 1;
        if (left > 0) this.inFlightByIntegration.set(key, left);
        else this.inFlightByIntegration.delete(key);
        this.running.delete(p);
        this.wakeSoon();
      });
    this.running.add(p);
  }

  /**
   * Claims up to `limit` due deliveries, oldest first, but never more of one integration than its free
   * slots (this replica's share of its limit minus what this replica has in flight for it) and its rate-limit
   * tokens: a slow integration with a backlog cannot fill the claim and hold the others back. Runs a bot flow
   * requested (`integration.requested`) come before the other deliveries, of their integration and of the claim,
   * and are started first: a flow is waiting for each, so they do not wait behind the backlog the integration's
   * limits hold back (or its retries), while still taking its slots and tokens. The integrations with pending
   * deliveries are found by a skip scan of the pending index, then each one's due rows by index.
   *
   * The shares are computed here, and only here: of a limit L between N live replicas, each replica gets
   * floor(L / N) slots, and L % N of them one more, which ones rotating with the integration (the shares
   * add up to L; a share may be 0: that replica then claims none of the integration); of a rate, the part
   * its slots are of L (rate × slots / L: a replica without slots takes none of the rate, so the shares add
   * up to the rate). Each row comes back with its share.
   */
  private async claim(limit: number): Promise<Claimed[]> {
    const busyIds = [...this.inFlightByIntegration.keys()];
    const busy = busyIds.map((id) => this.inFlightByIntegration.get(id) ?? 0);
    // Known buckets: the tokens left now. An integration seen for the first time gets its full burst (SQL).
    const tokenIds: string[] = [];
    const tokens: number[] = [];
    for (const [id, { rate }] of this.buckets) {
      const b = this.bucket(id, rate);
      // A full bucket says no more than the share of the integration's rate, which the query computes itself.
      if (b.tokens >= burstOf(rate)) this.buckets.delete(id);
      else {
        tokenIds.push(id);
        tokens.push(Math.floor(b.tokens));
      }
    }
    const rows = (await this.ds.query(
      `WITH RECURSIVE ints(id) AS (
         (SELECT integration_id FROM ${S}.deliveries WHERE status = 'pending' ORDER BY integration_id LIMIT 1)
         UNION ALL
         SELECT (SELECT d.integration_id FROM ${S}.deliveries d WHERE d.status = 'pending' AND d.integration_id > ints.id
                 ORDER BY d.integration_id LIMIT 1)
         FROM ints WHERE ints.id IS NOT NULL
       ), shares AS (
         SELECT i.id, sl.slots, (i.delivery->>'rateLimitPerSecond')::float8 * sl.slots / l.lim AS rate
         FROM ints JOIN ${S}.integrations i ON i.id = ints.id
         CROSS JOIN LATERAL (SELECT coalesce((i.delivery->>'maxConcurrency')::int, $3) AS lim) l
         -- The replicas that take one more slot rotate with the integration, so the integrations limited to
         -- fewer slots than there are replicas do not all sit on the first one.
         CROSS JOIN LATERAL (SELECT l.lim / $8::int
           + CASE WHEN ($9::int + mod(abs(hashtext(i.id::text)), $8::int)) % $8::int < l.lim % $8::int THEN 1 ELSE 0 END AS slots) sl
       ), caps AS (
         SELECT s.id, s.slots, s.rate, least(
                  s.slots - coalesce(busy.n, 0),
                  -- A bucket seen for the first time is full: greatest(s.rate, 1) is burstOf(rate).
                  coalesce(tok.n, CASE WHEN s.rate IS NOT NULL THEN floor(greatest(s.rate, 1))::int END, $1)) AS n
         FROM shares s
         LEFT JOIN unnest($4::uuid[], $5::int[]) AS busy(id, n) ON busy.id = s.id
         LEFT JOIN unnest($6::uuid[], $7::int[]) AS tok(id, n) ON tok.id = s.id
       ), cand AS (
         -- Runs a bot flow requested first (a flow waits for each; their own index), then the rest, oldest first.
         SELECT l.id FROM caps CROSS JOIN LATERAL (
           SELECT x.* FROM (
             (SELECT d.id, d.next_attempt_at, true AS requested FROM ${S}.deliveries d
              WHERE d.status = 'pending' AND d.event_type = 'integration.requested' AND d.integration_id = caps.id AND d.next_attempt_at <= now()
              ORDER BY d.next_attempt_at LIMIT greatest(caps.n, 0))
             UNION ALL
             (SELECT d.id, d.next_attempt_at, false FROM ${S}.deliveries d
              WHERE d.status = 'pending' AND d.event_type <> 'integration.requested' AND d.integration_id = caps.id AND d.next_attempt_at <= now()
              ORDER BY d.next_attempt_at LIMIT greatest(caps.n, 0))
           ) x ORDER BY x.requested DESC, x.next_attempt_at LIMIT greatest(caps.n, 0)
         ) l ORDER BY l.requested DESC, l.next_attempt_at LIMIT $1
       ), c AS (
         SELECT d.id FROM ${S}.deliveries d
         WHERE d.id IN (SELECT id FROM cand) AND d.status = 'pending' AND d.next_attempt_at <= now()
         FOR UPDATE SKIP LOCKED
       ), u AS (
         UPDATE ${S}.deliveries d SET next_attempt_at = now() + make_interval(secs => $2) FROM c WHERE d.id = c.id RETURNING d.*
       )
       SELECT u.*, CASE WHEN row_number() OVER (PARTITION BY u.integration_id) = 1 THEN to_jsonb(i.*) END AS integration,
              caps.slots AS share_slots, caps.rate AS share_rate
       FROM u JOIN ${S}.integrations i ON i.id = u.integration_id
       JOIN caps ON caps.id = u.integration_id
       CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS no_flush_wait
       ORDER BY u.event_type = 'integration.requested' DESC, u.created_at`,
      [limit, LEASE_SECONDS, this.perIntegration, busyIds, busy, tokenIds, tokens, this.replicas.count, this.replicas.rank],
    )) as Array<DeliveryRow & { integration: IntegrationRow | null; share_slots: number; share_rate: number | null }>;
    // Each integration's row comes once (on its first delivery); the others share it.
    const integrations = new Map<string, IntegrationRow>();
    for (const r of rows) if (r.integration) integrations.set(r.integration_id, r.integration);
    return rows.map(({ share_slots: slots, share_rate: rate, ...r }) => ({
      // A row that has no correlation id (written before they were kept, from an event without one) gets one for
      // this run, so its log lines and its outcome's events share one.
      ...r, correlation_id: correlationOf(r) ?? randomUUID(), integration: integrations.get(r.integration_id)!, share: { slots, rate },
    }));
  }

  private async process(d: DeliveryRow & { integration: IntegrationRow }): Promise<void> {
    const integration = d.integration;
    if (!integration.enabled) return this.failUnsent(d, integration, 'invalid', `integration disabled: ${integration.disabled_reason ?? ''}`);
    if (this.expired(d)) {
      return this.failUnsent(d, integration, 'expired', `not sent: its requester stopped waiting at ${new Date(this.askedDeadline(d)!).toISOString()}`);
    }
    const result = await this.sender.send(integration, d.event, d.id);
    if (result.ok) {
      this.succeeded({ d, integration, r: result });
      return;
    }
    await this.ds.transaction(async (m) => {
      if (!(await this.stillThere(m, integration.id))) return;
      const attempts = d.attempts + 1;
      const step = d.schedule_step + 1;
      if (await this.failingTooLong(m, d, integration)) return this.finish(m, d, integration, result, 'failed');
      if (result.httpStatus === 410) {
        await this.autoDisable(m, d, integration, 'gone', 'the endpoint answered 410 Gone');
        return this.finish(m, d, integration, result, 'failed');
      }
      const delay = PERMANENT.has(result.errorClass ?? '') ? undefined : this.retryDelay(d, integration, step, result);
      if (delay === undefined) return this.finish(m, d, integration, result, 'failed');
      await this.logAttempt(m, d, attempts, result);
      await m.query(
        `UPDATE ${S}.deliveries SET attempts = $2, schedule_step = $7, next_attempt_at = now() + make_interval(secs => $3),
           last_http_status = $4, last_error_class = $5, last_error = $6 WHERE id = $1`,
        [d.id, attempts, delay, result.httpStatus ?? null, result.errorClass ?? null, result.error ?? null, step],
      );
    });
  }

  /** Closes the delivery failed without sending anything (the attempt logs the reason), and publishes its outcome. */
  private async failUnsent(d: DeliveryRow, integration: IntegrationRow, errorClass: ErrorClass, error: string): Promise<void> {
    await this.ds.transaction(async (m) => {
      if (!(await this.stillThere(m, integration.id))) return;
      await this.finish(m, d, integration, {
        request: { method: 'method' in integration.request ? integration.request.method : 'POST', url: '', headers: {}, body: null }, ok: false,
        errorClass, error, durationMs: 0, context: {},
      }, 'failed');
    });
  }

  /** When the requester of a run a bot flow requested stops waiting for it: the request's own `deadline` (ms since the epoch), if it names one. */
  private askedDeadline(d: DeliveryRow): number | undefined {
    const asked = Date.parse(String((d.event.data as { deadline?: unknown } | undefined)?.deadline ?? ''));
    return Number.isNaN(asked) ? undefined : asked;
  }

  /** The last moment a retry of a requested run may be due: DISPATCHER_REQUESTED_DEADLINE_SECONDS after the request, or its own deadline when earlier. */
  private requestedDeadline(d: DeliveryRow): number {
    const own = new Date(d.created_at).getTime() + this.requestedDeadlineSeconds * 1000;
    return Math.min(own, this.askedDeadline(d) ?? own);
  }

  /**
   * A run a bot flow requested that is claimed only once its requester stopped waiting (the request's `deadline`:
   * behind the integration's other requested runs, or a retry claimed late) is not sent: the flow took its timeout
   * branch and told the customer so, it drops a late outcome, and the call would act for no one (a boleto issued, a
   * visit booked). A request without a deadline is sent whenever claimed. A run resent by hand (attempts made, its
   * schedule started again) is sent all the same: someone asked for it.
   */
  private expired(d: DeliveryRow): boolean {
    if (d.event_type !== 'integration.requested' || (d.attempts > 0 && d.schedule_step === 0)) return false;
    const asked = this.askedDeadline(d);
    return asked !== undefined && Date.now() >= asked;
  }

  /**
   * Whether the integration still exists, kept so until the transaction ends (its deletion waits for it). A deleted
   * integration's deliveries went with it, and the deletion answered the runs a bot flow requested: an attempt
   * sent meanwhile is recorded nowhere (its attempt row had no delivery to belong to, and the write failed).
   */
  private async stillThere(m: EntityManager, integrationId: string): Promise<boolean> {
    return ((await m.query(`SELECT 1 FROM ${S}.integrations WHERE id = $1 FOR KEY SHARE`, [integrationId])) as unknown[]).length > 0;
  }

  /**
   * Seconds until the next attempt, or undefined when there is none. A run a bot flow requested
   * (`integration.requested`) is waited for: it takes the short requested schedule (never more retries than
   * the integration's own schedule allows) and gets no retry due past its deadline (requestedDeadline), so its
   * failed outcome comes within about a minute and a half, not after the integration's day-long schedule.
   */
  private retryDelay(d: DeliveryRow, integration: IntegrationRow, step: number, result: SendResult): number | undefined {
    const own = integration.delivery.retryScheduleSeconds;
    const requested = d.event_type === 'integration.requested';
    const delay = nextDelaySeconds({
      schedule: requested ? this.requestedSchedule.slice(0, own.length) : own,
      attempts: step,
      errorClass: result.errorClass ?? '',
      httpStatus: result.httpStatus,
      retryAfter: result.response?.headers['retry-after'],
    });
    if (delay === undefined || !requested) return delay;
    return Date.now() + delay * 1000 > this.requestedDeadline(d) ? undefined : delay;
  }

  /**
   * Marks the integration failing (from its first failure with no success since); past its configured
   * period it is disabled, with the reason admins see on it and in the audit log.
   */
  private async failingTooLong(m: EntityManager, d: DeliveryRow, integration: IntegrationRow): Promise<boolean> {
    const period = integration.delivery.disableAfterFailingSeconds ?? DEFAULT_DISABLE_AFTER_SECONDS;
    const rows = (await m.query(
      `WITH u AS (
         UPDATE ${S}.integrations SET failing_since = coalesce(failing_since, now()) WHERE id = $1
         RETURNING failing_since, failing_since <= now() - make_interval(secs => $2) AS too_long
       ) SELECT * FROM u`,
      [integration.id, period],
    )) as Array<{ failing_since: Date; too_long: boolean }>;
    if (!rows[0]?.too_long) return false;
    const failingSince = new Date(rows[0].failing_since).toISOString();
    await this.autoDisable(m, d, integration, 'failing', `failing since ${failingSince} with no success (limit ${period} s)`, failingSince);
    return true;
  }

  /**
   * Switches the integration off with the reason admins see, audits it and raises `integration.disabled`
   * (once: concurrent failing deliveries of the same integration find it already disabled).
   */
  private async autoDisable(m: EntityManager, d: DeliveryRow, integration: IntegrationRow, cause: 'failing' | 'gone', reason: string, failingSince?: string): Promise<void> {
    // Rows of an UPDATE … RETURNING (taken as they came, its answer's length was always 2: every one went on).
    const changed = returnedRows(await m.query(
      `UPDATE ${S}.integrations SET enabled = false, disabled_reason = $2, updated_at = now() WHERE id = $1 AND enabled RETURNING id`,
      [integration.id, reason],
    ));
    if (!changed.length) return;
    await this.audit.record(m, {
      tenantId: d.tenant_id, actorKeyId: 'system', service: SERVICE, action: 'integration.auto_disabled',
      targetType: 'integration', targetId: integration.id, after: { enabled: false, disabledReason: reason },
    });
    await this.outbox.publish(m, {
      type: 'integration.disabled',
      tenantId: d.tenant_id,
      subject: integration.id,
      data: { integrationId: integration.id, integrationName: integration.name, cause, reason, ...(failingSince ? { failingSince } : {}) },
    });
    this.logger.warn({ integrationId: integration.id, tenantId: d.tenant_id, cause }, 'integration disabled automatically');
  }

  private async logAttempt(m: EntityManager, d: DeliveryRow, attempt: number, r: SendResult): Promise<void> {
    await m.query(
      `INSERT INTO ${S}.attempts (delivery_id, tenant_id, attempt, request, response, http_status, error_class, error, duration_ms)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
      [d.id, d.tenant_id, attempt, r.request, r.response ?? null, r.httpStatus ?? null, r.errorClass ?? null, r.error ?? null, Math.round(r.durationMs)],
    );
  }

  /** Records the last attempt, closes the delivery and publishes its outcome (and the reply, if any). */
  private async finish(m: EntityManager, d: DeliveryRow, integration: IntegrationRow, r: SendResult, outcome: 'succeeded' | 'failed'): Promise<void> {
    const attempts = d.attempts + 1;
    await this.logAttempt(m, d, attempts, r);
    await m.query(
      `UPDATE ${S}.deliveries SET status = $2, attempts = $3, completed_at = now(), last_http_status = $4,
         last_error_class = $5, last_error = $6 WHERE id = $1`,
      [d.id, outcome, attempts, r.httpStatus ?? null, r.errorClass ?? null, r.error ?? null],
    );
    await this.outbox.publish(m, ...this.outcomeEvents(d, integration, r, outcome));
  }

  /**
   * Successes are the hot path: their slot is free as soon as the endpoint has answered, and they are
   * written in groups (one transaction and two set-based statements for every success that finished
   * meanwhile, at most MAX_WRITERS groups at once) instead of one transaction each. Until written, a
   * success keeps its lease, so no replica sends it again; past MAX_UNWRITTEN the worker claims nothing.
   */
  private succeeded(item: Finished): void {
    const written = new Promise<void>((resolve, reject) => this.finished.push({ item, resolve, reject }))
      .catch((err: Error) => this.logger.error({ err: err.message, deliveryId: item.d.id }, 'recording a successful delivery failed; sent again after its lease'))
      .finally(() => {
        this.writes.delete(written);
        this.wakeSoon();
      });
    this.writes.add(written);
    this.pump();
  }

  private pump(): void {
    while (this.writers < MAX_WRITERS && this.finished.length) {
      // At most 2 events a delivery (outcome, reply): a group's events fit one outbox statement.
      const group = this.finished.splice(0, MAX_GROUP);
      this.writers++;
      this.ds
        .transaction((m) => this.writeSucceeded(m, group.map((g) => g.item)))
        .then(() => group.forEach((g) => g.resolve()), (err: Error) => group.forEach((g) => g.reject(err)))
        .finally(() => {
          this.writers--;
          this.pump();
        });
    }
  }

  /**
   * A group of successes in two statements: the attempts inserted (with the integrations marked healthy
   * beside them), then the deliveries closed with their outcome events in the outbox. Columns travel as
   * arrays (unnest); the requests and responses (JSON) as one text each, split on newlines (JSON.stringify
   * never emits a raw newline; as text[] every quote of every document was escaped for the array literal;
   * a success always has a response). The commit does not wait for the WAL flush: lost in a database
   * crash, the group would be sent again after its lease (same webhook-id), which at-least-once delivery
   * allows.
   */
  private async writeSucceeded(m: EntityManager, items: Finished[]): Promise<void> {
    const ids: string[] = [];
    const tenants: string[] = [];
    const attempts: number[] = [];
    const requests: string[] = [];
    const responses: string[] = [];
    const statuses: Array<number | null> = [];
    const durations: number[] = [];
    for (const { d, r } of items) {
      ids.push(d.id);
      tenants.push(d.tenant_id);
      attempts.push(d.attempts + 1);
      requests.push(JSON.stringify(r.request));
      responses.push(JSON.stringify(r.response ?? null));
      statuses.push(r.httpStatus ?? null);
      durations.push(Math.round(r.durationMs));
    }
    const healthy = [...new Set(items.map((i) => i.integration.id))];
    // Only the deliveries of integrations still there (kept so until the commit): a deleted integration's deliveries
    // went with it, and one of them among a group failed the whole group (foreign key), sending every one again.
    const written = returnedRows(await m.query(
      `WITH live AS (
         SELECT id FROM ${S}.integrations WHERE id = ANY($8::uuid[]) FOR KEY SHARE
       ), healthy AS (
         UPDATE ${S}.integrations SET failing_since = NULL WHERE id IN (SELECT id FROM live) AND failing_since IS NOT NULL
       )
       INSERT INTO ${S}.attempts (delivery_id, tenant_id, attempt, request, response, http_status, duration_ms)
       SELECT delivery_id, tenant_id, attempt, request::jsonb, nullif(response::jsonb, 'null'), http_status, duration_ms
       FROM unnest($1::uuid[], $2::text[], $3::int[], string_to_array($4::text, E'\\n'), string_to_array($5::text, E'\\n'), $6::int[], $7::int[], $9::uuid[])
         AS x(delivery_id, tenant_id, attempt, request, response, http_status, duration_ms, integration_id)
       WHERE x.integration_id IN (SELECT id FROM live)
       RETURNING delivery_id`,
      [ids, tenants, attempts, requests.join('\n'), responses.join('\n'), statuses, durations, healthy, items.map((i) => i.integration.id)],
    ) as Array<{ delivery_id: string }> | [Array<{ delivery_id: string }>, number]);
    const kept = written.length < items.length ? new Set(written.map((w) => w.delivery_id)) : undefined;
    const events = (kept ? items.filter((i) => kept.has(i.d.id)) : items)
      // Each in its delivery's correlation id (a group runs in the context of whichever success started its write).
      .flatMap(({ d, integration, r }) => runWithCorrelationId(d.correlation_id ?? undefined, () => this.outcomeEvents(d, integration, r, 'succeeded')))
      .map((spec) => this.outbox.event(spec));
    await this.outbox.addWith(m, {
      sql: `UPDATE ${S}.deliveries d SET status = 'succeeded', attempts = x.attempts, completed_at = now(), last_http_status = x.http_status,
              last_error_class = NULL, last_error = NULL
            FROM unnest($1::uuid[], $2::int[], $3::int[]) AS x(id, attempts, http_status) WHERE d.id = x.id`,
      params: [ids, attempts, statuses],
    }, events, { synchronousCommit: false });
  }

  /** The outcome of this attempt (see outcomeEvents): counts it, and logs a reply template that fails. */
  private outcomeEvents(d: DeliveryRow, integration: IntegrationRow, r: SendResult, outcome: 'succeeded' | 'failed'): PublishSpecs {
    return outcomeEvents(d, integration, r, outcome, d.attempts + 1, (err) => this.logger.warn({ err: err.message, integrationId: integration.id }, 'reply template failed'));
  }
}
