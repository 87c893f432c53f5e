import { AllowList, classifyAddress } from './address-policy';

describe('classifyAddress', () => {
  it.each([
    ['8.8.8.8'],
    ['1.1.1.1'],
    ['93.184.216.34'],
    ['172.32.0.1'],
    ['100.128.0.1'],
    ['192.0.1.1'],
    ['198.20.0.1'],
    ['223.255.255.255'],
    ['2606:4700:4700::1111'],
    ['2001:4860:4860::8888'],
    ['::ffff:8.8.8.8'],
    ['64:ff9b::808:808'],
    ['2002:808:808::1'],
  ])('%s is public', (ip) => {
    expect(classifyAddress(ip)).toEqual(expect.objectContaining({ public: true }));
  });

  it.each([
    ['127.0.0.1', 'loopback 127.0.0.0/8'],
    ['0.1.2.3', 'this-network 0.0.0.0/8'],
    ['10.255.255.255', 'rfc1918 10.0.0.0/8'],
    ['172.16.5.4', 'rfc1918 172.16.0.0/12'],
    ['192.168.100.1', 'rfc1918 192.168.0.0/16'],
    ['169.254.169.254', 'link-local 169.254.0.0/16'],
    ['100.64.0.0', 'cgnat 100.64.0.0/10'],
    ['192.0.0.8', 'ietf-protocol-assignments 192.0.0.0/24'],
    ['198.19.0.1', 'benchmarking 198.18.0.0/15'],
    ['192.0.2.200', 'test-net-1 192.0.2.0/24'],
    ['198.51.100.1', 'test-net-2 198.51.100.0/24'],
    ['203.0.113.1', 'test-net-3 203.0.113.0/24'],
    ['224.0.0.251', 'multicast 224.0.0.0/4'],
    ['250.1.2.3', 'reserved 240.0.0.0/4'],
    ['255.255.255.255', 'broadcast 255.255.255.255/32'],
    ['::1', 'loopback ::1/128'],
    ['::', 'unspecified ::/128'],
    ['fd00::1', 'unique-local fc00::/7'],
    ['fe80::abcd', 'link-local fe80::/10'],
    ['ff05::2', 'multicast ff00::/8'],
    ['::ffff:127.0.0.1', 'loopback 127.0.0.0/8'],
    ['::ffff:a9fe:a9fe', 'link-local 169.254.0.0/16'],
    ['64:ff9b::7f00:1', 'nat64 loopback 127.0.0.0/8'],
    ['2002:a00:1::', '6to4 rfc1918 10.0.0.0/8'],
    ['not-an-ip', 'not an IP address'],
  ])('%s is %s', (ip, range) => {
    expect(classifyAddress(ip)).toEqual({ public: false, range });
  });
});

describe('AllowList', () => {
  it('matches CIDRs, single addresses, mapped forms and hostnames', () => {
    const allow = new AllowList(['10.0.0.0/30', '127.0.0.1', ' pbx.local. ', 'fd00::/64']);
    expect(allow.allowsAddress('10.0.0.3')).toBe(true);
    expect(allow.allowsAddress('10.0.0.4')).toBe(false);
    expect(allow.allowsAddress('127.0.0.1')).toBe(true);
    expect(allow.allowsAddress('::ffff:127.0.0.1')).toBe(true);
    expect(allow.allowsAddress('127.0.0.2')).toBe(false);
    expect(allow.allowsAddress('fd00::9')).toBe(true);
    expect(allow.allowsAddress('fd01::9')).toBe(false);
    expect(allow.allowsHost('PBX.local')).toBe(true);
    expect(allow.allowsHost('evil.pbx.local')).toBe(false);
  });

  it('refuses malformed entries instead of silently ignoring them', () => {
    expect(() => new AllowList(['10.0.0.0/33'])).toThrow(/invalid CIDR/);
    expect(() => new AllowList(['pbx_local!'])).toThrow(/invalid hostname/);
  });
});
