import { CidrList, normaliseAddress, parseCidr, sourceAddress } from './source-address';

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
  it('takes IPv4 only as a dotted quad (no `10` = 0.0.0.10, no octal `010.0.0.1` = 8.0.0.1)', () => {
    for (const bad of ['10', '127.1', '010.0.0.1', '0x7f.0.0.1', '10/8', '010.0.0.0/8', '1.2.3.4/33', '']) expect(parseCidr(bad)).toBeUndefined();
    expect(parseCidr('10.0.0.0/8')).toBeDefined();
    expect(parseCidr('0.0.0.0/0')).toBeDefined();
    expect(normaliseAddress('010.0.0.1')).toBeUndefined();
    expect(new CidrList(['10']).contains('0.0.0.10')).toBe(false);
  });
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
