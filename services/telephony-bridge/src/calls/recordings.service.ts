import { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import { HttpEgress } from '@elo/http-egress';
import { ProblemException, SERVICE_CONFIG } from '@elo/platform';
import { DataSource } from 'typeorm';
import type { TelephonyBridgeConfig } from '../config/telephony-bridge.config';
import { ProfilesService } from '../profiles/profiles.service';
import { isValidCallId } from './call-id';
import { EgressError, egressProblem, excerpt, pbxEgressRequest, renderPbxRequest } from './pbx-request';

export interface OpenRecording {
  /** The whole WAV, starting with the 12 bytes already checked; pull-driven (backpressure). */
  body: Readable;
  contentLength?: number;
  /** Releases the PBX connection (client went away). */
  abort: () => void;
}

/** Reads from an async iterator until at least `n` bytes are in hand (or the body ends). */
async function readHead(it: AsyncIterator<Buffer>, n: number): Promise<{ head: Buffer; done: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  while (size < n) {
    const r = await it.next();
    if (r.done) return { head: Buffer.concat(chunks), done: true };
    chunks.push(r.value);
    size += r.value.length;
  }
  return { head: Buffer.concat(chunks), done: false };
}

export function isWavHeader(b: Buffer): boolean {
  return b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WAVE';
}

@Injectable()
export class RecordingsService {
  constructor(
    private readonly ds: DataSource,
    private readonly egress: HttpEgress,
    private readonly profiles: ProfilesService,
    @Inject(SERVICE_CONFIG) private readonly config: TelephonyBridgeConfig,
  ) {}

  /**
   * Asks the PBX for the recording and checks it really is a WAV before anything is sent to the
   * client: anything else is a 502 that says why. The body is then passed on chunk by chunk.
   */
  async open(tenantId: string, callId: string, profileId?: string): Promise<OpenRecording> {
    if (!isValidCallId(callId)) throw new ProblemException(400, 'callId: not a valid call id');
    const known: Array<{ profile_id: string; telefone: string | null }> = await this.ds.query(
      `SELECT profile_id, telefone FROM "telephony".calls WHERE tenant_id = $1 AND call_id = $2
        ${profileId ? 'AND profile_id = $3' : ''} ORDER BY created_at DESC LIMIT 1`,
      profileId ? [tenantId, callId, profileId] : [tenantId, callId],
    );
    const profile = await this.profiles.forCall(tenantId, profileId ?? known[0]?.profile_id);
    if (!profile.recording) throw new ProblemException(409, `PBX profile "${profile.name}" has no recording request`);
    const chave = this.profiles.chave(profile) ?? '';
    const rendered = renderPbxRequest('recording', profile.recording.request, {
      callid: callId, telefone: known[0]?.telefone ?? '', chave, chaveBase64: Buffer.from(chave, 'utf8').toString('base64'),
    });
    const cap = this.config.TELEPHONY_RECORDING_MAX_BYTES;
    const req = pbxEgressRequest(profile, rendered, { timeoutMs: this.config.TELEPHONY_RECORDING_TIMEOUT_MS, maxResponseBytes: cap });
    let up;
    try {
      up = await this.egress.stream(req);
    } catch (err) {
      if (err instanceof EgressError) {
        if (err.kind === 'too_large') throw new ProblemException(502, `the recording is larger than the ${cap} byte limit`, { pbxError: err.kind });
        throw egressProblem(err, 'recording', req);
      }
      throw err;
    }
    const it = (up.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    const abort = () => up.body.destroy();
    try {
      if (up.status < 200 || up.status >= 300) {
        const { head } = await readHead(it, 512).catch(() => ({ head: Buffer.alloc(0) }));
        const body = excerpt(head, [chave]);
        throw new ProblemException(502, `the PBX answered the recording request with HTTP ${up.status}${body ? `: ${body}` : ''}`, {
          pbxStatus: up.status, pbxBody: body,
        });
      }
      let first: { head: Buffer; done: boolean };
      try {
        first = await readHead(it, 12);
      } catch (err) {
        if (err instanceof EgressError) throw egressProblem(err, 'recording', req);
        throw err;
      }
      if (!isWavHeader(first.head)) {
        const type = up.headers['content-type'] ?? 'no content type';
        throw new ProblemException(502, `the PBX did not answer with a WAV file (RIFF/WAVE header missing; ${type}, ${first.head.length}+ bytes)`, {
          pbxStatus: up.status,
        });
      }
      const rest = first.done;
      async function* all(): AsyncGenerator<Buffer> {
        yield first.head;
        if (rest) return;
        for (;;) {
          const r = await it.next();
          if (r.done) return;
          yield r.value;
        }
      }
      const declared = Number(up.headers['content-length']);
      return {
        body: Readable.from(all(), { objectMode: false, highWaterMark: 64 * 1024 }),
        ...(Number.isFinite(declared) && declared >= 12 ? { contentLength: declared } : {}),
        abort,
      };
    } catch (err) {
      abort();
      throw err;
    }
  }
}
