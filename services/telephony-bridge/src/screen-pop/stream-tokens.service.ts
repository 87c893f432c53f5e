import { Inject, Injectable } from '@nestjs/common';
import { SecretBox, SecretBoxError } from '@elo/auth';
import { SERVICE_CONFIG } from '@elo/platform';
import type { TelephonyBridgeConfig } from '../config/telephony-bridge.config';

const AAD = 'telephony-bridge:stream-token';

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
 */
@Injectable()
export class StreamTokens {
  constructor(
    private readonly box: SecretBox,
    @Inject(SERVICE_CONFIG) private readonly config: TelephonyBridgeConfig,
  ) {}

  issue(tenantId: string, ramal: string, keyId: string): { token: string; expiresAt: string } {
    const e = Date.now() + this.config.TELEPHONY_STREAM_TOKEN_TTL_SECONDS * 1000;
    const claims: Claims = { t: tenantId, r: ramal, k: keyId, e };
    return { token: this.box.encrypt(JSON.stringify(claims), AAD), expiresAt: new Date(e).toISOString() };
  }

  /** The tenant the token was issued to, when it is genuine, unexpired and for this extension. */
  verify(token: string, ramal: string): { tenantId: string; keyId: string } | undefined {
    try {
      const c = JSON.parse(this.box.decrypt(token, AAD)) as Claims;
      if (c.r !== ramal || typeof c.e !== 'number' || c.e < Date.now()) return undefined;
      return { tenantId: c.t, keyId: c.k };
    } catch (err) {
      if (err instanceof SecretBoxError || err instanceof SyntaxError) return undefined;
      throw err;
    }
  }
}
