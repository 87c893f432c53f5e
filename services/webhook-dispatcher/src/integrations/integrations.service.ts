import { randomBytes, randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AuditService, SecretBox, type Principal } from '@elo/auth';
import { Outbox } from '@elo/messaging';
import { givenFields, ProblemException } from '@elo/platform';
import { listTokens, lookupPath, renderTemplate } from '@elo/templating';
import { DataSource, type EntityManager } from 'typeorm';
import type { DeliveryRow } from '../deliveries/delivery-worker.service';
import { outcomeEvents } from '../deliveries/outcome';
import { SERVICE } from '../service-name';
import {
  DEFAULT_DISABLE_AFTER_SECONDS, type HttpRequestDto, type SoapRequestDto, DEFAULT_RETRY_SCHEDULE, DEFAULT_TIMEOUT_MS, ROTATION_GRACE_SECONDS, type CreateIntegrationDto, type DeliverySettings, type IntegrationView, type UpdateIntegrationDto, type ReplyDto, type TriggerDto,
} from './dto/integration.dto';
import { replyLoopTypes, type IntegrationRow } from './integration.model';

const T = '"dispatcher".integrations';
/** Opened secrets kept at most (a few per integration). */
const OPENED_MAX = 5_000;
const NO_SECRETS: Readonly<Record<string, string>> = Object.freeze({});
/** What stands in for a literal credential in the stored request and in every answer. */
export const MASKED = '••••';
/** The auth helper's fields that carry a credential. */
const CREDENTIAL_FIELDS = ['token', 'password', 'value'] as const;
type Credentials = Partial<Record<(typeof CREDENTIAL_FIELDS)[number], string>>;
/** Previous signing secrets kept signing at most (each for 24 h after the rotation that replaced it). */
const MAX_PREVIOUS_SIGNING = 10;

/** Integrations: tenant-scoped CRUD, secrets sealed at rest, every change audited. */
@Injectable()
export class IntegrationsService {
  /**
   * Opened sealed values by (AAD, sealed text): every delivery needs its integration's secrets, and
   * opening them each time was a large share of a delivery's CPU. A changed or re-encrypted secret is
   * new sealed text, so an entry never goes stale; the map is emptied when it grows past its bound.
   */
  private readonly opened = new Map<string, string>();
  private readonly parsed = new Map<string, unknown>();

  constructor(
    private readonly ds: DataSource,
    private readonly box: SecretBox,
    private readonly audit: AuditService,
    private readonly outbox: Outbox,
  ) {}

  async create(p: Principal, tenantId: string, dto: CreateIntegrationDto): Promise<IntegrationView & { signingSecret: string }> {
    refuseNul(dto);
    const id = randomUUID();
    const signingSecret = `whsec_${randomBytes(32).toString('base64')}`;
    const secrets = cleanSecrets(dto.secrets ?? {});
    const request = requestOf(dto.kind, dto);
    checkSecretReferences(dto.kind, request, Object.keys(secrets));
    checkReplyLoop(dto.trigger, dto.reply);
    const sealed = this.sealAuth(id, request, {});
    const row = await this.ds.transaction(async (m) => {
      const rows = (await m.query(
        `INSERT INTO ${T} (id, tenant_id, name, description, kind, enabled, request, trigger, delivery, reply,
           secrets_sealed, secret_names, signing_secret_sealed, auth_sealed)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)
         ON CONFLICT DO NOTHING RETURNING *`,
        [
          id, tenantId, dto.name, dto.description ?? '', dto.kind, dto.enabled ?? true, sealed.request, dto.trigger,
          deliverySettings(dto.delivery), dto.reply ?? {}, this.sealSecrets(id, secrets), Object.keys(secrets),
          this.box.encrypt(signingSecret, `${id}:signing`), sealed.authSealed,
        ],
      )) as IntegrationRow[];
      if (!rows.length) throw new ProblemException(409, `an integration named "${dto.name}" already exists`);
      await this.audit.record(m, {
        tenantId, actorKeyId: p.keyId, service: SERVICE, action: 'integration.created', targetType: 'integration',
        targetId: id, after: this.view(rows[0]),
      });
      return rows[0];
    });
    return { ...this.view(row), signingSecret };
  }

  async list(tenantId: string): Promise<IntegrationView[]> {
    const rows = (await this.ds.query(`SELECT * FROM ${T} WHERE tenant_id = $1 ORDER BY created_at, id`, [tenantId])) as IntegrationRow[];
    return rows.map((r) => this.view(r));
  }

  async get(tenantId: string, id: string): Promise<IntegrationView> {
    return this.view(await this.row(this.ds.manager, tenantId, id));
  }

  async row(m: EntityManager, tenantId: string, id: string, lock = false): Promise<IntegrationRow> {
    const rows = (await m.query(`SELECT * FROM ${T} WHERE tenant_id = $1 AND id = $2${lock ? ' FOR UPDATE' : ''}`, [tenantId, id])) as IntegrationRow[];
    if (!rows.length) throw new ProblemException(404, `no integration ${id}`);
    return rows[0];
  }

  async update(p: Principal, tenantId: string, id: string, dto: UpdateIntegrationDto): Promise<IntegrationView> {
    refuseNul(dto);
    return this.change(p, tenantId, id, 'integration.updated', async (m, before) => {
      let secretsSealed = before.secrets_sealed;
      let names = before.secret_names;
      if (dto.secrets) {
        const merged = { ...this.secrets(before) };
        for (const [k, v] of Object.entries(dto.secrets)) {
          if (v === null) delete merged[k];
          else merged[k] = v;
        }
        const clean = cleanSecrets(merged);
        secretsSealed = this.sealSecrets(id, clean);
        names = Object.keys(clean);
      }
      // A request sent back as read (credentials shown as ••••) keeps the stored credentials.
      checkReplyLoop(dto.trigger ?? before.trigger, dto.reply ?? before.reply);
      const request = dto.request || dto.soap ? requestOf(before.kind, dto) : before.request;
      const stored = this.request(before).auth;
      checkSecretReferences(before.kind, withCredentials(request, stored), names);
      // Rows saved before literal credentials were sealed get them sealed now.
      const sealed = this.sealAuth(id, request, stored ?? {});
      try {
        await m.query(
          `UPDATE ${T} SET name = $3, description = $4, request = $5, trigger = $6, delivery = $7, reply = $8,
             secrets_sealed = $9, secret_names = $10, auth_sealed = $11, updated_at = now() WHERE tenant_id = $1 AND id = $2`,
          [
            tenantId, id, dto.name ?? before.name, dto.description ?? before.description, sealed.request,
            dto.trigger ?? before.trigger, dto.delivery ? deliverySettings({ ...before.delivery, ...givenFields(dto.delivery) }) : before.delivery,
            dto.reply ?? before.reply, secretsSealed, names, sealed.authSealed,
          ],
        );
      } catch (err) {
        if ((err as { code?: string }).code === '23505') throw new ProblemException(409, `an integration named "${dto.name}" already exists`);
        throw err;
      }
    });
  }

  setEnabled(p: Principal, tenantId: string, id: string, enabled: boolean, reason?: string): Promise<IntegrationView> {
    return this.change(p, tenantId, id, enabled ? 'integration.enabled' : 'integration.disabled', async (m) => {
      await m.query(`UPDATE ${T} SET enabled = $3, disabled_reason = $4, failing_since = NULL, updated_at = now() WHERE tenant_id = $1 AND id = $2`, [
        tenantId, id, enabled, enabled ? null : (reason ?? 'disabled by an admin'),
      ]);
    });
  }

  async remove(p: Principal, tenantId: string, id: string): Promise<void> {
    await this.ds.transaction(async (m) => {
      const before = await this.row(m, tenantId, id, true);
      // Its deliveries go with it. The runs a bot flow requested that are still waiting (for a retry, or in flight:
      // a worker then records nothing) are answered now, as a name matching no integration is: the flow step waits
      // for an outcome, and none would ever come.
      const waiting = (await m.query(
        `SELECT id, tenant_id, event_id, event_type, event, attempts, correlation_id FROM "dispatcher".deliveries
         WHERE integration_id = $1 AND status = 'pending' AND event_type = 'integration.requested' ORDER BY created_at FOR UPDATE`,
        [id],
      )) as DeliveryRow[];
      // No request goes out: the failure reply renders without event fields, as for other failures before one did.
      // Each answer carries its run's correlation id (the request's), not the admin's.
      const failed = { errorClass: 'not_found', error: `integration ${id} was deleted`, context: {} };
      await this.outbox.publish(m, ...waiting.flatMap((d) => outcomeEvents(d, before, failed, 'failed', d.attempts, () => undefined)));
      await m.query(`DELETE FROM ${T} WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
      await this.audit.record(m, {
        tenantId, actorKeyId: p.keyId, service: SERVICE, action: 'integration.deleted', targetType: 'integration',
        targetId: id, before: this.view(before),
      });
    });
  }

  /**
   * The integration's request as it is sent: its literal credentials opened (rows saved before they were sealed
   * hold them in the request itself). For rendering only; never returned.
   */
  request(row: IntegrationRow): HttpRequestDto | SoapRequestDto {
    if (!row.auth_sealed || !row.request.auth) return row.request;
    const credentials = this.openedJson<Credentials>(row.auth_sealed, `${row.id}:auth`);
    return { ...row.request, auth: { ...row.request.auth, ...credentials } };
  }

  /**
   * The request to store: each literal credential of its auth helper (text besides tokens, e.g. a token written
   * out rather than `{secret.token}`) sealed apart and `••••` in its place. A field given as `••••` (a request
   * sent back as it was read) keeps the credential stored for it (`stored`, opened).
   */
  private sealAuth(id: string, request: HttpRequestDto | SoapRequestDto, stored: Credentials): { request: HttpRequestDto | SoapRequestDto; authSealed: string | null } {
    if (!request.auth) return { request, authSealed: null };
    const auth = { ...request.auth };
    const literal: Credentials = {};
    for (const f of CREDENTIAL_FIELDS) {
      const v = auth[f] === MASKED ? stored[f] : auth[f];
      if (auth[f] === MASKED && v === undefined) throw new ProblemException(400, `auth.${f}: ${MASKED} keeps the stored credential, and none is stored`);
      if (v === undefined || !isLiteralCredential(v)) {
        if (v === undefined) delete auth[f];
        else auth[f] = v;
        continue;
      }
      literal[f] = v;
      auth[f] = MASKED;
    }
    const authSealed = Object.keys(literal).length ? this.box.encrypt(JSON.stringify(literal), `${id}:auth`) : null;
    return { request: { ...request, auth }, authSealed };
  }

  /** The integration's secrets, opened (the same frozen object for the same sealed value: callers only read it). */
  secrets(row: IntegrationRow): Readonly<Record<string, string>> {
    return row.secrets_sealed ? this.openedJson<Record<string, string>>(row.secrets_sealed, `${row.id}:secrets`) : NO_SECRETS;
  }

  /** The secrets that sign now: the current one, and every previous one within its 24 h grace. */
  signingSecrets(row: IntegrationRow, now = new Date()): string[] {
    const current = this.open(row.signing_secret_sealed, `${row.id}:signing`);
    const previous = this.previousSigningSecrets(row).filter((s) => s.expiresAt > now.getTime());
    return previous.length ? [current, ...previous.map((s) => s.secret)] : [current];
  }

  /**
   * The previous signing secrets and when each stops signing. `previous_signing_secret_sealed` holds either one
   * secret (`whsec_…`, rows rotated before several were kept; it expires at `previous_signing_expires_at`) or a
   * JSON list of `{secret, expiresAt}`, sealed as one value so re-encryption covers it like any sealed column.
   */
  private previousSigningSecrets(row: IntegrationRow): ReadonlyArray<{ secret: string; expiresAt: number }> {
    if (!row.previous_signing_secret_sealed) return [];
    const sealed = row.previous_signing_secret_sealed;
    const aad = `${row.id}:signing`;
    const plain = this.open(sealed, aad);
    if (!plain.startsWith('[')) {
      const expires = row.previous_signing_expires_at;
      return expires ? [{ secret: plain, expiresAt: new Date(expires).getTime() }] : [];
    }
    return this.openedJson<Array<{ secret: string; expiresAt: number }>>(sealed, aad);
  }

  /**
   * New signing secret (shown once). The one it replaces keeps signing alongside for 24 hours, and so does every
   * earlier one still within its own 24 hours (rotating twice in a day leaves three secrets signing; the
   * MAX_PREVIOUS_SIGNING most recent at most).
   */
  async rotateSigningSecret(p: Principal, tenantId: string, id: string): Promise<{ signingSecret: string; previousExpiresAt: string }> {
    const signingSecret = `whsec_${randomBytes(32).toString('base64')}`;
    const now = Date.now();
    const previousExpiresAt = new Date(now + ROTATION_GRACE_SECONDS * 1000);
    await this.change(p, tenantId, id, 'integration.signing_secret_rotated', async (m, before) => {
      const previous = [
        ...this.previousSigningSecrets(before).filter((s) => s.expiresAt > now),
        { secret: this.open(before.signing_secret_sealed, `${before.id}:signing`), expiresAt: previousExpiresAt.getTime() },
      ].slice(-MAX_PREVIOUS_SIGNING);
      await m.query(
        `UPDATE ${T} SET previous_signing_secret_sealed = $3, previous_signing_expires_at = $4,
           signing_secret_sealed = $5, updated_at = now() WHERE tenant_id = $1 AND id = $2`,
        [
          tenantId, id, this.box.encrypt(JSON.stringify(previous), `${before.id}:signing`), previousExpiresAt,
          this.box.encrypt(signingSecret, `${before.id}:signing`),
        ],
      );
    });
    return { signingSecret, previousExpiresAt: previousExpiresAt.toISOString() };
  }

  view(r: IntegrationRow): IntegrationView {
    return {
      id: r.id,
      name: r.name,
      description: r.description,
      kind: r.kind,
      enabled: r.enabled,
      disabledReason: r.disabled_reason,
      ...(r.kind === 'soap' ? { soap: maskCredentials(r.request) as SoapRequestDto } : { request: maskCredentials(r.request) as HttpRequestDto }),
      trigger: r.trigger,
      delivery: r.delivery,
      reply: r.reply,
      failingSince: r.failing_since ? new Date(r.failing_since).toISOString() : null,
      previousSigningSecretExpiresAt: r.previous_signing_expires_at ? new Date(r.previous_signing_expires_at).toISOString() : null,
      secrets: Object.fromEntries(r.secret_names.map((n) => [n, '••••'])),
      createdAt: new Date(r.created_at).toISOString(),
      updatedAt: new Date(r.updated_at).toISOString(),
    };
  }

  private async change(
    p: Principal, tenantId: string, id: string, action: string,
    apply: (m: EntityManager, before: IntegrationRow) => Promise<void>,
  ): Promise<IntegrationView> {
    return this.ds.transaction(async (m) => {
      const before = await this.row(m, tenantId, id, true);
      await apply(m, before);
      const after = this.view(await this.row(m, tenantId, id));
      await this.audit.record(m, {
        tenantId, actorKeyId: p.keyId, service: SERVICE, action, targetType: 'integration', targetId: id,
        before: this.view(before), after,
      });
      return after;
    });
  }

  /** A sealed JSON value opened and parsed once: the same frozen value for the same sealed text, as callers only read it. */
  private openedJson<T>(sealed: string, aad: string): Readonly<T> {
    const key = `${aad}\n${sealed}`;
    let value = this.parsed.get(key) as Readonly<T> | undefined;
    if (value === undefined) {
      value = Object.freeze(JSON.parse(this.open(sealed, aad)) as T);
      if (this.parsed.size >= OPENED_MAX) this.parsed.clear();
      this.parsed.set(key, value);
    }
    return value;
  }

  private open(sealed: string, aad: string): string {
    const key = `${aad}\n${sealed}`;
    let plain = this.opened.get(key);
    if (plain === undefined) {
      plain = this.box.decrypt(sealed, aad);
      if (this.opened.size >= OPENED_MAX) this.opened.clear();
      this.opened.set(key, plain);
    }
    return plain;
  }

  private sealSecrets(id: string, secrets: Record<string, string>): string | null {
    return Object.keys(secrets).length ? this.box.encrypt(JSON.stringify(secrets), `${id}:secrets`) : null;
  }
}

/** A credential with text of its own besides tokens: a secret written out, which is sealed and never shown. */
function isLiteralCredential(v: string): boolean {
  if (v === MASKED) return false;
  try {
    return renderTemplate(v, {}, { missing: 'empty' }).trim() !== '';
  } catch {
    return true;
  }
}

/** The request as shown: every literal credential `••••` (rows saved before they were sealed included). */
function maskCredentials(request: HttpRequestDto | SoapRequestDto): HttpRequestDto | SoapRequestDto {
  if (!request.auth) return request;
  const auth = { ...request.auth };
  for (const f of CREDENTIAL_FIELDS) if (auth[f] !== undefined && isLiteralCredential(auth[f])) auth[f] = MASKED;
  return { ...request, auth };
}

/** `request` with each `••••` credential taken from `stored` (for checking its templates). */
function withCredentials(request: HttpRequestDto | SoapRequestDto, stored: Credentials | undefined): HttpRequestDto | SoapRequestDto {
  if (!request.auth) return request;
  const auth = { ...request.auth };
  for (const f of CREDENTIAL_FIELDS) if (auth[f] === MASKED && stored?.[f] !== undefined) auth[f] = stored[f];
  return { ...request, auth };
}

function deliverySettings(d: Partial<DeliverySettings> | undefined): DeliverySettings {
  return {
    retryScheduleSeconds: d?.retryScheduleSeconds ?? DEFAULT_RETRY_SCHEDULE,
    timeoutMs: d?.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    disableAfterFailingSeconds: d?.disableAfterFailingSeconds ?? DEFAULT_DISABLE_AFTER_SECONDS,
    ...(d?.rateLimitPerSecond ? { rateLimitPerSecond: d.rateLimitPerSecond } : {}),
    ...(d?.maxConcurrency ? { maxConcurrency: d.maxConcurrency } : {}),
  };
}

function requestOf(kind: string, dto: { request?: HttpRequestDto; soap?: SoapRequestDto }): HttpRequestDto | SoapRequestDto {
  const r = kind === 'soap' ? dto.soap : dto.request;
  if (!r) throw new ProblemException(400, kind === 'soap' ? 'a soap integration needs `soap`' : 'an http integration needs `request`');
  return r;
}

/**
 * Refuses a request with a `{secret.name}` token naming no secret of the integration (after a PATCH's merge
 * too): it could never render. Reply templates are not looked at: they never see secrets.
 */
function checkSecretReferences(kind: string, request: HttpRequestDto | SoapRequestDto, names: string[]): void {
  const context = { secret: Object.fromEntries(names.map((n) => [n, n])) };
  const errors = secretTemplates(kind, request).flatMap(([field, template]) => listTokens(template)
    .filter((token) => /^secret[.[]/.test(token) && lookupPath(context, token) === undefined)
    .map((token) => ({ field, message: `{${token}} names no secret of this integration` })));
  if (errors.length) throw new ProblemException(400, errors.map((e) => `${e.field}: ${e.message}`).join('; '), { errors });
}

/** Refuses a reply into the chat on an integration that its own reply would trigger again (replyLoopTypes). */
function checkReplyLoop(trigger: TriggerDto, reply: ReplyDto | null | undefined): void {
  const loop = replyLoopTypes(trigger, reply);
  if (loop.length) {
    const message = `an integration triggered by ${loop.join(', ')} cannot reply into the chat: each reply would trigger it again`;
    throw new ProblemException(400, `reply: ${message}`, { errors: [{ field: 'reply', message }] });
  }
}

/** Every template of a request that is rendered with the secrets, and the field it stands in. */
function secretTemplates(kind: string, request: HttpRequestDto | SoapRequestDto): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const root = kind === 'soap' ? 'soap' : 'request';
  const add = (field: string, template: string | undefined) => {
    if (template) out.push([`${root}.${field}`, template]);
  };
  if (kind === 'soap') {
    (request as SoapRequestDto).params.forEach((p, i) => add(`params[${i}].value`, p.value));
  } else {
    const http = request as HttpRequestDto;
    add('url', http.url);
    http.query?.forEach((q, i) => {
      add(`query[${i}].key`, q.key);
      add(`query[${i}].value`, q.value);
    });
    http.body?.pairs?.forEach((p, i) => add(`body.pairs[${i}].value`, p.value));
    add('body.template', http.body?.template);
  }
  if (typeof request.headers === 'string') add('headers', request.headers);
  else request.headers?.forEach((h, i) => add(`headers[${i}].value`, h.value));
  for (const f of ['token', 'username', 'password', 'value'] as const) add(`auth.${f}`, request.auth?.[f]);
  return out;
}

/** U+0000, or a lone UTF-16 surrogate (a JSON escape such as `"\ud800"`): what PostgreSQL's jsonb cannot store. */
// eslint-disable-next-line no-control-regex -- U+0000 is what it refuses
const UNSTORABLE = /\u0000|\p{Cs}/u;

/** Where `value` holds U+0000 or a lone surrogate (in a string or a key), or undefined. */
function nulAt(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? path : undefined;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const at = nulAt(v, `${path}[${i}]`);
      if (at) return at;
    }
    return undefined;
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const at = UNSTORABLE.test(k) ? `${path}.${k}` : nulAt(v, path ? `${path}.${k}` : k);
      if (at) return at;
    }
  }
  return undefined;
}

/** A definition holding U+0000 or a lone surrogate is a 400 naming the field: stored, PostgreSQL refused it and the answer was a 500. */
function refuseNul(dto: object): void {
  const at = nulAt(dto, '');
  if (at) throw new ProblemException(400, `${at}: text cannot hold the NUL character (U+0000) or a lone surrogate (\\ud800 to \\udfff)`);
}

function cleanSecrets(input: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(input)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(k)) throw new ProblemException(400, `secret name "${k}" must be an identifier`);
    if (typeof v !== 'string' || !v) throw new ProblemException(400, `secret "${k}" must be a non-empty string`);
    out[k] = v;
  }
  return out;
}
