import ipaddr from 'ipaddr.js';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/**
 * An address in its usual notation only: dotted-quad IPv4 (ipaddr.js would also take `10` as
 * 0.0.0.10 and `010.0.0.1` as octal 8.0.0.1, surprising whoever typed an allow-list) or IPv6.
 */
function parseIp(text: string): ipaddr.IPv4 | ipaddr.IPv6 {
  if (!text.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(text)) throw new Error(`not a dotted-quad IPv4 address: ${text}`);
  return ipaddr.parse(text);
}

/** `10.0.0.0/8`, `2001:db8::/32` or one address (`192.0.2.7` → /32); undefined when not valid. */
export function parseCidr(text: string): Range | undefined {
  const s = text.trim();
  try {
    if (s.includes('/')) {
      parseIp(s.slice(0, s.indexOf('/')));
      const [addr, bits] = ipaddr.parseCIDR(s);
      return [unmap(addr), addr.kind() === 'ipv6' && unmap(addr).kind() === 'ipv4' ? Math.max(0, bits - 96) : bits];
    }
    const addr = unmap(parseIp(s));
    return [addr, addr.kind() === 'ipv4' ? 32 : 128];
  } catch {
    return undefined;
  }
}

/** The address in canonical form with IPv4-mapped IPv6 (`::ffff:1.2.3.4`) turned into IPv4; undefined if not an IP. */
export function normaliseAddress(text: string | undefined): string | undefined {
  if (!text) return undefined;
  try {
    return unmap(parseIp(text.trim())).toString();
  } catch {
    return undefined;
  }
}

function unmap(addr: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()
    ? (addr as ipaddr.IPv6).toIPv4Address()
    : addr;
}

/** A list of CIDRs an address is checked against. */
export class CidrList {
  private readonly ranges: Range[];

  constructor(list: readonly string[]) {
    this.ranges = list.map((c) => parseCidr(c)).filter((r): r is Range => r !== undefined);
  }

  static fromCsv(csv: string | undefined): CidrList {
    return new CidrList((csv ?? '').split(',').map((s) => s.trim()).filter(Boolean));
  }

  get size(): number {
    return this.ranges.length;
  }

  contains(address: string | undefined): boolean {
    const norm = normaliseAddress(address);
    if (!norm) return false;
    const addr = ipaddr.parse(norm);
    return this.ranges.some(([net, bits]) => net.kind() === addr.kind() && addr.match([net, bits] as never));
  }
}

/**
 * The address a request came from: the TCP peer, unless the peer is one of our trusted reverse
 * proxies; then the right-most X-Forwarded-For entry that is not itself a trusted proxy (entries
 * further left are whatever the client chose to send).
 */
export function sourceAddress(
  req: { socket: { remoteAddress?: string }; headers: Record<string, string | string[] | undefined> },
  trustedProxies: CidrList,
): string {
  const peer = normaliseAddress(req.socket.remoteAddress) ?? '';
  if (!trustedProxies.size || !trustedProxies.contains(peer)) return peer;
  const raw = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(raw) ? raw.join(',') : (raw ?? ''))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normaliseAddress(hops[i]);
    if (!hop) return '';
    if (!trustedProxies.contains(hop)) return hop;
  }
  return peer;
}
