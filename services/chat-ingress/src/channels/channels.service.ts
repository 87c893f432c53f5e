import { randomBytes, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { AuditService, SecretBox } from '@elo/auth';
import { givenFields, ProblemException, SERVICE_CONFIG } from '@elo/platform';
import { DataSource, type EntityManager } from 'typeorm';
import type { ChatIngressConfig } from '../config/chat-ingress.config';
import { DEFAULT_SETTINGS, VERIFY_TOKEN_PROVIDERS, type ChannelRecord, type ChannelRow, type Credentials, type WebhookRegistration } from './channel.types';
import type { CreateChannelDto, CredentialsDto, UpdateChannelDto } from './dto/channel.dto';
import { keepChannelFlowDue } from '../flow/flow-due';

const T = '"chat_ingress".channels';
const CACHE_TTL_MS = 5_000;
const SERVICE = 'chat-ingress';

/** What the API shows of a channel: identifiers, masked credentials, the URL and token to paste. */
export interface ChannelView {
  id: string;
  provider: string;
  name: string;
  status: string;
  phoneNumberId?: string;
  displayPhone?: string;
  accountId?: string;
  botName?: string;
  callbackUrl?: string;
  webhookUrl: string;
  verifyToken: string;
  credentials: Record<string, string>;
  settings: ChannelRecord['settings'];
  token: { status?: string; checkedAt?: string; expiresAt?: string; error?: string };
  /** Telegram: the last setWebhook attempt (absent until one was made). */
  webhookRegistration?: { status: 'registered' | 'failed'; url: string; at: string; error?: string };
  createdAt: string;
  updatedAt: string;
  /** Only in the create answer: generated secrets, shown once. */
  secrets?: Record<string, string>;
}

const randomToken = (bytes = 24) => randomBytes(bytes).toString('base64url');

/**
 * Whether a channel's token check is due, as SQL over the channels row; `conclusive` and `inconclusive`
 * name the query parameters holding recentFor's `conclusiveMs` and `inconclusiveMs`. Due: never checked,
 * or its last check is old enough: `conclusiveMs`, or `inconclusiveMs` after an `unchecked` of a
 * provider-token channel (a generic channel's `unchecked` is final). This is the one place the rule is
 * written: ChannelsService.dueForTokenCheck lists with it and claimTokenCheck claims with it.
 */
function tokenCheckDue(conclusive: string, inconclusive: string): string {
  return `(token_checked_at IS NULL
    OR token_checked_at <= now() - make_interval(secs => ${conclusive}::float8 / 1000)
    OR (token_status = 'unchecked' AND provider <> 'generic' AND token_checked_at <= now() - make_interval(secs => ${inconclusive}::float8 / 1000)))`;
}

/** Channels per tenant; credentials and the verify token sealed with SecretBox (AAD = channel id). */
@Injectable()
export class ChannelsService {
  private readonly cache = new Map<string, { at: number; value: ChannelRecord | null }>();

  constructor(
    private readonly ds: DataSource,
    private readonly box: SecretBox,
    private readonly audit: AuditService,
    @Inject(SERVICE_CONFIG) private readonly config: ChatIngressConfig,
  ) {}

  webhookUrl(c: Pick<ChannelRecord, 'id' | 'provider'>): string {
    return `${this.config.PUBLIC_BASE_URL.replace(/\/+$/, '')}/webhooks/${c.provider}/${c.id}`;
  }

  async create(tenantId: string, actorKeyId: string | undefined, dto: CreateChannelDto): Promise<ChannelView> {
    const id = randomUUID();
    const credentials: Credentials = { ...givenFields(dto.credentials) };
    const generated: Record<string, string> = {};
    if (dto.provider === 'telegram' && !credentials.telegramSecretToken) {
      credentials.telegramSecretToken = generated.telegramSecretToken = randomToken();
    }
    if (dto.provider === 'generic' && !credentials.signingSecret) {
      credentials.signingSecret = generated.signingSecret = `whsec_${randomBytes(24).toString('base64')}`;
    }
    const verifyToken = randomToken();
    const settings = { ...DEFAULT_SETTINGS, ...givenFields(dto.settings), ...(dto.callbackUrl ? { callbackUrl: dto.callbackUrl } : {}) };
    await this.ds.transaction(async (m) => {
      await m.query(
        `INSERT INTO ${T} (id, tenant_id, provider, name, phone_number_id, display_phone, account_id, bot_name, credentials, verify_token, settings)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
        [id, tenantId, dto.provider, dto.name, dto.phoneNumberId ?? null, dto.displayPhone ?? null, dto.accountId ?? null,
          dto.botName ?? null, await this.seal(credentials, id), await this.box.encrypt(verifyToken, id), JSON.stringify(settings)],
      );
      await this.audit.record(m, { tenantId, actorKeyId: actorKeyId ?? 'unknown', service: SERVICE, action: 'channel.created', targetType: 'channel', targetId: id, after: { provider: dto.provider, name: dto.name } });
    });
    const view = await this.view((await this.get(tenantId, id))!);
    return { ...view, verifyToken, secrets: { verifyToken, ...generated } };
  }

  async list(tenantId: string): Promise<ChannelView[]> {
    const rows: ChannelRow[] = await this.ds.query(`SELECT * FROM ${T} WHERE tenant_id = $1 ORDER BY created_at, id`, [tenantId]);
    return Promise.all(rows.map(async (r) => this.view(await this.toRecord(r))));
  }

  async get(tenantId: string, id: string, m: EntityManager = this.ds.manager): Promise<ChannelRecord | undefined> {
    const rows: ChannelRow[] = await m.query(`SELECT * FROM ${T} WHERE id = $1 AND tenant_id = $2`, [id, tenantId]);
    return rows[0] ? this.toRecord(rows[0]) : undefined;
  }

  async require(tenantId: string, id: string, m?: EntityManager): Promise<ChannelRecord> {
    const c = isUuid(id) ? await this.get(tenantId, id, m) : undefined;
    if (!c) throw new ProblemException(404, `channel ${id} not found`);
    return c;
  }

  async update(tenantId: string, actorKeyId: string | undefined, id: string, dto: UpdateChannelDto): Promise<ChannelView> {
    await this.ds.transaction(async (m) => {
      const rows: ChannelRow[] = await m.query(`SELECT * FROM ${T} WHERE id = $1 AND tenant_id = $2 FOR UPDATE`, [id, tenantId]);
      if (!isUuid(id) || !rows[0]) throw new ProblemException(404, `channel ${id} not found`);
      const before = await this.toRecord(rows[0]);
      const credentials = { ...before.credentials, ...givenFields(dto.credentials) };
      const settings = { ...before.settings, ...givenFields(dto.settings), ...(before.callbackUrl ? { callbackUrl: before.callbackUrl } : {}), ...(dto.callbackUrl ? { callbackUrl: dto.callbackUrl } : {}) };
      // A new access token has not been checked: what was recorded of the old one does not describe it, and the
      // next tick checks it.
      const newToken = credentials.accessToken !== before.credentials.accessToken;
      await m.query(
        `UPDATE ${T} SET name = $3, phone_number_id = $4, display_phone = $5, account_id = $6, bot_name = $7, status = $8,
           credentials = $9, settings = $10, updated_at = now()${newToken ? ', token_status = NULL, token_checked_at = NULL, token_expires_at = NULL, token_error = NULL' : ''}
         WHERE id = $1 AND tenant_id = $2`,
        [id, tenantId, dto.name ?? before.name, dto.phoneNumberId ?? before.phoneNumberId ?? null, dto.displayPhone ?? before.displayPhone ?? null,
          dto.accountId ?? before.accountId ?? null, dto.botName ?? before.botName ?? null, dto.status ?? before.status,
          await this.seal(credentials, id), JSON.stringify(settings)],
      );
      // Enabled again, or a shorter silence or another bot queue: its conversations' flow timers may fall due sooner.
      if (dto.status === 'active' || dto.settings) await keepChannelFlowDue(m, tenantId, id);
      await this.audit.record(m, {
        tenantId, actorKeyId: actorKeyId ?? 'unknown', service: SERVICE, action: dto.status === 'disabled' ? 'channel.disabled' : 'channel.updated',
        targetType: 'channel', targetId: id,
        before: { name: before.name, status: before.status, credentials: Object.keys(before.credentials) },
        after: { name: dto.name ?? before.name, status: dto.status ?? before.status, credentials: Object.keys(credentials), settings: dto.settings ? Object.keys(dto.settings) : [] },
      });
    });
    this.cache.delete(id);
    return this.view((await this.get(tenantId, id))!);
  }

  /**
   * Replaces a Meta channel's verify token with a new random one, sealed like the first, and returns it
   * once; the old one stops passing the handshake here at once (other replicas within CACHE_TTL_MS).
   */
  async rotateVerifyToken(tenantId: string, actorKeyId: string | undefined, id: string): Promise<ChannelView> {
    const verifyToken = randomToken();
    await this.ds.transaction(async (m) => {
      const rows: ChannelRow[] = isUuid(id) ? await m.query(`SELECT id, provider FROM ${T} WHERE id = $1 AND tenant_id = $2 FOR UPDATE`, [id, tenantId]) : [];
      if (!rows[0]) throw new ProblemException(404, `channel ${id} not found`);
      if (!VERIFY_TOKEN_PROVIDERS.has(rows[0].provider)) {
        throw new ProblemException(422, `${rows[0].provider} channels have no verify token: only WhatsApp, Messenger and Instagram webhooks are verified with one (the Meta handshake)`);
      }
      await m.query(`UPDATE ${T} SET verify_token = $3, updated_at = now() WHERE id = $1 AND tenant_id = $2`, [id, tenantId, await this.box.encrypt(verifyToken, id)]);
      // The token itself is never audited: the entry records that it changed.
      await this.audit.record(m, {
        tenantId, actorKeyId: actorKeyId ?? 'unknown', service: SERVICE, action: 'channel.verify_token.rotated',
        targetType: 'channel', targetId: id, after: { rotated: ['verifyToken'] },
      });
    });
    this.cache.delete(id);
    const view = await this.view((await this.get(tenantId, id))!);
    return { ...view, verifyToken, secrets: { verifyToken } };
  }

  /**
   * Records a token check of `checked` (the access token the check was about) and its refreshed token, if any.
   * Records nothing and answers false when the channel's token was replaced meanwhile (a PATCH while the
   * provider answered): the old token's refresh and verdict must not land on the new one.
   */
  async setTokenState(
    m: EntityManager, id: string, s: { checked: string | undefined; status: string; expiresAt?: Date | null; error?: string | null; accessToken?: string },
  ): Promise<boolean> {
    const rows: ChannelRow[] = await m.query(`SELECT * FROM ${T} WHERE id = $1 FOR UPDATE`, [id]);
    const rec = rows[0] ? await this.toRecord(rows[0]) : undefined;
    if (!rec || rec.credentials.accessToken !== s.checked) return false;
    if (s.accessToken) {
      await m.query(`UPDATE ${T} SET credentials = $2 WHERE id = $1`, [id, await this.seal({ ...rec.credentials, accessToken: s.accessToken }, id)]);
    }
    await m.query(
      `UPDATE ${T} SET token_status = $2, token_checked_at = now(), token_expires_at = $3, token_error = $4, updated_at = now() WHERE id = $1`,
      [id, s.status, s.expiresAt ?? null, s.error ?? null],
    );
    this.cache.delete(id);
    return true;
  }

  /**
   * The active channels whose token check is due (by tokenCheckDue), by id: the tick lists these and claims
   * each with claimTokenCheck, which settles races between replicas. Reads no secrets.
   */
  async dueForTokenCheck(recent: { conclusiveMs: number; inconclusiveMs: number }): Promise<string[]> {
    const rows: { id: string }[] = await this.ds.query(
      `SELECT id FROM ${T} WHERE status = 'active' AND ${tokenCheckDue('$1', '$2')} ORDER BY id`,
      [recent.conclusiveMs, recent.inconclusiveMs],
    );
    return rows.map((r) => r.id);
  }

  /**
   * Claims a channel's token check: stamps token_checked_at if the channel is still active and due (by
   * tokenCheckDue), and returns it as stamped; undefined when it is not due, or another replica claimed or
   * checked it meanwhile. Concurrent claims queue on the row lock and the later one finds it no longer due.
   */
  async claimTokenCheck(id: string, recent: { conclusiveMs: number; inconclusiveMs: number }): Promise<ChannelRecord | undefined> {
    const [row]: ChannelRow[] = await this.ds.query(
      `WITH u AS (UPDATE ${T} SET token_checked_at = now()
        WHERE id = $1 AND status = 'active' AND ${tokenCheckDue('$2', '$3')}
        RETURNING *) SELECT * FROM u`,
      [id, recent.conclusiveMs, recent.inconclusiveMs],
    );
    return row ? this.toRecord(row) : undefined;
  }

  /** Records the outcome of registering the channel's webhook with its provider. */
  async setWebhookRegistration(id: string, r: WebhookRegistration): Promise<void> {
    await this.ds.query(
      `UPDATE ${T} SET webhook_registration_status = $2, webhook_registered_url = $3, webhook_registration_at = $4, webhook_registration_error = $5, updated_at = now() WHERE id = $1`,
      [id, r.status, r.url, r.at, r.error ?? null],
    );
    this.cache.delete(id);
  }

  /** Every active channel, secrets decrypted (the forced token check walks them). */
  async allActive(): Promise<ChannelRecord[]> {
    const rows: ChannelRow[] = await this.ds.query(`SELECT * FROM ${T} WHERE status = 'active' ORDER BY id`);
    return Promise.all(rows.map((r) => this.toRecord(r)));
  }

  /**
   * The webhook hot path: the channel by id across tenants (the URL names it), cached a few seconds so
   * a burst of webhooks costs no query or decryption each.
   */
  async resolve(id: string): Promise<ChannelRecord | undefined> {
    if (!isUuid(id)) return undefined;
    const hit = this.cache.get(id);
    if (hit && Date.now() - hit.at < CACHE_TTL_MS) return hit.value ?? undefined;
    const rows: ChannelRow[] = await this.ds.query(`SELECT * FROM ${T} WHERE id = $1`, [id]);
    const value = rows[0] ? await this.toRecord(rows[0]) : null;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(id, { at: Date.now(), value });
    return value ?? undefined;
  }

  async view(c: ChannelRecord): Promise<ChannelView> {
    const credentials: Record<string, string> = {};
    for (const [k, v] of Object.entries(c.credentials)) if (typeof v === 'string' && v) credentials[k] = this.box.mask(v) ?? '****';
    return strip({
      id: c.id, provider: c.provider, name: c.name, status: c.status, phoneNumberId: c.phoneNumberId, displayPhone: c.displayPhone,
      accountId: c.accountId, botName: c.botName, callbackUrl: c.callbackUrl, webhookUrl: this.webhookUrl(c),
      verifyToken: this.box.mask(c.verifyToken) ?? '****', credentials, settings: c.settings,
      token: strip({ status: c.tokenStatus, checkedAt: c.tokenCheckedAt?.toISOString(), expiresAt: c.tokenExpiresAt?.toISOString(), error: c.tokenError }),
      webhookRegistration: c.webhookRegistration && strip({ ...c.webhookRegistration, at: c.webhookRegistration.at.toISOString() }),
      createdAt: c.createdAt.toISOString(), updatedAt: c.updatedAt.toISOString(),
    });
  }

  private async seal(c: Credentials, id: string): Promise<string> {
    return this.box.encrypt(JSON.stringify(c), id);
  }

  private async toRecord(r: ChannelRow): Promise<ChannelRecord> {
    const credentials = r.credentials ? (JSON.parse(await this.box.decrypt(r.credentials, r.id)) as Credentials) : {};
    const { callbackUrl, ...settings } = r.settings ?? {};
    return {
      id: r.id, tenantId: r.tenant_id, provider: r.provider, name: r.name, status: r.status,
      phoneNumberId: r.phone_number_id ?? undefined, displayPhone: r.display_phone ?? undefined, accountId: r.account_id ?? undefined,
      botName: r.bot_name ?? undefined, callbackUrl, credentials, verifyToken: await this.box.decrypt(r.verify_token, r.id),
      settings: { ...DEFAULT_SETTINGS, ...settings }, tokenStatus: r.token_status ?? undefined, tokenCheckedAt: r.token_checked_at ?? undefined,
      tokenExpiresAt: r.token_expires_at ?? undefined, tokenError: r.token_error ?? undefined, createdAt: r.created_at, updatedAt: r.updated_at,
      webhookRegistration: r.webhook_registration_status && r.webhook_registration_at
        ? { status: r.webhook_registration_status, url: r.webhook_registered_url ?? '', at: r.webhook_registration_at, error: r.webhook_registration_error ?? undefined }
        : undefined,
    };
  }
}

export const isUuid = (s: string): boolean => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);


function strip<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

export type { CredentialsDto };
