import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { AuditService, SecretBox } from '@elo/auth';
import { ProblemException, SERVICE_CONFIG } from '@elo/platform';
import { lookupPath, renderRequest, TemplateError, type RequestTemplate } from '@elo/templating';
import { DataSource, type EntityManager } from 'typeorm';
import { parseCidr } from '../callbacks/source-address';
import type { TelephonyBridgeConfig } from '../config/telephony-bridge.config';
import type {
  CreatePbxProfileDto, PbxProfileView, RequestTemplateDto, UpdatePbxProfileDto,
} from './dto/pbx-profile.dto';
import { presetTemplates, type Click2CallSpec, type Preset, type RecordingSpec } from './pbx-presets';
import { returnedRows, storable, storableString } from '@elo/persistence';

/** A stored PBX profile; secrets still sealed. */
export interface PbxProfile {
  id: string;
  tenantId: string;
  name: string;
  preset: Preset;
  allowedCidrs: string[];
  callbackToken: string | null;
  chave: string | null;
  pbxHost: string | null;
  click2call: Click2CallSpec | null;
  recording: RecordingSpec | null;
  createdAt: Date;
  updatedAt: Date;
}

interface ProfileRow {
  id: string;
  tenant_id: string;
  name: string;
  preset: Preset;
  allowed_cidrs: string[];
  callback_token: string | null;
  chave: string | null;
  pbx_host: string | null;
  click2call: Click2CallSpec | null;
  recording: RecordingSpec | null;
  created_at: Date;
  updated_at: Date;
}

const SAMPLE = { ramal: '1001', telefone: '41988445566', chave: 'sample-key', chaveBase64: 'c2FtcGxl', callid: '1537276453.47245539' };
const CLICK2CALL_TOKENS = ['ramal', 'telefone', 'chave', 'chaveBase64'];
const RECORDING_TOKENS = ['callid', 'telefone', 'chave', 'chaveBase64'];

const fromRow = (r: ProfileRow): PbxProfile => ({
  id: r.id,
  tenantId: r.tenant_id,
  name: r.name,
  preset: r.preset,
  allowedCidrs: r.allowed_cidrs,
  callbackToken: r.callback_token,
  chave: r.chave,
  pbxHost: r.pbx_host,
  click2call: r.click2call,
  recording: r.recording,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** Our API's request template (body kinds json/form/keyvalue) → @elo/templating's. */
export function toRequestTemplate(t: RequestTemplateDto | RequestTemplate): RequestTemplate {
  const body = t.body as { kind: string; template?: string; pairs?: Array<{ key: string; value: string }>; contentType?: string } | undefined;
  const base: RequestTemplate = { method: t.method, url: t.url, headers: t.headers, query: t.query };
  if (!body) return base;
  if (body.kind === 'json') return { ...base, body: { kind: 'raw', contentType: 'application/json', template: body.template ?? '' } };
  if (body.kind === 'form') return { ...base, body: { kind: 'form', pairs: body.pairs ?? [] } };
  if (body.kind === 'keyvalue') return { ...base, body: { kind: 'keyvalue', pairs: body.pairs ?? [] } };
  return base;
}

const secretAad = (tenantId: string, id: string, field: string) => `${tenantId}:pbx-profile:${id}:${field}`;

@Injectable()
export class ProfilesService {
  constructor(
    private readonly ds: DataSource,
    private readonly box: SecretBox,
    private readonly audit: AuditService,
    @Inject(SERVICE_CONFIG) private readonly config: TelephonyBridgeConfig,
  ) {}

  async create(tenantId: string, actorKeyId: string, dto: CreatePbxProfileDto): Promise<PbxProfileView> {
    const id = randomUUID();
    const preset: Preset = dto.preset ?? 'custom';
    let click2call: Click2CallSpec | null = null;
    let recording: RecordingSpec | null = null;
    if (preset !== 'custom') ({ click2call, recording } = presetTemplates(preset, dto.baseUrl!, dto));
    if (dto.click2call) click2call = dto.click2call as Click2CallSpec;
    if (dto.recording) recording = dto.recording as RecordingSpec;
    // U+0000 and lone surrogates (JSON escapes) would make PostgreSQL refuse the row: U+FFFD in their place.
    click2call = storable(click2call);
    recording = storable(recording);
    const row = {
      name: storableString(dto.name),
      preset,
      allowedCidrs: this.checkCidrs(dto.allowedCidrs),
      callbackToken: dto.callbackToken ? this.box.encrypt(dto.callbackToken, secretAad(tenantId, id, 'callback_token')) : null,
      chave: dto.chave ? this.box.encrypt(dto.chave, secretAad(tenantId, id, 'chave')) : null,
      pbxHost: dto.pbxHost ? dto.pbxHost.toLowerCase() : null,
      click2call,
      recording,
    };
    this.checkTemplates(click2call, recording);
    const created = await this.ds.transaction(async (m) => {
      const rows: ProfileRow[] = await m
        .query(
          `INSERT INTO "telephony".pbx_profiles
             (id, tenant_id, name, preset, allowed_cidrs, callback_token, chave, pbx_host, click2call, recording)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
          [id, tenantId, row.name, row.preset, row.allowedCidrs, row.callbackToken, row.chave, row.pbxHost,
            row.click2call ? JSON.stringify(row.click2call) : null, row.recording ? JSON.stringify(row.recording) : null],
        )
        .catch((err: { code?: string }) => {
          if (err.code === '23505') throw new ProblemException(409, `a PBX profile named "${dto.name}" already exists`);
          throw err;
        });
      const p = fromRow(rows[0]);
      await this.record(m, tenantId, actorKeyId, 'pbx_profile.created', id, undefined, this.view(p));
      return p;
    });
    return this.view(created);
  }

  async update(tenantId: string, actorKeyId: string, id: string, dto: UpdatePbxProfileDto): Promise<PbxProfileView> {
    return this.ds.transaction(async (m) => {
      const rows: ProfileRow[] = await m.query(
        'SELECT * FROM "telephony".pbx_profiles WHERE id = $1 AND tenant_id = $2 FOR UPDATE',
        [id, tenantId],
      );
      if (!rows[0]) throw new ProblemException(404, 'no such PBX profile');
      const before = fromRow(rows[0]);
      const next: PbxProfile = { ...before };
      // U+0000 and lone surrogates (JSON escapes) would make PostgreSQL refuse the row: U+FFFD in their place.
      if (dto.name !== undefined) next.name = storableString(dto.name);
      if (dto.allowedCidrs !== undefined) next.allowedCidrs = this.checkCidrs(dto.allowedCidrs);
      if (dto.callbackToken !== undefined) {
        next.callbackToken = dto.callbackToken === null ? null : this.box.encrypt(dto.callbackToken, secretAad(tenantId, id, 'callback_token'));
      }
      if (dto.chave !== undefined) next.chave = dto.chave === null ? null : this.box.encrypt(dto.chave, secretAad(tenantId, id, 'chave'));
      if (dto.pbxHost !== undefined) next.pbxHost = dto.pbxHost === null ? null : dto.pbxHost.toLowerCase();
      if (dto.click2call !== undefined) next.click2call = storable(dto.click2call as Click2CallSpec);
      if (dto.recording !== undefined) next.recording = storable(dto.recording as RecordingSpec);
      this.checkTemplates(next.click2call, next.recording);
      const saved = await m
        .query(
          `UPDATE "telephony".pbx_profiles SET name = $3, allowed_cidrs = $4, callback_token = $5, chave = $6,
                  pbx_host = $7, click2call = $8, recording = $9, updated_at = now()
            WHERE id = $1 AND tenant_id = $2 RETURNING *`,
          [id, tenantId, next.name, next.allowedCidrs, next.callbackToken, next.chave, next.pbxHost,
            next.click2call ? JSON.stringify(next.click2call) : null, next.recording ? JSON.stringify(next.recording) : null],
        )
        .catch((err: { code?: string }) => {
          if (err.code === '23505') throw new ProblemException(409, `a PBX profile named "${next.name}" already exists`);
          throw err;
        });
      const after = fromRow(returnedRows<ProfileRow>(saved)[0]);
      await this.record(m, tenantId, actorKeyId, 'pbx_profile.updated', id, this.view(before), this.view(after));
      return this.view(after);
    });
  }

  async remove(tenantId: string, actorKeyId: string, id: string): Promise<void> {
    await this.ds.transaction(async (m) => {
      const rows = returnedRows<ProfileRow>(
        await m.query('DELETE FROM "telephony".pbx_profiles WHERE id = $1 AND tenant_id = $2 RETURNING *', [id, tenantId]),
      );
      if (!rows[0]) throw new ProblemException(404, 'no such PBX profile');
      await this.record(m, tenantId, actorKeyId, 'pbx_profile.deleted', id, this.view(fromRow(rows[0])), undefined);
    });
  }

  async list(tenantId: string): Promise<PbxProfileView[]> {
    const rows: ProfileRow[] = await this.ds.query(
      'SELECT * FROM "telephony".pbx_profiles WHERE tenant_id = $1 ORDER BY created_at, id',
      [tenantId],
    );
    return rows.map((r) => this.view(fromRow(r)));
  }

  async get(tenantId: string, id: string): Promise<PbxProfileView> {
    return this.view(await this.find(tenantId, id));
  }

  async find(tenantId: string, id: string): Promise<PbxProfile> {
    const rows: ProfileRow[] = await this.ds.query(
      'SELECT * FROM "telephony".pbx_profiles WHERE id = $1 AND tenant_id = $2',
      [id, tenantId],
    );
    if (!rows[0]) throw new ProblemException(404, 'no such PBX profile');
    return fromRow(rows[0]);
  }

  /** The profile a callback URL names (no tenant yet: the profile decides it). */
  async findForCallback(id: string): Promise<PbxProfile | undefined> {
    const rows: ProfileRow[] = await this.ds.query('SELECT * FROM "telephony".pbx_profiles WHERE id = $1', [id]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  /** The profile a call goes through: the one named, else the tenant's first. */
  async forCall(tenantId: string, profileId?: string): Promise<PbxProfile> {
    if (profileId) return this.find(tenantId, profileId);
    const rows: ProfileRow[] = await this.ds.query(
      'SELECT * FROM "telephony".pbx_profiles WHERE tenant_id = $1 ORDER BY created_at, id LIMIT 1',
      [tenantId],
    );
    if (!rows[0]) throw new ProblemException(409, 'this tenant has no PBX profile yet (POST /pbx-profiles)');
    return fromRow(rows[0]);
  }

  callbackToken(p: PbxProfile): string | null {
    return p.callbackToken ? this.box.decrypt(p.callbackToken, secretAad(p.tenantId, p.id, 'callback_token')) : null;
  }

  chave(p: PbxProfile): string | null {
    return p.chave ? this.box.decrypt(p.chave, secretAad(p.tenantId, p.id, 'chave')) : null;
  }

  view(p: PbxProfile): PbxProfileView {
    const base = (this.config.PUBLIC_BASE_URL ?? '').replace(/\/+$/, '');
    return {
      id: p.id,
      name: p.name,
      preset: p.preset,
      allowedCidrs: p.allowedCidrs,
      callbackToken: p.callbackToken ? this.box.mask(this.callbackToken(p)!) : null,
      chave: p.chave ? this.box.mask(this.chave(p)!) : null,
      pbxHost: p.pbxHost,
      click2call: p.click2call as PbxProfileView['click2call'],
      recording: p.recording as PbxProfileView['recording'],
      callbacks: { answered: `${base}/telephony/${p.id}/answered`, ended: `${base}/telephony/${p.id}/ended` },
      createdAt: p.createdAt.toISOString(),
      updatedAt: p.updatedAt.toISOString(),
    };
  }

  private checkCidrs(list: string[]): string[] {
    const bad = list.filter((c) => !parseCidr(c));
    if (bad.length) {
      throw new ProblemException(400, `allowedCidrs: not an address or CIDR: ${bad.slice(0, 5).join(', ')}`, {
        errors: bad.map((c) => ({ field: 'allowedCidrs', message: `${c} is not an IP address or CIDR` })),
      });
    }
    return list.map((c) => c.trim());
  }

  /** Renders each template with sample values: an unknown token or an unsafe URL is a 400 now, not a 502 later. */
  private checkTemplates(click2call: Click2CallSpec | null, recording: RecordingSpec | null): void {
    const check = (field: string, t: RequestTemplate, allowed: string[]) => {
      const ctx = Object.fromEntries(allowed.map((k) => [k, SAMPLE[k as keyof typeof SAMPLE]]));
      try {
        renderRequest(toRequestTemplate(t), ctx, { missing: 'error' });
      } catch (err) {
        if (err instanceof TemplateError) {
          throw new ProblemException(400, `${field}: ${err.message} (tokens available: ${allowed.map((k) => `{${k}}`).join(', ')})`, {
            errors: [{ field, message: err.message }],
          });
        }
        throw err;
      }
    };
    if (click2call) {
      check('click2call.request', click2call.request, CLICK2CALL_TOKENS);
      if (click2call.callId.from === 'json') {
        try {
          lookupPath({}, click2call.callId.path);
        } catch (err) {
          throw new ProblemException(400, `click2call.callId.path: ${(err as Error).message}`);
        }
      }
    }
    if (recording) check('recording.request', recording.request, RECORDING_TOKENS);
  }

  private record(
    m: EntityManager, tenantId: string, actorKeyId: string, action: string, id: string, before?: unknown, after?: unknown,
  ): Promise<void> {
    return this.audit.record(m, {
      tenantId, actorKeyId, service: 'telephony-bridge', action, targetType: 'pbx_profile', targetId: id,
      before: before as Record<string, unknown> | undefined, after: after as Record<string, unknown> | undefined,
    });
  }
}
