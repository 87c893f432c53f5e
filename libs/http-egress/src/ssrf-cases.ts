/**
 * The SSRF matrix: every spelling of "somewhere you must not reach" that Elo refuses.
 * Exported so other suites (services that accept user URLs, security regression tests) can
 * replay the same table against their own endpoints.
 *
 * `resolvesTo` is what a fake DNS answers for a hostname case (inject it as the resolver);
 * IP-literal cases never reach DNS. `reason` is a fragment the refusal reason must contain.
 */
export interface SsrfCase {
  id: string;
  url: string;
  resolvesTo?: string[];
  kind: 'blocked' | 'invalid_url';
  reason: string;
}

export const SSRF_CASES: readonly SsrfCase[] = [
  // IPv4 loopback in every spelling the WHATWG URL parser normalises
  { id: 'loopback dotted', url: 'http://127.0.0.1/', kind: 'blocked', reason: 'loopback' },
  { id: 'loopback high end', url: 'http://127.255.255.254:8080/x', kind: 'blocked', reason: 'loopback' },
  { id: 'loopback short form', url: 'http://127.1/', kind: 'blocked', reason: 'loopback' },
  { id: 'loopback decimal', url: 'http://2130706433/', kind: 'blocked', reason: 'loopback' },
  { id: 'loopback hex parts', url: 'http://0x7f.1/', kind: 'blocked', reason: 'loopback' },
  { id: 'loopback hex whole', url: 'http://0x7f000001/', kind: 'blocked', reason: 'loopback' },
  { id: 'loopback octal whole', url: 'http://017700000001/', kind: 'blocked', reason: 'loopback' },
  { id: 'loopback octal parts', url: 'http://0177.0.0.01/', kind: 'blocked', reason: 'loopback' },
  {
    id: 'loopback percent-encoded host',
    url: 'http://%31%32%37.0.0.1/',
    kind: 'blocked',
    reason: 'loopback',
  },
  {
    id: 'loopback ideographic dots',
    url: 'http://127\u30020\u30020\u30021/',
    kind: 'blocked',
    reason: 'loopback',
  },
  {
    id: 'loopback fullwidth digits',
    url: 'http://\uff11\uff12\uff17.0.0.1/',
    kind: 'blocked',
    reason: 'loopback',
  },
  {
    id: 'loopback behind userinfo',
    url: 'http://example.com@127.0.0.1/',
    kind: 'blocked',
    reason: 'loopback',
  },
  {
    id: 'loopback before fragment trick',
    url: 'http://127.0.0.1#@example.com/',
    kind: 'blocked',
    reason: 'loopback',
  },
  {
    id: 'localhost name',
    url: 'http://localhost/',
    resolvesTo: ['127.0.0.1'],
    kind: 'blocked',
    reason: 'loopback',
  },
  {
    id: 'localhost upper trailing dot',
    url: 'http://LOCALHOST./',
    resolvesTo: ['::1'],
    kind: 'blocked',
    reason: 'loopback',
  },
  // "this network", private, shared and special ranges
  { id: 'zero address', url: 'http://0.0.0.0/', kind: 'blocked', reason: 'this-network' },
  { id: 'zero short', url: 'http://0/', kind: 'blocked', reason: 'this-network' },
  { id: 'rfc1918 10/8', url: 'http://10.0.0.1/', kind: 'blocked', reason: 'rfc1918' },
  { id: 'rfc1918 172.16/12', url: 'http://172.16.0.1/', kind: 'blocked', reason: 'rfc1918' },
  { id: 'rfc1918 172.31 edge', url: 'http://172.31.255.255/', kind: 'blocked', reason: 'rfc1918' },
  { id: 'rfc1918 192.168/16', url: 'https://192.168.1.1/', kind: 'blocked', reason: 'rfc1918' },
  {
    id: 'cloud metadata',
    url: 'http://169.254.169.254/latest/meta-data/',
    kind: 'blocked',
    reason: 'link-local',
  },
  { id: 'cloud metadata decimal', url: 'http://2852039166/', kind: 'blocked', reason: 'link-local' },
  { id: 'cgnat', url: 'http://100.64.0.1/', kind: 'blocked', reason: 'cgnat' },
  { id: 'cgnat top', url: 'http://100.127.255.254/', kind: 'blocked', reason: 'cgnat' },
  { id: 'ietf 192.0.0/24', url: 'http://192.0.0.170/', kind: 'blocked', reason: 'ietf-protocol-assignments' },
  { id: 'benchmarking', url: 'http://198.18.0.1/', kind: 'blocked', reason: 'benchmarking' },
  { id: 'benchmarking upper', url: 'http://198.19.255.1/', kind: 'blocked', reason: 'benchmarking' },
  { id: 'test-net-1', url: 'http://192.0.2.1/', kind: 'blocked', reason: 'test-net-1' },
  { id: 'test-net-2', url: 'http://198.51.100.7/', kind: 'blocked', reason: 'test-net-2' },
  { id: 'test-net-3', url: 'http://203.0.113.9/', kind: 'blocked', reason: 'test-net-3' },
  { id: 'multicast', url: 'http://224.0.0.1/', kind: 'blocked', reason: 'multicast' },
  { id: 'multicast top', url: 'http://239.255.255.250/', kind: 'blocked', reason: 'multicast' },
  { id: 'reserved 240/4', url: 'http://240.0.0.1/', kind: 'blocked', reason: 'reserved' },
  { id: 'broadcast', url: 'http://255.255.255.255/', kind: 'blocked', reason: 'broadcast' },
  // IPv6
  { id: 'ipv6 loopback', url: 'http://[::1]/', kind: 'blocked', reason: 'loopback' },
  { id: 'ipv6 loopback long', url: 'http://[0:0:0:0:0:0:0:1]:8080/', kind: 'blocked', reason: 'loopback' },
  { id: 'ipv6 unspecified', url: 'http://[::]/', kind: 'blocked', reason: 'unspecified' },
  { id: 'ipv6 unique-local fc', url: 'http://[fc00::1]/', kind: 'blocked', reason: 'unique-local' },
  { id: 'ipv6 unique-local fd', url: 'http://[fd12:3456:789a::1]/', kind: 'blocked', reason: 'unique-local' },
  { id: 'ipv6 link-local', url: 'http://[fe80::1]/', kind: 'blocked', reason: 'link-local' },
  { id: 'ipv6 site-local', url: 'http://[fec0::1]/', kind: 'blocked', reason: 'site-local' },
  { id: 'ipv6 multicast', url: 'http://[ff02::1]/', kind: 'blocked', reason: 'multicast' },
  { id: 'ipv4-mapped loopback', url: 'http://[::ffff:127.0.0.1]/', kind: 'blocked', reason: 'loopback' },
  { id: 'ipv4-mapped hex', url: 'http://[::ffff:7f00:1]/', kind: 'blocked', reason: 'loopback' },
  {
    id: 'ipv4-mapped long',
    url: 'http://[0:0:0:0:0:ffff:a9fe:a9fe]/',
    kind: 'blocked',
    reason: 'link-local',
  },
  { id: 'ipv4-mapped rfc1918', url: 'http://[::ffff:10.1.2.3]/', kind: 'blocked', reason: 'rfc1918' },
  { id: 'ipv4-compatible', url: 'http://[::127.0.0.1]/', kind: 'blocked', reason: 'ipv4-compatible' },
  { id: 'nat64 of loopback', url: 'http://[64:ff9b::7f00:1]/', kind: 'blocked', reason: 'nat64 loopback' },
  {
    id: 'nat64 of metadata',
    url: 'http://[64:ff9b::169.254.169.254]/',
    kind: 'blocked',
    reason: 'nat64 link-local',
  },
  { id: 'nat64 local-use', url: 'http://[64:ff9b:1::a00:1]/', kind: 'blocked', reason: 'nat64-local-use' },
  { id: '6to4 of loopback', url: 'http://[2002:7f00:1::1]/', kind: 'blocked', reason: '6to4 loopback' },
  { id: '6to4 of rfc1918', url: 'http://[2002:c0a8:101::1]/', kind: 'blocked', reason: '6to4 rfc1918' },
  { id: 'teredo', url: 'http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', kind: 'blocked', reason: 'teredo' },
  { id: 'ipv6 documentation', url: 'http://[2001:db8::1]/', kind: 'blocked', reason: 'documentation' },
  { id: 'ipv6 discard-only', url: 'http://[100::1]/', kind: 'blocked', reason: 'discard-only' },
  { id: 'ipv6 unallocated', url: 'http://[4000::1]/', kind: 'blocked', reason: 'reserved' },
  // hostnames whose DNS answers are private (any single private answer refuses the request)
  {
    id: 'dns to metadata',
    url: 'http://metadata.example/',
    resolvesTo: ['169.254.169.254'],
    kind: 'blocked',
    reason: 'link-local',
  },
  {
    id: 'dns to rfc1918',
    url: 'https://intranet.example/api',
    resolvesTo: ['10.20.30.40'],
    kind: 'blocked',
    reason: 'rfc1918',
  },
  {
    id: 'dns mixed answers',
    url: 'http://mixed.example/',
    resolvesTo: ['93.184.216.34', '192.168.0.10'],
    kind: 'blocked',
    reason: 'rfc1918',
  },
  {
    id: 'dns mapped ipv6',
    url: 'http://mapped.example/',
    resolvesTo: ['::ffff:127.0.0.1'],
    kind: 'blocked',
    reason: 'loopback',
  },
  {
    id: 'dns ipv6 ula',
    url: 'http://ula.example/',
    resolvesTo: ['2606:4700::1111', 'fd00::5'],
    kind: 'blocked',
    reason: 'unique-local',
  },
  {
    id: 'dns nat64 private',
    url: 'http://nat64.example/',
    resolvesTo: ['64:ff9b::a00:1'],
    kind: 'blocked',
    reason: 'nat64 rfc1918',
  },
  // schemes other than http/https, and URLs that do not parse
  { id: 'file scheme', url: 'file:///etc/passwd', kind: 'blocked', reason: 'scheme' },
  { id: 'gopher scheme', url: 'gopher://example.com:70/_x', kind: 'blocked', reason: 'scheme' },
  { id: 'ftp scheme', url: 'ftp://example.com/', kind: 'blocked', reason: 'scheme' },
  { id: 'data scheme', url: 'data:text/plain,hi', kind: 'blocked', reason: 'scheme' },
  { id: 'ipv6 zone id', url: 'http://[fe80::1%25eth0]/', kind: 'invalid_url', reason: 'not a valid URL' },
  { id: 'ipv4 out of range', url: 'http://256.0.0.1/', kind: 'invalid_url', reason: 'not a valid URL' },
  { id: 'garbage', url: 'not a url', kind: 'invalid_url', reason: 'not a valid URL' },
];
