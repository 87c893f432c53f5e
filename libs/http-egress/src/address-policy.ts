import ipaddr from 'ipaddr.js';

type IPv4 = ipaddr.IPv4;
type IPv6 = ipaddr.IPv6;
type Cidr<T> = [T, number];

export interface AddressClass {
  /** true when the address is an ordinary, globally routed unicast address. */
  public: boolean;
  /** name of the range the address falls in (`public`, `loopback`, `rfc1918`, …) and the CIDR. */
  range: string;
}

const v4 = (cidr: string): Cidr<IPv4> => ipaddr.IPv4.parseCIDR(cidr);
const v6 = (cidr: string): Cidr<IPv6> => ipaddr.IPv6.parseCIDR(cidr);

// Every IPv4 range that is not reachable on the public internet or is special-purpose
// (IANA IPv4 Special-Purpose Address Registry). Order matters only for naming: the
// broadcast address sits inside 240/4 and gets its own name.
const BLOCKED_V4: Array<{ name: string; cidr: string; net: Cidr<IPv4> }> = [
  ['broadcast', '255.255.255.255/32'],
  ['this-network', '0.0.0.0/8'],
  ['rfc1918', '10.0.0.0/8'],
  ['cgnat', '100.64.0.0/10'],
  ['loopback', '127.0.0.0/8'],
  ['link-local', '169.254.0.0/16'],
  ['rfc1918', '172.16.0.0/12'],
  ['ietf-protocol-assignments', '192.0.0.0/24'],
  ['test-net-1', '192.0.2.0/24'],
  ['6to4-relay-anycast', '192.88.99.0/24'],
  ['rfc1918', '192.168.0.0/16'],
  ['benchmarking', '198.18.0.0/15'],
  ['test-net-2', '198.51.100.0/24'],
  ['test-net-3', '203.0.113.0/24'],
  ['multicast', '224.0.0.0/4'],
  ['reserved', '240.0.0.0/4'],
].map(([name, cidr]) => ({ name, cidr, net: v4(cidr) }));

// IPv6 ranges that are never public. Anything outside 2000::/3 (global unicast) is refused as
// well, except the translation prefixes handled in classifyV6 (mapped, NAT64), whose embedded
// IPv4 address decides.
const BLOCKED_V6: Array<{ name: string; cidr: string; net: Cidr<IPv6> }> = [
  ['teredo', '2001::/32'],
  ['benchmarking', '2001:2::/48'],
  ['orchid', '2001:10::/28'],
  ['orchid-v2', '2001:20::/28'],
  ['documentation', '2001:db8::/32'],
  ['documentation', '3fff::/20'],
  ['srv6-sid', '5f00::/16'],
].map(([name, cidr]) => ({ name, cidr, net: v6(cidr) }));

const GLOBAL_UNICAST_V6 = v6('2000::/3');
const MAPPED_V6 = v6('::ffff:0:0/96');
const NAT64_V6 = v6('64:ff9b::/96');
const NAT64_LOCAL_V6 = v6('64:ff9b:1::/48');
const SIX_TO_FOUR_V6 = v6('2002::/16');
const NAMED_NON_GLOBAL_V6: Array<{ name: string; cidr: string; net: Cidr<IPv6> }> = [
  ['unspecified', '::/128'],
  ['loopback', '::1/128'],
  ['ipv4-compatible', '::/96'],
  ['discard-only', '100::/64'],
  ['nat64-local-use', '64:ff9b:1::/48'],
  ['unique-local', 'fc00::/7'],
  ['link-local', 'fe80::/10'],
  ['site-local', 'fec0::/10'],
  ['multicast', 'ff00::/8'],
].map(([name, cidr]) => ({ name, cidr, net: v6(cidr) }));

function classifyV4(addr: IPv4): AddressClass {
  for (const r of BLOCKED_V4) {
    if (addr.match(r.net)) return { public: false, range: `${r.name} ${r.cidr}` };
  }
  return { public: true, range: 'public' };
}

function embeddedV4(bytes: number[], offset: number): IPv4 {
  return new ipaddr.IPv4(bytes.slice(offset, offset + 4));
}

function classifyV6(addr: IPv6): AddressClass {
  if (addr.match(MAPPED_V6)) {
    const inner = classifyV4(addr.toIPv4Address());
    return inner.public ? inner : { public: false, range: `ipv4-mapped ${inner.range}` };
  }
  if (addr.match(NAT64_V6)) {
    const inner = classifyV4(embeddedV4(addr.toByteArray(), 12));
    return inner.public
      ? { public: true, range: 'nat64 public' }
      : { public: false, range: `nat64 ${inner.range}` };
  }
  if (addr.match(NAT64_LOCAL_V6)) return { public: false, range: 'nat64-local-use 64:ff9b:1::/48' };
  if (addr.match(SIX_TO_FOUR_V6)) {
    const inner = classifyV4(embeddedV4(addr.toByteArray(), 2));
    return inner.public
      ? { public: true, range: '6to4 public' }
      : { public: false, range: `6to4 ${inner.range}` };
  }
  for (const r of NAMED_NON_GLOBAL_V6) {
    if (addr.match(r.net)) return { public: false, range: `${r.name} ${r.cidr}` };
  }
  if (!addr.match(GLOBAL_UNICAST_V6)) return { public: false, range: 'reserved outside 2000::/3' };
  for (const r of BLOCKED_V6) {
    if (addr.match(r.net)) return { public: false, range: `${r.name} ${r.cidr}` };
  }
  return { public: true, range: 'public' };
}

/** Parses an IP literal (IPv6 may carry brackets or a zone id). Returns undefined when not an IP. */
export function parseIp(ip: string): IPv4 | IPv6 | undefined {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  if (!ipaddr.isValid(bare)) return undefined;
  const parsed = ipaddr.parse(bare);
  // Normalise IPv4-mapped IPv6 (::ffff:127.0.0.1) so it is judged and allow-listed as IPv4.
  if (parsed.kind() === 'ipv6' && (parsed as IPv6).isIPv4MappedAddress())
    return (parsed as IPv6).toIPv4Address();
  return parsed;
}

/**
 * Classifies one IP address. Anything that is not an ordinary public unicast address is
 * `public: false`, including IPv4-mapped, NAT64 and 6to4 forms of private IPv4 addresses.
 */
export function classifyAddress(ip: string): AddressClass {
  const parsed = parseIp(ip);
  if (!parsed) return { public: false, range: 'not an IP address' };
  return parsed.kind() === 'ipv4' ? classifyV4(parsed as IPv4) : classifyV6(parsed as IPv6);
}

/**
 * The "private network" ranges a per-request allowance may open unless the deployment names others:
 * RFC 1918, CGNAT (RFC 6598) and IPv6 unique-local, where an on-premises server legitimately lives.
 * Loopback, link-local (cloud metadata), this-network and the other special ranges are left to the
 * deployment's own allow-list.
 */
export const DEFAULT_REQUEST_PRIVATE_RANGES: readonly string[] = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  'fc00::/7',
];

/**
 * The explicit exceptions to the public-only rule: CIDRs (or single addresses) and hostnames.
 * A hostname entry lets that exact host (and only it) reach whatever it resolves to.
 */
export class AllowList {
  private readonly nets: Array<Cidr<IPv4> | Cidr<IPv6>> = [];
  private readonly hosts = new Set<string>();

  constructor(entries: readonly string[] = []) {
    for (const raw of entries) {
      const entry = raw.trim();
      if (!entry) continue;
      if (entry.includes('/')) {
        if (!ipaddr.isValidCIDR(entry)) throw new Error(`invalid CIDR in egress allow-list: ${entry}`);
        const [addr, bits] = ipaddr.parseCIDR(entry);
        this.nets.push(normaliseNet(addr, bits));
        continue;
      }
      const ip = parseIp(entry);
      if (ip) {
        this.nets.push([ip, ip.kind() === 'ipv4' ? 32 : 128] as Cidr<IPv4> | Cidr<IPv6>);
        continue;
      }
      if (!/^[a-z0-9.-]+$/i.test(entry)) throw new Error(`invalid hostname in egress allow-list: ${entry}`);
      this.hosts.add(normaliseHost(entry));
    }
  }

  /** An allow-list of addresses only (CIDRs or single addresses); a hostname entry is refused. */
  static ofNetworks(entries: readonly string[], what: string): AllowList {
    const list = new AllowList(entries);
    if (list.hosts.size) throw new Error(`${what} takes CIDRs only, not host names: ${[...list.hosts].join(', ')}`);
    return list;
  }

  get isEmpty(): boolean {
    return this.nets.length === 0 && this.hosts.size === 0;
  }

  allowsHost(host: string): boolean {
    return this.hosts.has(normaliseHost(host));
  }

  allowsAddress(ip: string): boolean {
    const parsed = parseIp(ip);
    if (!parsed) return false;
    return this.nets.some((net) => net[0].kind() === parsed.kind() && parsed.match(net));
  }
}

function normaliseNet(addr: IPv4 | IPv6, bits: number): Cidr<IPv4> | Cidr<IPv6> {
  if (addr.kind() === 'ipv6' && (addr as IPv6).isIPv4MappedAddress() && bits >= 96) {
    return [(addr as IPv6).toIPv4Address(), bits - 96];
  }
  return [addr, bits] as Cidr<IPv4> | Cidr<IPv6>;
}

export function normaliseHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}
