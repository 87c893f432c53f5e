import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

const SECRET_FIELD = /secret|token|password|key|credential|chave|authorization/i;

/** Replaces every secret-looking field's value, at any depth. */
export function maskSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [
        k,
        SECRET_FIELD.test(k) && v !== null && v !== undefined && typeof v !== 'object' ? '[masked]' : maskSecrets(v),
      ]),
    );
  }
  return value;
}

export interface AuditEntry {
  tenantId?: string;
  actorKeyId: string;
  service: string;
  action: string;
  targetType: string;
  targetId?: string;
  before?: unknown;
  after?: unknown;
}

/** Configuration changes, written in the transaction of the change, secrets masked. */
@Injectable()
export class AuditService {
  async record(m: EntityManager, e: AuditEntry): Promise<void> {
    await m.query(
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
}
