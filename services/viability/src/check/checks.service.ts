import { Injectable } from '@nestjs/common';
import { Outbox } from '@elo/messaging';
import { randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { ViabilityService, type CheckResult } from './viability.service';

export interface CheckRequest {
  lat: number;
  lng: number;
  via: 'coordinates' | 'address' | 'chat_location' | 'findme';
  requestId?: string;
  conversationId?: string;
  channelId?: string;
}

const ref = (b: { id: string; externalId?: string; name: string; distanceMeters: number; freePorts?: number; status?: string; refusedBecause?: string }) => ({
  id: b.id,
  externalId: b.externalId,
  name: b.name,
  distanceMeters: b.distanceMeters,
  ...(b.freePorts !== undefined ? { freePorts: b.freePorts } : {}),
  ...(b.status ? { status: b.status } : {}),
  ...(b.refusedBecause ? { refusedBecause: b.refusedBecause } : {}),
});

/** Runs a check, records it and publishes viability.checked, all in one transaction. */
@Injectable()
export class ChecksService {
  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
    private readonly viability: ViabilityService,
  ) {}

  run(tenantId: string, req: CheckRequest): Promise<CheckResult & { checkId: string }> {
    return this.ds.transaction((m) => this.runIn(m, tenantId, req));
  }

  async runIn(m: EntityManager, tenantId: string, req: CheckRequest): Promise<CheckResult & { checkId: string }> {
    const result = await this.viability.check(m, tenantId, req.lat, req.lng);
    const checkId = randomUUID();
    await m.query(
      `INSERT INTO viability.checks (id, tenant_id, via, lat, lng, status, box_id, result) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [checkId, tenantId, req.via, req.lat, req.lng, result.status, result.box?.id ?? null, JSON.stringify(result)],
    );
    await this.outbox.publish(m, {
      type: 'viability.checked',
      tenantId,
      subject: req.conversationId ?? checkId,
      data: {
        ...(req.requestId ? { requestId: req.requestId } : {}),
        ...(req.conversationId ? { conversationId: req.conversationId } : {}),
        ...(req.channelId ? { channelId: req.channelId } : {}),
        status: result.status,
        via: req.via,
        location: { lat: req.lat, lng: req.lng },
        ...(result.box ? { box: ref(result.box) } : {}),
        ...(result.pole ? { pole: ref(result.pole) } : {}),
        refused: result.refused.map(ref),
      },
    });
    return { ...result, checkId };
  }
}
