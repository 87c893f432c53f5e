import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { SecretBox } from '@elo/auth';
import { EgressError, HttpEgress } from '@elo/http-egress';
import { Outbox } from '@elo/messaging';
import { afterCommit } from '@elo/persistence';
import { createLogger } from '@elo/observability';
import { periodic, ProblemException, SERVICE_CONFIG, type Periodic } from '@elo/platform';
import { renderRequest, type RequestTemplate } from '@elo/templating';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { checkedSpec, ChecksService } from '../check/checks.service';
import { ViabilityService } from '../check/viability.service';
import type { ViabilityConfig } from '../config/viability.config';
import { geocoderProblem, GeocoderService } from '../geocoder/geocoder.service';

const log = createLogger('viability').child({ component: 'findme' });

export interface FindmeRequest {
  phone: string;
  requestId?: string;
  conversationId?: string;
  channelId?: string;
  callbackUrl?: string;
}

interface LinkRow {
  id: string;
  tenant_id: string;
  phone: string;
  request_id: string | null;
  conversation_id: string | null;
  channel_id: string | null;
  callback_url: string | null;
}

type Asker = Pick<LinkRow, 'id' | 'tenant_id' | 'request_id' | 'conversation_id' | 'channel_id'>;

/** What GET /findme/links/:id answers. */
export interface LinkView {
  id: string;
  state: 'open' | 'used' | 'expired';
  expiresAt: string;
  createdAt: string;
  usedAt?: string;
  sms: string | null;
  requestId?: string;
  conversationId?: string;
  /** The check of the confirmed point, or why the link was answered not_found (SMS not sent, expired). */
  result?: Record<string, unknown>;
  callback?: { status: string | null; attempts: number; nextAttemptAt?: string };
}

/** A callback being tried is not tried again by another sweep for this long (a try times out in 10 s). */
const CALLBACK_LEASE_SECONDS = 300;
/** An SMS still 'pending' or 'sending' this long after its link was written was lost (a restart): the asker is answered. */
const SMS_LOST_SECONDS = 120;
const SWEEP_BATCH = 100;

/** A link's state from its row: a link answered without being used (its SMS was not sent, or it expired) is spent too. */
const STATE_SQL = `CASE WHEN used_at IS NOT NULL THEN 'used' WHEN expires_at <= now() OR answered_at IS NOT NULL THEN 'expired' ELSE 'open' END AS state`;

/** Default SMS text; `{link}` is the FindME link. */
export const DEFAULT_SMS_TEXT = 'Para verificarmos a cobertura no seu endereço, marque sua localização no mapa: {link}';

const MAX_LOOKUPS_PER_LINK = 20;

const hash = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * FindME: a single-use link that expires, sent by SMS through the tenant's HTTP template; the customer
 * marks the location on a map page, and the confirmed point is checked like any other.
 * Only the token's SHA-256 is stored.
 */
@Injectable()
export class FindmeService implements OnApplicationBootstrap, OnApplicationShutdown {
  private schedule?: Periodic;

  constructor(
    private readonly ds: DataSource,
    private readonly egress: HttpEgress,
    private readonly box: SecretBox,
    private readonly outbox: Outbox,
    private readonly checks: ChecksService,
    private readonly viability: ViabilityService,
    private readonly geocoder: GeocoderService,
    @Inject(SERVICE_CONFIG) private readonly config: ViabilityConfig,
  ) {}

  /** Address lookups made through each link (the page is public: the geocoder is not a free-for-all). */
  private readonly lookups = new Map<string, number>();

  onApplicationBootstrap(): void {
    const every = this.config.FINDME_SWEEP_MS;
    if (every === 0) return;
    this.schedule = periodic(every, () => this.sweep(), (err) => log.error({ err: err.message }, 'FindME sweep failed'));
  }

  onApplicationShutdown(): void {
    void this.schedule?.stop();
  }

  /** Links need the public address customers reach this service at. */
  get configured(): boolean {
    return Boolean(this.config.FINDME_PUBLIC_URL);
  }

  get tileUrl(): string | undefined {
    return this.config.FINDME_TILE_URL;
  }

  async setSmsTemplate(tenantId: string, template: RequestTemplate & { text?: string }): Promise<void> {
    // Rendered once with sample values so a broken template is refused now, not at the first SMS.
    try {
      renderRequest(template, { phone: '+5541999999999', phoneDigits: '5541999999999', link: 'https://example.com/findme/x', text: 'x' });
    } catch (err) {
      throw new ProblemException(400, `the SMS template does not render: ${(err as Error).message}`);
    }
    const sealed = this.box.encrypt(JSON.stringify(template), `${tenantId}:sms`);
    await this.ds.query(
      `INSERT INTO viability.settings (tenant_id, sms_template_sealed) VALUES ($1, $2)
       ON CONFLICT (tenant_id) DO UPDATE SET sms_template_sealed = $2`,
      [tenantId, sealed],
    );
  }

  /**
   * Creates the link and sends it; the link is returned to the (authenticated) caller too.
   * With `m` (a bot flow's viability.requested, in the consumer's transaction) the link is written in that
   * transaction and the SMS goes out only once it has committed: a delivery rolled back leaves neither a
   * link nor an SMS, and its redelivery sends exactly one. If the SMS is not sent, the asker is answered
   * not_found with the reason (see {@link afterCommitSms}).
   */
  async create(tenantId: string, req: FindmeRequest, m?: EntityManager): Promise<{ id: string; link: string; expiresAt: string; sms: string }> {
    if (!this.config.FINDME_PUBLIC_URL) throw new ProblemException(422, 'FindME is not configured here (FINDME_PUBLIC_URL)');
    const token = randomBytes(24).toString('base64url');
    const id = randomUUID();
    const ttl = this.config.FINDME_TTL_MINUTES;
    const [row]: Array<{ expires_at: Date }> = await (m ?? this.ds.manager).query(
      `INSERT INTO viability.findme_links (id, tenant_id, token_hash, phone, request_id, conversation_id, channel_id, callback_url, expires_at, sms_status)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(mins => $9), 'pending') RETURNING expires_at`,
      [id, tenantId, hash(token), req.phone, req.requestId ?? null, req.conversationId ?? null, req.channelId ?? null, req.callbackUrl ?? null, ttl],
    );
    const base = this.config.FINDME_PUBLIC_URL.replace(/\/$/, '');
    const link = `${base}/findme/${token}`;
    const expiresAt = new Date(row!.expires_at).toISOString();
    if (m) {
      afterCommit(m, () => void this.afterCommitSms(tenantId, id, req.phone, link));
      return { id, link, expiresAt, sms: 'pending' };
    }
    const sms = await this.sendSms(tenantId, req.phone, link);
    await this.ds.query('UPDATE viability.findme_links SET sms_status = $2 WHERE id = $1', [id, sms]);
    return { id, link, expiresAt, sms };
  }

  /**
   * The SMS of a link written in a consumer's transaction, once it committed. The link is claimed first
   * ('pending' to 'sending'), so it is sent once even if a rolled-back savepoint had registered it; an SMS
   * not sent answers the bot flow not_found. A restart before this ends is answered by the sweep.
   */
  private async afterCommitSms(tenantId: string, id: string, phone: string, link: string): Promise<void> {
    try {
      const claimed: unknown[] = await this.ds.query(
        `WITH u AS (UPDATE viability.findme_links SET sms_status = 'sending' WHERE id = $1 AND sms_status = 'pending' RETURNING id) SELECT * FROM u`,
        [id],
      );
      if (claimed.length === 0) return;
      const sms = await this.sendSms(tenantId, phone, link);
      if (sms === 'sent') {
        await this.ds.query('UPDATE viability.findme_links SET sms_status = $2 WHERE id = $1', [id, sms]);
        return;
      }
      const reason = sms === 'not_configured' ? 'FindME SMS not sent: no SMS provider is configured' : `FindME SMS not sent (${sms})`;
      await this.ds.transaction(async (tx) => {
        const rows: Asker[] = await tx.query(
          `WITH u AS (UPDATE viability.findme_links SET sms_status = $2, answered_at = now(), result = $3
                       WHERE id = $1 AND answered_at IS NULL AND used_at IS NULL
                       RETURNING id, tenant_id, request_id, conversation_id, channel_id)
           SELECT * FROM u`,
          [id, sms, JSON.stringify({ status: 'not_found', reason })],
        );
        if (rows[0]) await this.outbox.publish(tx, this.notFoundSpec(rows[0], reason));
      });
    } catch (err) {
      log.error({ tenantId, findmeId: id, err: (err as Error).message }, 'FindME SMS follow-up failed; the sweep answers the link');
    }
  }

  /** viability.checked not_found for the bot flow or conversation that asked for a link. */
  private notFoundSpec(link: Asker, reason: string) {
    return checkedSpec(
      link.tenant_id,
      link.request_id ?? link.id,
      { requestId: link.request_id, conversationId: link.conversation_id, channelId: link.channel_id },
      { status: 'not_found', via: 'findme', reason },
    );
  }

  /**
   * One pass over the links (every FINDME_SWEEP_MS, on every replica; rows are claimed with SKIP LOCKED):
   * links of a bot flow or conversation that expired unused, or whose SMS was lost to a restart, are
   * answered not_found once (reason `expired`); callbacks due are tried.
   */
  async sweep(): Promise<{ answered: number; callbacks: number }> {
    const answered = await this.ds.transaction(async (m) => {
      const rows: Array<Asker & { reason: string }> = await m.query(
        `WITH due AS (
           SELECT id FROM viability.findme_links
            WHERE answered_at IS NULL AND used_at IS NULL AND (request_id IS NOT NULL OR conversation_id IS NOT NULL)
              AND (expires_at <= now() OR (sms_status IN ('pending', 'sending') AND created_at < now() - make_interval(secs => $1)))
            ORDER BY expires_at LIMIT ${SWEEP_BATCH} FOR UPDATE SKIP LOCKED),
         u AS (UPDATE viability.findme_links l SET answered_at = now(),
                sms_status = CASE WHEN l.sms_status IN ('pending', 'sending') THEN 'failed: interrupted' ELSE l.sms_status END,
                result = jsonb_build_object('status', 'not_found', 'reason',
                  CASE WHEN l.expires_at <= now() THEN 'expired' ELSE 'FindME SMS not sent (interrupted)' END)
           FROM due WHERE l.id = due.id
           RETURNING l.id, l.tenant_id, l.request_id, l.conversation_id, l.channel_id, l.result->>'reason' AS reason)
         SELECT * FROM u`,
        [SMS_LOST_SECONDS],
      );
      await this.outbox.publish(m, ...rows.map((r) => this.notFoundSpec(r, r.reason)));
      return rows.length;
    });
    const callbacks = await this.deliverCallbacks();
    return { answered, callbacks };
  }

  private async sendSms(tenantId: string, phone: string, link: string): Promise<string> {
    const [s]: Array<{ sms_template_sealed: string | null }> = await this.ds.query(
      'SELECT sms_template_sealed FROM viability.settings WHERE tenant_id = $1',
      [tenantId],
    );
    if (!s?.sms_template_sealed) return 'not_configured';
    const template = JSON.parse(this.box.decrypt(s.sms_template_sealed, `${tenantId}:sms`)) as RequestTemplate & { text?: string };
    const text = (template.text ?? DEFAULT_SMS_TEXT).replace(/\{link\}/g, () => link);
    try {
      const r = renderRequest(template, { phone, phoneDigits: phone.replace(/\D/g, ''), link, text });
      const res = await this.egress.request({
        method: r.method,
        url: r.url,
        // renderRequest already sets Content-Type (unless the template names its own): adding it again sent it twice.
        headers: r.headers,
        body: r.body,
        timeoutMs: 10_000,
      });
      return res.status >= 200 && res.status < 300 ? 'sent' : `failed: provider answered ${res.status}`;
    } catch (err) {
      const reason = err instanceof EgressError ? `${err.kind}: ${err.reason}` : (err as Error).message;
      log.warn({ tenantId, reason }, 'FindME SMS not sent');
      return `failed: ${reason}`;
    }
  }

  /** open, used or expired (or unknown). */
  async state(token: string): Promise<{ state: 'open' | 'used' | 'expired'; expiresAt: string; tileUrl?: string }> {
    const [r]: Array<{ state: LinkView['state']; expires_at: Date }> = await this.ds.query(
      `SELECT ${STATE_SQL}, expires_at FROM viability.findme_links WHERE token_hash = $1`,
      [hash(token)],
    );
    if (!r) throw new ProblemException(404, 'this link does not exist');
    return {
      state: r.state,
      expiresAt: new Date(r.expires_at).toISOString(),
      ...(this.config.FINDME_TILE_URL ? { tileUrl: this.config.FINDME_TILE_URL } : {}),
    };
  }

  /**
   * The customer typed an address on the page: where is it? Only for an open link, at most
   * {@link MAX_LOOKUPS_PER_LINK} times per link; the pin goes there and the customer still confirms.
   */
  async locate(token: string, address: string) {
    const st = await this.state(token);
    if (st.state !== 'open') throw new ProblemException(410, st.state === 'used' ? 'this link was already used' : 'this link has expired', { state: st.state });
    if (!this.geocoder.configured) throw new ProblemException(422, 'address lookup is not configured here; mark the point on the map');
    const key = hash(token);
    const n = (this.lookups.get(key) ?? 0) + 1;
    if (n > MAX_LOOKUPS_PER_LINK) throw new ProblemException(429, 'too many address lookups for this link; mark the point on the map');
    this.lookups.set(key, n);
    if (this.lookups.size > 10_000) this.lookups.delete(this.lookups.keys().next().value!);
    try {
      return await this.geocoder.locate(address);
    } catch (err) {
      throw geocoderProblem(err);
    }
  }

  /**
   * The customer's confirmed point: the link is spent, the point checked, viability.checked (and a chat
   * reply when the link came from a conversation) published, all in one transaction; then the callback.
   */
  async confirm(token: string, point: { lat: number; lng: number }) {
    const out = await this.ds.transaction(async (m) => {
      const rows: LinkRow[] = await m.query(
        `WITH u AS (UPDATE viability.findme_links SET used_at = now(), answered_at = now()
                     WHERE token_hash = $1 AND used_at IS NULL AND answered_at IS NULL AND expires_at > now()
                     RETURNING id, tenant_id, phone, request_id, conversation_id, channel_id, callback_url)
         SELECT * FROM u`,
        [hash(token)],
      );
      const link = rows[0];
      if (!link) {
        const st = await this.state(token);
        throw new ProblemException(410, st.state === 'used' ? 'this link was already used' : 'this link has expired', { state: st.state });
      }
      const result = await this.checks.runIn(m, link.tenant_id, {
        lat: point.lat,
        lng: point.lng,
        via: 'findme',
        ...(link.request_id ? { requestId: link.request_id } : {}),
        ...(link.conversation_id ? { conversationId: link.conversation_id } : {}),
        ...(link.channel_id ? { channelId: link.channel_id } : {}),
      });
      const answer = {
        status: result.status,
        checkId: result.checkId,
        box: result.box,
        pole: result.pole,
        alternatives: result.alternatives,
        refused: result.refused,
      };
      // The callback is tried after commit, and again by the sweep until it is answered (see deliverCallbacks).
      await m.query(
        `UPDATE viability.findme_links SET check_id = $2, result = $3, callback_due_at = CASE WHEN callback_url IS NULL THEN NULL ELSE now() END WHERE id = $1`,
        [link.id, result.checkId, JSON.stringify(answer)],
      );
      // A bot flow's link (request_id) is answered by the flow itself once viability.checked reaches it: a
      // reply from here too would tell the customer twice. Otherwise any link of a conversation is answered
      // there (the chat service finds the channel from the conversation).
      if (link.conversation_id && !link.request_id) await this.replyInChat(m, link, result);
      return { link, result };
    });
    const { link, result } = out;
    if (link.callback_url) void this.deliverCallbacks(link.id).catch((err: Error) => log.warn({ findmeId: link.id, err: err.message }, 'FindME callback not tried; the sweep will'));
    return { status: result.status, box: result.box ? { name: result.box.name, distanceMeters: result.box.distanceMeters } : undefined };
  }

  /** A link of this tenant as a chatbot polls it: state, SMS, the answer and the callback's progress. */
  async get(tenantId: string, id: string): Promise<LinkView> {
    const [r]: Array<{
      id: string; state: LinkView['state']; used_at: Date | null; expires_at: Date; created_at: Date; sms_status: string | null;
      request_id: string | null; conversation_id: string | null; result: Record<string, unknown> | null;
      callback_url: string | null; callback_status: string | null; callback_attempts: number; callback_due_at: Date | null;
    }> = await this.ds.query(
      `SELECT id, ${STATE_SQL}, used_at, expires_at, created_at, sms_status, request_id,
              conversation_id, result, callback_url, callback_status, callback_attempts, callback_due_at
         FROM viability.findme_links WHERE id = $1 AND tenant_id = $2`,
      [id, tenantId],
    );
    if (!r) throw new ProblemException(404, 'no FindME link with this id');
    return {
      id: r.id,
      state: r.state,
      expiresAt: new Date(r.expires_at).toISOString(),
      createdAt: new Date(r.created_at).toISOString(),
      ...(r.used_at ? { usedAt: new Date(r.used_at).toISOString() } : {}),
      sms: r.sms_status,
      ...(r.request_id ? { requestId: r.request_id } : {}),
      ...(r.conversation_id ? { conversationId: r.conversation_id } : {}),
      ...(r.result ? { result: r.result } : {}),
      ...(r.callback_url
        ? { callback: { status: r.callback_status, attempts: r.callback_attempts, ...(r.callback_due_at ? { nextAttemptAt: new Date(r.callback_due_at).toISOString() } : {}) } }
        : {}),
    };
  }

  private async replyInChat(m: EntityManager, link: LinkRow, result: Awaited<ReturnType<ChecksService['runIn']>>): Promise<void> {
    const settings = await this.viability.settings(m, link.tenant_id);
    await this.outbox.publish(m, {
      type: 'chat.message.send.requested',
      tenantId: link.tenant_id,
      subject: link.conversation_id!,
      data: {
        messageId: randomUUID(),
        conversationId: link.conversation_id!,
        ...(link.channel_id ? { channelId: link.channel_id } : {}),
        message: { kind: 'text', text: this.viability.reply(result, settings) },
        origin: 'viability',
      },
    });
  }

  /**
   * Tries the callbacks that are due (or only link `id`'s): each is claimed for a lease (another replica's
   * sweep leaves it alone meanwhile), POSTed through HttpEgress, then marked answered, or due again after
   * a backoff that doubles (FINDME_CALLBACK_BACKOFF_MS, at most an hour), until FINDME_CALLBACK_ATTEMPTS.
   * State is in the row: a restart loses nothing, the next sweep tries again.
   */
  private async deliverCallbacks(id?: string): Promise<number> {
    const due: Array<Omit<LinkRow, 'phone'> & { result: Record<string, unknown> | null; callback_attempts: number }> = await this.ds.query(
      `WITH u AS (UPDATE viability.findme_links SET callback_due_at = now() + make_interval(secs => $1), callback_attempts = callback_attempts + 1
                   WHERE id IN (SELECT id FROM viability.findme_links WHERE callback_due_at <= now() ${id ? 'AND id = $2' : ''}
                                 ORDER BY callback_due_at LIMIT ${SWEEP_BATCH} FOR UPDATE SKIP LOCKED)
                   RETURNING id, tenant_id, request_id, conversation_id, channel_id, callback_url, result, callback_attempts)
       SELECT * FROM u`,
      id ? [CALLBACK_LEASE_SECONDS, id] : [CALLBACK_LEASE_SECONDS],
    );
    await Promise.all(due.map((l) => this.callback(l, l.result ?? {}, l.callback_attempts)));
    return due.length;
  }

  private async callback(link: Omit<LinkRow, 'phone'>, result: Record<string, unknown>, attempt: number): Promise<void> {
    let status: string;
    let ok = false;
    try {
      const res = await this.egress.request({
        method: 'POST',
        url: link.callback_url!,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          findmeId: link.id,
          requestId: link.request_id ?? undefined,
          conversationId: link.conversation_id ?? undefined,
          ...result,
        }),
        timeoutMs: 10_000,
      });
      status = `answered ${res.status}`;
      ok = res.status >= 200 && res.status < 300;
    } catch (err) {
      status = `failed: ${err instanceof EgressError ? `${err.kind}: ${err.reason}` : (err as Error).message}`;
    }
    const max = this.config.FINDME_CALLBACK_ATTEMPTS;
    const last = !ok && attempt >= max;
    if (!ok) log.warn({ tenantId: link.tenant_id, findmeId: link.id, status, attempt, gaveUp: last }, 'FindME callback failed');
    const backoffMs = Math.min(this.config.FINDME_CALLBACK_BACKOFF_MS * 2 ** (attempt - 1), 3_600_000);
    await this.ds
      .query(
        `UPDATE viability.findme_links SET callback_status = $2,
                callback_due_at = CASE WHEN $3::boolean THEN NULL ELSE now() + make_interval(secs => $4) END WHERE id = $1`,
        [link.id, last ? `gave up after ${attempt} attempts: ${status}` : status, ok || last, backoffMs / 1000],
      )
      .catch((err: Error) => log.warn({ findmeId: link.id, err: err.message }, 'FindME callback outcome not recorded; it will be tried again'));
  }
}
