import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Secrets at rest: AES-256-GCM with a key id stored beside each value, so keys rotate without
 * downtime (new values use the active key; old values stay readable until re-encrypted).
 * Sealed form: `v1.<kid>.<iv>.<tag>.<ciphertext>` (base64url parts).
 */
export class SecretBox {
  private readonly keys: Map<string, Buffer>;

  constructor(
    keys: Record<string, Buffer>,
    private readonly activeKid: string,
  ) {
    this.keys = new Map(Object.entries(keys));
    for (const [kid, key] of this.keys) {
      if (key.length !== 32) throw new Error(`encryption key ${kid} must be 32 bytes`);
    }
    if (!this.keys.has(activeKid)) throw new Error(`active encryption key ${activeKid} is not configured`);
  }

  /** From ELO_ENCRYPTION_KEYS (`kid:<base64>,…`) and ELO_ENCRYPTION_ACTIVE_KEY. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): SecretBox {
    const spec = env.ELO_ENCRYPTION_KEYS ?? '';
    const keys: Record<string, Buffer> = {};
    for (const part of spec.split(',').filter(Boolean)) {
      const i = part.indexOf(':');
      keys[part.slice(0, i)] = Buffer.from(part.slice(i + 1), 'base64');
    }
    return new SecretBox(keys, env.ELO_ENCRYPTION_ACTIVE_KEY ?? '');
  }

  encrypt(plain: string, aad?: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.activeKid)!, iv);
    if (aad) cipher.setAAD(Buffer.from(aad));
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['v1', this.activeKid, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join('.');
  }

  decrypt(sealed: string, aad?: string): string {
    const [v, kid, iv, tag, ct] = sealed.split('.');
    if (v !== 'v1' || !kid || iv === undefined || tag === undefined || ct === undefined) {
      throw new Error('not a sealed secret');
    }
    const key = this.keys.get(kid);
    if (!key) throw new Error(`secret was sealed with key ${kid}, which is not configured`);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    if (aad) decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
  }

  /** True when the value was sealed with a key other than the active one (re-encrypt it). */
  needsRotation(sealed: string): boolean {
    return sealed.split('.')[1] !== this.activeKid;
  }

  /** Re-seals a value with the active key. */
  rotate(sealed: string, aad?: string): string {
    return this.needsRotation(sealed) ? this.encrypt(this.decrypt(sealed, aad), aad) : sealed;
  }

  /** What a secret looks like in an API answer: only the last 4 characters of a long one. */
  mask(plain: string | undefined | null): string | null {
    if (!plain) return null;
    return plain.length >= 12 ? `••••${plain.slice(-4)}` : '••••';
  }
}
