import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { HttpEgress } from '@elo/http-egress';
import { Outbox } from '@elo/messaging';
import { ProblemException, SERVICE_CONFIG } from '@elo/platform';
import { lookupPath } from '@elo/templating';
import { DataSource } from 'typeorm';
import type { TelephonyBridgeConfig } from '../config/telephony-bridge.config';
import type { CallIdSource } from '../profiles/pbx-presets';
import { ProfilesService } from '../profiles/profiles.service';
import { isValidCallId, numbersAsWritten } from './call-id';
import type { CallStartedView, Click2CallDto } from './dto/click2call.dto';
import { EgressError, egressProblem, excerpt, pbxEgressRequest, renderPbxRequest } from './pbx-request';
import { normaliseBrPhone } from '@elo/contracts';

const MAX_ANSWER_BYTES = 64 * 1024;

/** Reads the call id from the PBX's answer: the whole plain-text body, or a path into its JSON. */
export function readCallId(body: Buffer, source: CallIdSource): string | undefined {
  const text = body.toString('utf8').trim();
  if (source.from === 'text') return isValidCallId(text) ? text : undefined;
  let doc: unknown;
  try {
    // Numbers as written: a call id sent as a JSON number keeps every digit (1537276453.10 is not 1537276453.1),
    // so it matches the PBX's callbacks and its recording.
    doc = numbersAsWritten(text);
  } catch {
    return undefined;
  }
  const v = lookupPath(doc, source.path);
  const id = typeof v === 'string' ? v.trim() : undefined;
  return isValidCallId(id) ? id : undefined;
}

@Injectable()
export class Click2CallService {
  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
    private readonly egress: HttpEgress,
    private readonly profiles: ProfilesService,
    @Inject(SERVICE_CONFIG) private readonly config: TelephonyBridgeConfig,
  ) {}

  async call(tenantId: string, dto: Click2CallDto): Promise<CallStartedView> {
    const telefone = normaliseBrPhone(dto.telefone);
    if (!telefone) {
      throw new ProblemException(400, 'telefone: not a valid Brazilian phone number (area code + number, e.g. 41988445566)', {
        errors: [{ field: 'telefone', message: 'not a valid Brazilian phone number' }],
      });
    }
    const profile = await this.profiles.forCall(tenantId, dto.profileId);
    if (!profile.click2call) throw new ProblemException(409, `PBX profile "${profile.name}" has no Click2Call request`);
    const chave = this.profiles.chave(profile) ?? '';
    const rendered = renderPbxRequest('Click2Call', profile.click2call.request, {
      ramal: dto.ramal, telefone, chave, chaveBase64: Buffer.from(chave, 'utf8').toString('base64'),
    });
    const req = pbxEgressRequest(profile, rendered, { timeoutMs: this.config.TELEPHONY_PBX_TIMEOUT_MS, maxResponseBytes: MAX_ANSWER_BYTES });
    let answer;
    try {
      answer = await this.egress.request(req);
    } catch (err) {
      if (err instanceof EgressError) throw egressProblem(err, 'Click2Call', req);
      throw err;
    }
    if (answer.status < 200 || answer.status >= 300) {
      const body = excerpt(answer.body, [chave]);
      throw new ProblemException(502, `the PBX answered the Click2Call request with HTTP ${answer.status}${body ? `: ${body}` : ''}`, {
        pbxStatus: answer.status, pbxBody: body,
      });
    }
    const callId = readCallId(answer.body, profile.click2call.callId);
    if (!callId) {
      const where = profile.click2call.callId.from === 'json' ? `at JSON path ${profile.click2call.callId.path}` : 'as its plain-text body';
      const body = excerpt(answer.body, [chave]);
      throw new ProblemException(502, `the PBX answer holds no valid call id ${where}: ${body || '(empty)'}`, {
        pbxStatus: answer.status, pbxBody: body,
      });
    }
    await this.ds.transaction(async (m) => {
      await m.query(
        `INSERT INTO "telephony".calls (id, tenant_id, profile_id, call_id, origin, ramal, telefone, started_at)
         VALUES ($1, $2, $3, $4, 'click2call', $5, $6, now())
         ON CONFLICT ON CONSTRAINT calls_call_uq DO UPDATE SET started_at = COALESCE(calls.started_at, now())`,
        [randomUUID(), tenantId, profile.id, callId, dto.ramal, telefone],
      );
      await this.outbox.publish(m, {
        type: 'telephony.call.started',
        tenantId,
        subject: callId,
        data: { callId, profileId: profile.id, ramal: dto.ramal, telefone },
      });
    });
    return { callId, profileId: profile.id, ramal: dto.ramal, telefone };
  }
}
