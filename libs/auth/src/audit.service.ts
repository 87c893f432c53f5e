import { Injectable } from '@nestjs/common';
import { isSecretKey, REDACTED, redactString } from '@elo/observability';
import type { EntityManager } from 'typeorm';
import { SecretBox } from './secret-box';

const MAX_DEPTH = 10;

/** What JSON carries and jsonb refuses (the audit row failed, and the change with it): U+0000 and lone surrogates. */
// eslint-disable-next-line no-control-regex -- U+0000 is what it replaces
const UNSTORABLE = /\u0000|\p{Cs}/gu;
const storable = (s: string) => s.replace(UNSTORABLE, '\uFFFD');

/**
 * A copy with every secret-looking value masked: fields named like secrets (token, password,
 * credentials, apiKey, … in any spelling, at any depth), sealed SecretBox values, and secrets inside
 * strings (Bearer …, elo_ keys, URL credentials). U+0000 and lone surrogates, in values and names, become U+FFFD.
 */
export function maskSecrets(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return SecretBox.isSealed(value) ? REDACTED : storable(redactString(value));
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, depth + 1));
  if (value instanceof Date) return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [
      storable(k),
      isSecretKey(k) && v !== null && v !== undefined ? REDACTED : maskSecrets(v, depth + 1),
    ]),
  );
}

export interface AuditEntry {
  /** The tenant the change belongs to (omit only for platform-wide actions). */
  tenantId?: string;
  /** The acting API key's id (`admin` for the bootstrap key). */
  actorKeyId: string;
  service: string;
  /** `channel.created`, `key.revoked`, … */
  action: string;
  targetType: string;
  targetId?: string;
  before?: unknown;
  after?: unknown;
}

export interface AuditRecord {
  id: number;
  actorKeyId: string;
  service: string;
  action: string;
  targetType: string;
  targetId: string | null;
  changes: { before: unknown; after: unknown };
  at: Date;
}

export interface AuditPage {
  items: AuditRecord[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  nextBefore: number | null;
}

/** Configuration changes, written in the caller's transaction (committed or rolled back with the change). */
@Injectable()
export class AuditService {
  async record(manager: EntityManager, e: AuditEntry): Promise<void> {
    await manager.query(
      `INSERT INTO auth.audit_log (tenant_id, actor_key_id, service, action, target_type, target_id, changes)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        e.tenantId ?? null,
        e.actorKeyId,
        e.service,
        e.action,
        e.targetType,
        e.targetId ?? null,
        JSON.stringify({ before: maskSecrets(e.before ?? null), after: maskSecrets(e.after ?? null) }),
      ],
    );
  }

  /** One tenant's audit trail, newest first; `before` is the cursor from the previous page. */
  async list(manager: EntityManager, tenantId: string, o: { before?: number; limit?: number } = {}): Promise<AuditPage> {
    const limit = Math.min(Math.max(o.limit ?? 100, 1), 500);
    const rows: Array<Record<string, unknown>> = await manager.query(
      `SELECT id, actor_key_id, service, action, target_type, target_id, changes, at FROM auth.audit_log
        WHERE tenant_id = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`,
      [tenantId, o.before ?? null, limit],
    );
    return {
      items: rows.map((r) => ({
        id: Number(r.id),
        actorKeyId: r.actor_key_id as string,
        service: r.service as string,
        action: r.action as string,
        targetType: r.target_type as string,
        targetId: (r.target_id as string | null) ?? null,
        changes: r.changes as AuditRecord['changes'],
        at: r.at as Date,
      })),
      nextBefore: rows.length === limit ? Number(rows[rows.length - 1]!.id) : null,
    };
  }
}
