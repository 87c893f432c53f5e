import { SecretBox } from '@elo/auth';
import type { TelephonyBridgeConfig } from '../config/telephony-bridge.config';
import { StreamTokens } from './stream-tokens.service';

describe('StreamTokens', () => {
  const box = new SecretBox({ k1: Buffer.alloc(32, 3) }, 'k1');
  const tokens = new StreamTokens(box, { TELEPHONY_STREAM_TOKEN_TTL_SECONDS: 60, TELEPHONY_STREAM_RESUME_HOURS: 12 } as TelephonyBridgeConfig);
  const t0 = Date.parse('2026-01-10T12:00:00Z');
  let now = t0;
  beforeEach(() => {
    now = t0;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
  });
  afterEach(() => jest.restoreAllMocks());

  it('a stream token opens its extension only, within TELEPHONY_STREAM_TOKEN_TTL_SECONDS of being issued', () => {
    const { token, expiresAt } = tokens.issue('tenant-1', '1001', 'key-1');
    expect(expiresAt).toBe(new Date(t0 + 60_000).toISOString());
    expect(tokens.verify(token, '1001')).toEqual({ tenantId: 'tenant-1', keyId: 'key-1' });
    expect(tokens.verify(token, '1002')).toBeUndefined();
    now = t0 + 60_000;
    expect(tokens.verify(token, '1001')).toEqual({ tenantId: 'tenant-1', keyId: 'key-1' });
    now = t0 + 60_001;
    expect(tokens.verify(token, '1001')).toBeUndefined();
  });

  it('a resume token lets its extension back in for TELEPHONY_STREAM_RESUME_HOURS, and no longer', () => {
    const resume = tokens.resumeToken('tenant-1', '1001', 'key-1');
    now = t0 + 12 * 3_600_000;
    expect(tokens.verifyResume(resume, '1001')).toEqual({ tenantId: 'tenant-1', keyId: 'key-1' });
    expect(tokens.verifyResume(resume, '1002')).toBeUndefined();
    now = t0 + 12 * 3_600_000 + 1;
    expect(tokens.verifyResume(resume, '1001')).toBeUndefined();
  });

  it('the two purposes do not stand in for each other, and an altered or foreign token opens nothing', () => {
    const { token } = tokens.issue('tenant-1', '1001', 'key-1');
    const resume = tokens.resumeToken('tenant-1', '1001', 'key-1');
    expect(tokens.verify(resume, '1001')).toBeUndefined();
    expect(tokens.verifyResume(token, '1001')).toBeUndefined();
    const flipped = token.slice(0, -3) + (token.at(-3) === 'A' ? 'B' : 'A') + token.slice(-2);
    expect(tokens.verify(flipped, '1001')).toBeUndefined();
    const otherBox = new StreamTokens(new SecretBox({ k1: Buffer.alloc(32, 4) }, 'k1'), { TELEPHONY_STREAM_TOKEN_TTL_SECONDS: 60 } as TelephonyBridgeConfig);
    expect(tokens.verify(otherBox.issue('tenant-1', '1001', 'key-1').token, '1001')).toBeUndefined();
    expect(tokens.verify('', '1001')).toBeUndefined();
    expect(tokens.verify('not a token', '1001')).toBeUndefined();
  });
});
