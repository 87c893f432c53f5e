import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { ProblemException } from '@elo/platform';
import { DataSource, type EntityManager } from 'typeorm';
import { flowProblems, type FlowDefinition } from './flow.types';

const S = '"chat_ingress"';

export interface FlowVersion {
  id: string;
  version: number;
  definition: FlowDefinition;
  createdAt: string;
}

/** The tenant's bot flow, versioned: every save is a new version; conversations keep the one they started with. */
@Injectable()
export class FlowsService {
  private readonly byId = new Map<string, FlowVersion>();
  private readonly latestCache = new Map<string, { at: number; v: FlowVersion | null }>();

  constructor(private readonly ds: DataSource) {}

  async save(tenantId: string, definition: unknown): Promise<FlowVersion> {
    const problems = flowProblems(definition);
    if (problems.length) throw new ProblemException(400, 'the flow definition is not valid', { errors: problems });
    const id = randomUUID();
    const rows = await this.ds.transaction(async (m) => {
      await m.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`chat-flow:${tenantId}`]);
      return m.query(
        `INSERT INTO ${S}.flows (id, tenant_id, version, definition)
         SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3 FROM ${S}.flows WHERE tenant_id = $2
         RETURNING id, version, definition, created_at`,
        [id, tenantId, JSON.stringify(definition)],
      );
    });
    this.latestCache.delete(tenantId);
    return toVersion(rows[0]);
  }

  async latest(tenantId: string, m: EntityManager = this.ds.manager): Promise<FlowVersion | undefined> {
    const hit = this.latestCache.get(tenantId);
    if (hit && Date.now() - hit.at < 2_000) return hit.v ?? undefined;
    const rows = await m.query(`SELECT id, version, definition, created_at FROM ${S}.flows WHERE tenant_id = $1 ORDER BY version DESC LIMIT 1`, [tenantId]);
    const v = rows[0] ? toVersion(rows[0]) : null;
    this.latestCache.set(tenantId, { at: Date.now(), v });
    return v ?? undefined;
  }

  async version(tenantId: string, version: number): Promise<FlowVersion> {
    const rows = await this.ds.query(`SELECT id, version, definition, created_at FROM ${S}.flows WHERE tenant_id = $1 AND version = $2`, [tenantId, version]);
    if (!rows[0]) throw new ProblemException(404, `flow version ${version} not found`);
    return toVersion(rows[0]);
  }

  async list(tenantId: string): Promise<Array<Omit<FlowVersion, 'definition'>>> {
    const rows = await this.ds.query(`SELECT id, version, created_at FROM ${S}.flows WHERE tenant_id = $1 ORDER BY version DESC`, [tenantId]);
    return rows.map((r: { id: string; version: number; created_at: Date }) => ({ id: r.id, version: r.version, createdAt: new Date(r.created_at).toISOString() }));
  }

  /** A version by id (immutable, so cached for good). */
  async byVersionId(m: EntityManager, id: string): Promise<FlowVersion | undefined> {
    const hit = this.byId.get(id);
    if (hit) return hit;
    const rows = await m.query(`SELECT id, version, definition, created_at FROM ${S}.flows WHERE id = $1`, [id]);
    if (!rows[0]) return undefined;
    const v = toVersion(rows[0]);
    this.byId.set(id, v);
    return v;
  }
}

function toVersion(r: { id: string; version: number; definition: FlowDefinition; created_at: Date }): FlowVersion {
  return { id: r.id, version: r.version, definition: r.definition, createdAt: new Date(r.created_at).toISOString() };
}
