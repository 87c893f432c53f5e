import { Inject, Injectable } from '@nestjs/common';
import { SecretBox, SecretBoxError } from '@elo/auth';
import { SERVICE_CONFIG } from '@elo/platform';
import type { TelephonyBridgeConfig } from '../config/telephony-bridge.config';

const AAD = 'telephony-bridge:stream-token';
/** A resume token is sealed for another purpose: it does not open a stream as `?token=`, nor a stream token as Last-Event-ID. */
const RESUME_AAD = 'telephony-bridge:stream-resume';

interface Claims {
  t: string;
  r: string;
  k: string;
  e: number;
}

/**
 * Short-lived tokens that let a browser's EventSource (which cannot send headers) open one
 * extension's screen-pop stream without putting the API key in a URL. Sealed with the service's
 * SecretBox, so any replica accepts them and nobody can forge or alter one.
 *
 * An EventSource reconnects by itself, with the same URL, whose token has expired by then: a stream opened with
 * a token therefore carries a resume token as the id of its events, which the EventSource sends back in
 * Last-Event-ID (a header, never in a URL). It lasts TELEPHONY_STREAM_RESUME_HOURS and is renewed with every event
 * and keepalive, so a screen survives a drop of any length up to that.
 */
@Injectable()
export class StreamTokens {
  constructor(
    private readonly box: SecretBox,
    @Inject(SERVICE_CONFIG) private readonly config: TelephonyBridgeConfig,
  ) {}

  issue(tenantId: string, ramal: string, keyId: string): { token: string; expiresAt: string } {
    const e = Date.now() + this.config.TELEPHONY_STREAM_TOKEN_TTL_SECONDS * 1000;
    return { token: this.seal({ t: tenantId, r: ramal, k: keyId, e }, AAD), expiresAt: new Date(e).toISOString() };
  }

  /** The token a stream opened with a stream token sends as its events' id, to be presented again in Last-Event-ID. */
  resumeToken(tenantId: string, ramal: string, keyId: string): string {
    return this.seal({ t: tenantId, r: ramal, k: keyId, e: Date.now() + this.config.TELEPHONY_STREAM_RESUME_HOURS * 3_600_000 }, RESUME_AAD);
  }

  /** The tenant the token was issued to, when it is genuine, unexpired and for this extension. */
  verify(token: string, ramal: string): { tenantId: string; keyId: string } | undefined {
    return this.open(token, ramal, AAD);
  }

  /** The same for a resume token (from Last-Event-ID). */
  verifyResume(token: string, ramal: string): { tenantId: string; keyId: string } | undefined {
    return this.open(token, ramal, RESUME_AAD);
  }

  private seal(claims: Claims, aad: string): string {
    return this.box.encrypt(JSON.stringify(claims), aad);
  }

  private open(token: string, ramal: string, aad: string): { tenantId: string; keyId: string } | undefined {
    try {
      const c = JSON.parse(this.box.decrypt(token, aad)) as Claims;
      if (c.r !== ramal || typeof c.e !== 'number' || c.e < Date.now()) return undefined;
      return { tenantId: c.t, keyId: c.k };
    } catch (err) {
      if (err instanceof SecretBoxError || err instanceof SyntaxError) return undefined;
      throw err;
    }
  }
}
