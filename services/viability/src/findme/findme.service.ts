import { Inject, Injectable } from '@nestjs/common';
import { SecretBox } from '@elo/auth';
import { EgressError, HttpEgress } from '@elo/http-egress';
import { Outbox } from '@elo/messaging';
import { createLogger } from '@elo/observability';
import { ProblemException, SERVICE_CONFIG } from '@elo/platform';
import { renderRequest, type RequestTemplate } from '@elo/templating';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { ChecksService } from '../check/checks.service';
import { ViabilityService } from '../check/viability.service';
import type { ViabilityConfig } from '../config/viability.config';
import { GeocoderError, GeocoderService } from '../geocoder/geocoder.service';

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
export class FindmeService {
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

  /** Creates the link and sends it; the link is returned to the (authenticated) caller too. */
  async create(tenantId: string, req: FindmeRequest): Promise<{ id: string; link: string; expiresAt: string; sms: string }> {
    if (!this.config.FINDME_PUBLIC_URL) throw new ProblemException(422, 'FindME is not configured here (FINDME_PUBLIC_URL)');
    const token = randomBytes(24).toString('base64url');
    const id = randomUUID();
    const ttl = this.config.FINDME_TTL_MINUTES ?? 30;
    const [row]: Array<{ expires_at: Date }> = await this.ds.query(
      `INSERT INTO viability.findme_links (id, tenant_id, token_hash, phone, request_id, conversation_id, channel_id, callback_url, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(mins => $9)) RETURNING expires_at`,
      [id, tenantId, hash(token), req.phone, req.requestId ?? null, req.conversationId ?? null, req.channelId ?? null, req.callbackUrl ?? null, ttl],
    );
    const base = this.config.FINDME_PUBLIC_URL.replace(/\/$/, '');
    const link = `${base}/findme/${token}`;
    const sms = await this.sendSms(tenantId, req.phone, link);
    await this.ds.query('UPDATE viability.findme_links SET sms_status = $2 WHERE id = $1', [id, sms]);
    return { id, link, expiresAt: new Date(row!.expires_at).toISOString(), sms };
  }

  private async sendSms(tenantId: string, phone: string, link: string): Promise<string> {
    const [s]: Array<{ sms_template_sealed: string | null }> = await this.ds.query(
      'SELECT sms_template_sealed FROM viability.settings WHERE tenant_id = $1',
      [tenantId],
    );
    if (!s?.sms_template_sealed) return 'not_configured';
    const template = JSON.parse(this.box.decrypt(s.sms_template_sealed, `${tenantId}:sms`)) as RequestTemplate & { text?: string };
    const text = (template.text ?? DEFAULT_SMS_TEXT).replace(/\{link\}/g, link);
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
    const [r]: Array<{ used_at: Date | null; expires_at: Date; expired: boolean }> = await this.ds.query(
      'SELECT used_at, expires_at, expires_at <= now() AS expired FROM viability.findme_links WHERE token_hash = $1',
      [hash(token)],
    );
    if (!r) throw new ProblemException(404, 'this link does not exist');
    return {
      state: r.used_at ? 'used' : r.expired ? 'expired' : 'open',
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
      if (err instanceof GeocoderError) throw new ProblemException(502, err.message);
      throw err;
    }
  }

  /**
   * The customer's confirmed point: the link is spent, the point checked, viability.checked (and a chat
   * reply when the link came from a conversation) published, all in one transaction; then the callback.
   */
  async confirm(token: string, point: { lat: number; lng: number }) {
    const out = await this.ds.transaction(async (m) => {
      const rows: LinkRow[] = await m.query(
        `WITH u AS (UPDATE viability.findme_links SET used_at = now()
                     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
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
      await m.query('UPDATE viability.findme_links SET check_id = $2 WHERE id = $1', [link.id, result.checkId]);
      if (link.conversation_id && link.channel_id) await this.replyInChat(m, link, result);
      return { link, result };
    });
    const { link, result } = out;
    if (link.callback_url) void this.callback(link, result);
    return { status: result.status, box: result.box ? { name: result.box.name, distanceMeters: result.box.distanceMeters } : undefined };
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
        channelId: link.channel_id!,
        message: { kind: 'text', text: this.viability.reply(result, settings) },
        origin: 'viability',
      },
    });
  }

  private async callback(link: LinkRow, result: Awaited<ReturnType<ChecksService['runIn']>>): Promise<void> {
    let status: string;
    try {
      const res = await this.egress.request({
        method: 'POST',
        url: link.callback_url!,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          findmeId: link.id,
          requestId: link.request_id ?? undefined,
          conversationId: link.conversation_id ?? undefined,
          status: result.status,
          checkId: result.checkId,
          box: result.box,
          pole: result.pole,
          alternatives: result.alternatives,
          refused: result.refused,
        }),
        timeoutMs: 10_000,
      });
      status = `answered ${res.status}`;
    } catch (err) {
      status = `failed: ${err instanceof EgressError ? `${err.kind}: ${err.reason}` : (err as Error).message}`;
      log.warn({ tenantId: link.tenant_id, findmeId: link.id, status }, 'FindME callback failed');
    }
    await this.ds.query('UPDATE viability.findme_links SET callback_status = $2 WHERE id = $1', [link.id, status]).catch(() => undefined);
  }
}
