import { randomBytes } from 'node:crypto';
import { SecretBox, SecretBoxError } from './secret-box';

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const env = (keys: string, active: string) => ({ ELO_ENCRYPTION_KEYS: keys, ELO_ENCRYPTION_ACTIVE_KEY: active });

describe('SecretBox', () => {
  const box = new SecretBox({ k1 }, 'k1');

  it('round-trips, with the documented sealed format, and a fresh IV each time', () => {
    const sealed = box.encrypt('EAAG-secret-token-ünïcode');
    expect(sealed).toMatch(/^v1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain('EAAG');
    expect(box.decrypt(sealed)).toBe('EAAG-secret-token-ünïcode');
    expect(box.encrypt('same')).not.toBe(box.encrypt('same'));
    expect(box.decrypt(box.encrypt(''))).toBe('');
  });

  it('binds a value to its AAD: wrong or missing AAD fails', () => {
    const sealed = box.encrypt('s3cret', 'tenant-a:channel-1:credentials');
    expect(box.decrypt(sealed, 'tenant-a:channel-1:credentials')).toBe('s3cret');
    expect(() => box.decrypt(sealed, 'tenant-b:channel-1:credentials')).toThrow(SecretBoxError);
    expect(() => box.decrypt(sealed)).toThrow(/failed authentication/);
  });

  it('detects tampering in ciphertext, tag, iv and key id', () => {
    const sealed = box.encrypt('value-to-protect');
    const parts = sealed.split('.');
    const flip = (s: string) => {
      const b = Buffer.from(s, 'base64url');
      b[0] = b[0]! ^ 1;
      return b.toString('base64url');
    };
    for (const i of [2, 3, 4]) {
      const bad = [...parts];
      bad[i] = flip(bad[i]!);
      expect(() => box.decrypt(bad.join('.'))).toThrow(SecretBoxError);
    }
    expect(() => box.decrypt(['v1', 'k9', ...parts.slice(2)].join('.'))).toThrow(/k9, which is not configured/);
    for (const junk of ['', 'plain', 'v2.k1.a.b.c', `${sealed}.extra`, 'v1.k1.!!.b.c']) {
      expect(() => box.decrypt(junk)).toThrow('not a sealed secret');
    }
  });

  it('rotates keys: old values stay readable, needsRotation/rotate re-seal with the active key', () => {
    const old = new SecretBox({ k1 }, 'k1').encrypt('rotate-me', 'aad');
    const both = SecretBox.fromEnv(env(`k1:${k1.toString('base64')},k2:${k2.toString('base64')}`, 'k2'));
    expect(both.decrypt(old, 'aad')).toBe('rotate-me');
    expect(both.needsRotation(old)).toBe(true);
    const fresh = both.rotate(old, 'aad');
    expect(fresh.split('.')[1]).toBe('k2');
    expect(both.needsRotation(fresh)).toBe(false);
    expect(both.rotate(fresh, 'aad')).toBe(fresh);
    expect(new SecretBox({ k2 }, 'k2').decrypt(fresh, 'aad')).toBe('rotate-me');
  });

  it('fromEnv refuses bad configuration without echoing key material', () => {
    const material = k1.toString('base64');
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{}, /ELO_ENCRYPTION_KEYS is not set/],
      [env(`k1:${material}`, 'k2'), /active encryption key "k2"/],
      [env(`k1:${Buffer.alloc(16).toString('base64')}`, 'k1'), /must be 32 bytes/],
      [env(`no-colon-${material}`, 'k1'), /entry #1/],
      [env(`bad.kid:${material}`, 'k1'), /entry #1/],
      [env(`k1:${material},k1:${material}`, 'k1'), /twice/],
    ];
    for (const [e, msg] of cases) {
      let error: Error | undefined;
      try {
        SecretBox.fromEnv(e);
      } catch (err) {
        error = err as Error;
      }
      expect(error?.message).toMatch(msg);
      expect(error?.message).not.toContain(material);
    }
  });

  it('generateKey produces a usable ELO_ENCRYPTION_KEYS entry', () => {
    const b = SecretBox.fromEnv(env(SecretBox.generateKey('2026a'), '2026a'));
    expect(b.activeKeyId).toBe('2026a');
    expect(b.decrypt(b.encrypt('x'))).toBe('x');
  });

  it('masks: last 4 only for 12+ characters', () => {
    expect(box.mask('EAAGabcdefgh1234')).toBe('••••1234');
    expect(box.mask('123456789012')).toBe('••••9012');
    expect(box.mask('short-11chr')).toBe('••••');
    expect(box.mask('')).toBe('••••');
    expect(box.mask(null)).toBeNull();
    expect(SecretBox.isSealed(box.encrypt('x'))).toBe(true);
    expect(SecretBox.isSealed('v1.k1.nope')).toBe(false);
  });
});
