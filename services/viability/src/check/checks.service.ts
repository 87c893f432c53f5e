import { Injectable } from '@nestjs/common';
import { Outbox, type PublishSpec } from '@elo/messaging';
import { randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { GeocoderService } from '../geocoder/geocoder.service';
import { CheckRecordsService, type CheckRecord } from './check-records.service';
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

/**
 * What a check row keeps of the answer: the outcome, the chosen box and pole, and the other boxes in
 * range by id (with the reason for the refused ones). An answer lists up to 50 boxes in full; storing it
 * whole made the write cost the database more than the check itself. The boxes themselves are in the
 * inventory, and the point is in the row.
 */
export function storedResult(
  r: Pick<CheckResult, 'status' | 'box' | 'pole' | 'alternatives' | 'refused'> & Partial<Pick<CheckResult, 'mode' | 'maxDropMeters' | 'reason'>> & { candidates?: unknown[] },
): Record<string, unknown> {
  return {
    status: r.status,
    ...(r.mode ? { mode: r.mode, maxDropMeters: r.maxDropMeters } : {}),
    ...(r.box ? { box: ref(r.box) } : {}),
    ...(r.pole ? { pole: ref(r.pole) } : {}),
    alternatives: r.alternatives.map((b) => b.id),
    refused: r.refused.map((b) => ({ id: b.id, refusedBecause: b.refusedBecause })),
    ...(r.reason ? { reason: r.reason } : {}),
    ...(r.candidates ? { candidates: r.candidates } : {}),
  };
}

/** Who asked for a check; null (from a row) and absent are the same: left out of the event. */
export interface CheckedIds {
  requestId?: string | null;
  conversationId?: string | null;
  channelId?: string | null;
}

/**
 * The viability.checked event of an answer: about the conversation when there is one, else
 * `fallbackSubject`; the ids that are present, then `data`.
 */
export function checkedSpec(tenantId: string, fallbackSubject: string, ids: CheckedIds, data: Record<string, unknown>): PublishSpec<'viability.checked'> {
  return {
    type: 'viability.checked',
    tenantId,
    subject: ids.conversationId ?? fallbackSubject,
    data: {
      ...(ids.requestId ? { requestId: ids.requestId } : {}),
      ...(ids.conversationId ? { conversationId: ids.conversationId } : {}),
      ...(ids.channelId ? { channelId: ids.channelId } : {}),
      ...data,
    },
  };
}

/** Runs a check, records it and publishes viability.checked, atomically (one statement writes both). */
@Injectable()
export class ChecksService {
  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
    private readonly viability: ViabilityService,
    private readonly geocoder: GeocoderService,
    private readonly records: CheckRecordsService,
  ) {}

  /**
   * Locates the address, then checks it. An unknown or ambiguous address is answered `not_found` with
   * the reason (and published like any check); a geocoder that cannot be reached throws.
   */
  async runAddress(m: EntityManager | undefined, tenantId: string, address: string, req: Omit<CheckRequest, 'lat' | 'lng' | 'via'>) {
    const located = await this.geocoder.locate(address);
    const tx = m ?? this.ds.manager;
    if (located.found) {
      return { ...(await this.runIn(tx, tenantId, { ...req, lat: located.lat, lng: located.lng, via: 'address' })), address: located.displayName };
    }
    const checkId = randomUUID();
    const result = { status: 'not_found' as const, reason: located.reason, candidates: located.candidates ?? [], alternatives: [], refused: [] };
    await this.record(tx, {
      id: checkId,
      tenantId,
      via: 'address',
      lat: null,
      lng: null,
      status: 'not_found',
      boxId: null,
      result: storedResult(result),
      event: this.outbox.event(checkedSpec(tenantId, checkId, req, { status: 'not_found', via: 'address', reason: located.reason })),
    });
    return { ...result, checkId };
  }

  /**
   * A check asked over HTTP: the check (one statement, see ViabilityService.check), then the check row
   * and its viability.checked outbox row, written with those of the checks answered meanwhile (one
   * statement for the group, see CheckRecordsService); the answer waits for that write.
   * The answer is the product: that write commits without waiting for the WAL flush
   * (synchronous_commit off for this transaction only), which takes the fsync off the latency and lets
   * PostgreSQL group commits. A crash within the WAL writer's delay (200 ms by default) can lose such a
   * record and its viability.checked; it cannot corrupt anything, and the caller already has the answer.
   * Checks from the bus stay fully durable (their inbox row must not be lost after the ack).
   */
  async run(tenantId: string, req: CheckRequest): Promise<CheckResult & { checkId: string }> {
    const result = await this.viability.check(this.ds.manager, tenantId, req.lat, req.lng);
    const checkId = randomUUID();
    await this.records.write(this.recordOf(checkId, tenantId, req, result));
    return { ...result, checkId };
  }

  /** Checks and records; `m` may be a transaction (the bus's, with its inbox row) or the pool. */
  async runIn(m: EntityManager, tenantId: string, req: CheckRequest): Promise<CheckResult & { checkId: string }> {
    const result = await this.viability.check(m, tenantId, req.lat, req.lng);
    const checkId = randomUUID();
    await this.record(m, this.recordOf(checkId, tenantId, req, result));
    return { ...result, checkId };
  }

  /** The check row of a located check and its viability.checked event. */
  private recordOf(checkId: string, tenantId: string, req: CheckRequest, result: CheckResult): CheckRecord {
    return {
      id: checkId,
      tenantId,
      via: req.via,
      lat: req.lat,
      lng: req.lng,
      status: result.status,
      boxId: result.box?.id ?? null,
      result: storedResult(result),
      event: this.outbox.event(
        checkedSpec(tenantId, checkId, req, {
          status: result.status,
          via: req.via,
          location: { lat: req.lat, lng: req.lng },
          ...(result.box ? { box: ref(result.box) } : {}),
          ...(result.pole ? { pole: ref(result.pole) } : {}),
          refused: result.refused.map(ref),
        }),
      ),
    };
  }

  /** The check row and its viability.checked event, written together in one statement (durable commit). */
  private record(m: EntityManager, r: CheckRecord): Promise<boolean> {
    return this.outbox.addWith(
      m,
      {
        sql: `INSERT INTO viability.checks (id, tenant_id, via, lat, lng, status, box_id, result) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        params: [r.id, r.tenantId, r.via, r.lat, r.lng, r.status, r.boxId, JSON.stringify(r.result)],
      },
      [r.event],
    );
  }
}
