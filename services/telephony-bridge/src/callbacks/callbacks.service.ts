import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Outbox } from '@elo/messaging';
import { ProblemException } from '@elo/platform';
import { DataSource } from 'typeorm';
import type { PbxProfile } from '../profiles/profiles.service';
import { LATEST_CALL_MAX_AGE_HOURS, PopHub, type CallEndedPop, type ScreenPop } from '../screen-pop/pop-hub.service';
import type { AnsweredParams, EndedParams } from './callback-params';

export interface CallbackOutcome {
  callId: string;
  duplicate: boolean;
}

/**
 * Stores PBX callbacks. The callbacks table holds one row per (profile, kind, call id), and for `answered` per
 * extension too: a repeated callback inserts nothing, publishes nothing and pops nothing, while the same call
 * answered by another extension (a transfer) is that extension's answer. Otherwise the call row and the event
 * commit together, and the screen pop (`ended` too, so the operator's screen shows the call is over) goes out
 * once they have committed.
 */
@Injectable()
export class CallbacksService {
  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
    private readonly pops: PopHub,
  ) {}

  async answered(profile: PbxProfile, source: string, p: AnsweredParams): Promise<CallbackOutcome> {
    // The call as the event carries it; the pop adds the tenant and the time it was answered.
    const call = {
      callId: p.cid,
      profileId: profile.id,
      ramal: p.ramal,
      ...(p.num ? { telefone: p.num } : {}),
      ...(p.pid ? { contactId: p.pid } : {}),
      ...(p.empresaId ? { empresaId: p.empresaId } : {}),
    };
    // One statement, one round trip, its own commit: record the callback once per extension, upsert the call, write
    // the event. A repeated callback inserts no callback row, so the call step sees no row and no event is written;
    // nor does a call its extension has already answered (a callback replayed after its row passed
    // CALLBACK_RETENTION_DAYS). Another extension answering a call in progress takes it over (a transfer): it
    // becomes the call's extension, answered now, and the one it came from is kept. Not a call answered more than
    // LATEST_CALL_MAX_AGE_HOURS ago: that is a replay of an old call whose end never came, not a transfer.
    // A call that has already ended was answered no later than its end: stamped now, a late callback would make it
    // the extension's latest call, shown to a screen that connects instead of the one in progress (PopHub.latest).
    const m = this.ds.manager;
    const fresh = await this.outbox.addWith(
      m,
      {
        ctes: `cb AS (
           INSERT INTO "telephony".callbacks (tenant_id, profile_id, kind, call_id, ramal, params, source_address)
           VALUES ($1, $2, 'answered', $3, $7, $4, $5) ON CONFLICT ON CONSTRAINT callbacks_once_uq DO NOTHING RETURNING id
         )`,
        sql: `INSERT INTO "telephony".calls (id, tenant_id, profile_id, call_id, origin, ramal, telefone, contact_id, empresa_id, answered_at)
           SELECT $6, $1, $2, $3, 'callback', $7, $8, $9, $10, now() WHERE EXISTS (SELECT 1 FROM cb)
           ON CONFLICT ON CONSTRAINT calls_call_uq DO UPDATE SET
             ramal = EXCLUDED.ramal,
             transferred_from = CASE WHEN calls.answered_at IS NULL THEN calls.transferred_from ELSE calls.ramal END,
             telefone = COALESCE(EXCLUDED.telefone, calls.telefone),
             contact_id = COALESCE(EXCLUDED.contact_id, calls.contact_id),
             empresa_id = COALESCE(EXCLUDED.empresa_id, calls.empresa_id),
             answered_at = CASE WHEN calls.answered_at IS NULL THEN LEAST(EXCLUDED.answered_at, calls.ended_at) ELSE EXCLUDED.answered_at END
           WHERE calls.answered_at IS NULL
              OR (calls.ended_at IS NULL AND calls.ramal IS DISTINCT FROM EXCLUDED.ramal
                  AND calls.answered_at > now() - make_interval(hours => $11))
           RETURNING 1`,
        params: [profile.tenantId, profile.id, p.cid, JSON.stringify(p), source, randomUUID(), p.ramal, p.num ?? null, p.pid ?? null,
          p.empresaId ?? null, LATEST_CALL_MAX_AGE_HOURS],
      },
      [
        this.outbox.event({
          type: 'telephony.call.answered',
          tenantId: profile.tenantId,
          subject: p.cid,
          data: call,
        }),
      ],
      { onlyIfChanged: true },
    );
    if (!fresh) return { callId: p.cid, duplicate: true };
    // PBXs do not promise the order of their callbacks: when `ended` came first, the screen was already
    // sent the end, and an `answered` pop now would show a call that is over as in progress until the next
    // call. Read after the commit above, so an `ended` committing meanwhile is seen too (its own pop follows).
    const [now]: Array<{ ended: boolean; ramal: string; transferred_from: string | null; answered_at: Date }> = await m.query(
      'SELECT ended_at IS NOT NULL AS ended, ramal, transferred_from, answered_at FROM "telephony".calls WHERE profile_id = $1 AND call_id = $2',
      [profile.id, p.cid],
    );
    if (now && !now.ended && now.ramal === p.ramal) {
      // Stamped with the answer time the database recorded, not this replica's clock: a stream orders the extension's
      // calls by it against those PopHub.latest reads from the calls table.
      const answeredAt = now.answered_at.toISOString();
      const pop: ScreenPop = { tenantId: profile.tenantId, ...call, answeredAt };
      this.pops.announce(m, pop);
      // Transferred: the screen it came from stops showing it as its call in progress.
      if (now.transferred_from) {
        this.pops.announce(m, {
          event: 'ended', tenantId: profile.tenantId, ramal: now.transferred_from, callId: p.cid, profileId: profile.id,
          transferredTo: p.ramal, endedAt: answeredAt, answeredAt,
        });
      }
    }
    return { callId: p.cid, duplicate: false };
  }

  async ended(profile: PbxProfile, source: string, p: EndedParams): Promise<CallbackOutcome> {
    return this.ds.transaction(async (m) => {
      const known: Array<{ ramal: string | null }> = await m.query(
        'SELECT ramal FROM "telephony".calls WHERE profile_id = $1 AND call_id = $2',
        [profile.id, p.cid],
      );
      const ramal = p.ramal ?? known[0]?.ramal ?? undefined;
      if (!ramal) {
        throw new ProblemException(400, 'ramal: required (no earlier call with this cid names the extension)', {
          errors: [{ field: 'ramal', message: 'required when the call is not known yet' }],
        });
      }
      const fresh = await m.query(
        `INSERT INTO "telephony".callbacks (tenant_id, profile_id, kind, call_id, params, source_address)
         VALUES ($1, $2, 'ended', $3, $4, $5) ON CONFLICT ON CONSTRAINT callbacks_once_uq DO NOTHING RETURNING id`,
        [profile.tenantId, profile.id, p.cid, JSON.stringify(p), source],
      );
      if (fresh.length === 0) return { callId: p.cid, duplicate: true };
      // The call as it is now, not as read above: an `answered` that committed meanwhile (its extension is kept).
      // A call already over is a callback replayed after its row passed CALLBACK_RETENTION_DAYS: nothing changes.
      const [call]: Array<{ ramal: string; telefone: string | null; empresa_id: string | null }> = await m.query(
        `INSERT INTO "telephony".calls (id, tenant_id, profile_id, call_id, origin, ramal, telefone, empresa_id, ended_at, duration_seconds, disposition)
         VALUES ($1, $2, $3, $4, 'callback', $5, $6, $7, now(), $8, $9)
         ON CONFLICT ON CONSTRAINT calls_call_uq DO UPDATE SET
           ramal = COALESCE(calls.ramal, EXCLUDED.ramal),
           telefone = COALESCE(calls.telefone, EXCLUDED.telefone),
           empresa_id = COALESCE(calls.empresa_id, EXCLUDED.empresa_id),
           ended_at = now(), duration_seconds = EXCLUDED.duration_seconds, disposition = EXCLUDED.disposition
         WHERE calls.ended_at IS NULL
         RETURNING ramal, telefone, empresa_id`,
        [randomUUID(), profile.tenantId, profile.id, p.cid, ramal, p.num ?? null, p.empresaId ?? null, p.duration ?? null, p.disposition ?? null],
      );
      if (!call) return { callId: p.cid, duplicate: true };
      const telefone = p.num ?? call.telefone ?? undefined;
      const empresaId = p.empresaId ?? call.empresa_id ?? undefined;
      const pop: CallEndedPop = {
        event: 'ended', tenantId: profile.tenantId, ramal, callId: p.cid, profileId: profile.id,
        ...(p.duration !== undefined ? { durationSeconds: p.duration } : {}),
        ...(p.disposition ? { disposition: p.disposition } : {}),
        endedAt: new Date().toISOString(),
      };
      this.pops.announce(m, pop);
      // A call transferred before it ended names the extension that had it last; the one that answered it still
      // shows it in progress until told it is over.
      const answeredBy = call.ramal;
      if (answeredBy !== ramal) this.pops.announce(m, { ...pop, ramal: answeredBy });
      await this.outbox.publish(m, {
        type: 'telephony.call.ended',
        tenantId: profile.tenantId,
        subject: p.cid,
        data: {
          callId: p.cid,
          profileId: profile.id,
          ramal,
          ...(telefone ? { telefone } : {}),
          ...(p.duration !== undefined ? { durationSeconds: p.duration } : {}),
          ...(p.disposition ? { disposition: p.disposition } : {}),
          ...(empresaId ? { empresaId } : {}),
        },
      });
      return { callId: p.cid, duplicate: false };
    });
  }
}
