import { CidrList, normaliseAddress, sourceAddress } from './source-address';

const req = (peer: string, xff?: string) => ({ socket: { remoteAddress: peer }, headers: xff ? { 'x-forwarded-for': xff } : {} });

describe('CidrList', () => {
  it('matches IPv4, IPv6 and IPv4-mapped addresses', () => {
    const list = new CidrList(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::ffff:198.51.100.0/120']);
    expect(list.contains('10.1.2.3')).toBe(true);
    expect(list.contains('::ffff:10.1.2.3')).toBe(true);
    expect(list.contains('192.0.2.7')).toBe(true);
    expect(list.contains('192.0.2.8')).toBe(false);
    expect(list.contains('2001:db8::1')).toBe(true);
    expect(list.contains('198.51.100.9')).toBe(true);
    expect(list.contains('not-an-ip')).toBe(false);
    expect(list.contains(undefined)).toBe(false);
  });
  it('normalises mapped addresses', () => expect(normaliseAddress('::ffff:127.0.0.1')).toBe('127.0.0.1'));
});

describe('sourceAddress', () => {
  it('ignores X-Forwarded-For without trusted proxies', () => {
    expect(sourceAddress(req('::ffff:203.0.113.5', '10.0.0.1'), new CidrList([]))).toBe('203.0.113.5');
  });
  it('ignores X-Forwarded-For from an untrusted peer', () => {
    expect(sourceAddress(req('203.0.113.5', '10.0.0.1'), new CidrList(['10.9.0.0/16']))).toBe('203.0.113.5');
  });
  it('takes the right-most untrusted hop behind trusted proxies', () => {
    const trusted = new CidrList(['10.9.0.0/16']);
    expect(sourceAddress(req('10.9.0.2', '1.1.1.1, 198.51.100.4, 10.9.0.3'), trusted)).toBe('198.51.100.4');
    expect(sourceAddress(req('10.9.0.2', 'garbage'), trusted)).toBe('');
  });
});
