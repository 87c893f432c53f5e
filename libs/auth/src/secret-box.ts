import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const KID = /^[A-Za-z0-9_-]{1,32}$/;
const B64 = /^[A-Za-z0-9+/]+={0,2}$/;
const B64URL = /^[A-Za-z0-9_-]*$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A sealed value could not be opened: malformed, unknown key, tampered, or sealed for other AAD. */
export class SecretBoxError extends Error {
  override readonly name = 'SecretBoxError';
}

/**
 * Secrets at rest: AES-256-GCM with the key id stored beside each value, so keys rotate without
 * downtime (new values use the active key; old values stay readable until re-sealed).
 * Sealed form: `v1.<kid>.<iv>.<tag>.<ciphertext>` (base64url parts).
 *
 * AAD binds a value to where it belongs (e.g. `${tenantId}:channel:${channelId}:credentials`): a sealed
 * value copied to another row or field fails to open. Pass the same AAD to encrypt and decrypt.
 */
export class SecretBox {
  private readonly keys: Map<string, Buffer>;

  constructor(
    keys: Record<string, Buffer> | Map<string, Buffer>,
    private readonly activeKid: string,
  ) {
    this.keys = new Map(keys instanceof Map ? keys : Object.entries(keys));
    if (this.keys.size === 0) throw new SecretBoxError('no encryption keys configured');
    for (const [kid, key] of this.keys) {
      if (!KID.test(kid)) throw new SecretBoxError(`encryption key id "${kid}" must be 1-32 of [A-Za-z0-9_-]`);
      if (key.length !== 32) throw new SecretBoxError(`encryption key ${kid} must be 32 bytes (got ${key.length})`);
    }
    if (!this.keys.has(activeKid)) {
      throw new SecretBoxError(`active encryption key "${activeKid}" is not among the configured keys`);
    }
  }

  /**
   * From ELO_ENCRYPTION_KEYS (`kid1:<base64 of 32 bytes>,kid2:<base64>`) and ELO_ENCRYPTION_ACTIVE_KEY.
   * Errors name the bad entry by its kid, never by its key material.
   */
  static fromEnv(env: Record<string, string | undefined> = process.env): SecretBox {
    const spec = (env.ELO_ENCRYPTION_KEYS ?? '').trim();
    if (!spec) throw new SecretBoxError('ELO_ENCRYPTION_KEYS is not set');
    const keys = new Map<string, Buffer>();
    spec.split(',').forEach((raw, i) => {
      const part = raw.trim();
      const colon = part.indexOf(':');
      const kid = colon > 0 ? part.slice(0, colon) : '';
      const material = colon > 0 ? part.slice(colon + 1) : '';
      if (!KID.test(kid) || !B64.test(material)) {
        throw new SecretBoxError(`ELO_ENCRYPTION_KEYS entry #${i + 1} must be kid:<base64 of 32 bytes>`);
      }
      if (keys.has(kid)) throw new SecretBoxError(`ELO_ENCRYPTION_KEYS names key ${kid} twice`);
      keys.set(kid, Buffer.from(material, 'base64'));
    });
    return new SecretBox(keys, (env.ELO_ENCRYPTION_ACTIVE_KEY ?? '').trim());
  }

  /** A fresh random key in the ELO_ENCRYPTION_KEYS format (for setup scripts and tests). */
  static generateKey(kid: string): string {
    return `${kid}:${randomBytes(32).toString('base64')}`;
  }

  get activeKeyId(): string {
    return this.activeKid;
  }

  encrypt(plain: string, aad?: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.activeKid)!, iv);
    if (aad) cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['v1', this.activeKid, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join('.');
  }

  decrypt(sealed: string, aad?: string): string {
    const { kid, iv, tag, ct } = parse(sealed);
    const key = this.keys.get(kid);
    if (!key) throw new SecretBoxError(`secret was sealed with key ${kid}, which is not configured`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      if (aad) decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretBoxError('secret failed authentication (tampered, wrong key or wrong AAD)');
    }
  }

  /** True when the value looks sealed (does not prove it opens). */
  static isSealed(value: unknown): value is string {
    if (typeof value !== 'string') return false;
    try {
      parse(value);
      return true;
    } catch {
      return false;
    }
  }

  /** True when the value was sealed with a key other than the active one (re-seal it with `rotate`). */
  needsRotation(sealed: string): boolean {
    return parse(sealed).kid !== this.activeKid;
  }

  /** Re-seals a value with the active key (same AAD); returns it unchanged when already current. */
  rotate(sealed: string, aad?: string): string {
    return this.needsRotation(sealed) ? this.encrypt(this.decrypt(sealed, aad), aad) : sealed;
  }

  /** What a secret looks like in an API answer: `••••abcd` (last 4 only when 12+ characters long). */
  mask(plain: string): string;
  mask(plain: string | null | undefined): string | null;
  mask(plain: string | null | undefined): string | null {
    return SecretBox.mask(plain);
  }

  static mask(plain: string): string;
  static mask(plain: string | null | undefined): string | null;
  static mask(plain: string | null | undefined): string | null {
    if (plain === null || plain === undefined) return null;
    return plain.length >= 12 ? `••••${plain.slice(-4)}` : '••••';
  }
}

function parse(sealed: string): { kid: string; iv: Buffer; tag: Buffer; ct: Buffer } {
  const parts = typeof sealed === 'string' ? sealed.split('.') : [];
  const [v, kid, iv, tag, ct] = parts;
  if (
    parts.length !== 5 || v !== 'v1' || !kid || !KID.test(kid) ||
    ![iv, tag, ct].every((p) => p !== undefined && B64URL.test(p))
  ) {
    throw new SecretBoxError('not a sealed secret');
  }
  const ivBuf = Buffer.from(iv!, 'base64url');
  const tagBuf = Buffer.from(tag!, 'base64url');
  if (ivBuf.length !== IV_BYTES || tagBuf.length !== TAG_BYTES) throw new SecretBoxError('not a sealed secret');
  return { kid, iv: ivBuf, tag: tagBuf, ct: Buffer.from(ct!, 'base64url') };
}
