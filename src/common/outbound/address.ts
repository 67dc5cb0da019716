import { isIPv4, isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';
import ipaddr from 'ipaddr.js';

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

/** Why an address is refused; shown to users in parentheses after the host. */
export type BlockReason =
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'carrier-grade NAT'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'benchmarking'
  | 'documentation';

export type ParsedHost =
  | { kind: 'ip'; ip: IpAddress; address: string; family: 4 | 6 }
  | { kind: 'name'; name: string };

const V4_BLOCKED: ReadonlyArray<readonly [string, BlockReason]> = [
  // 0.0.0.0 reaches the local host on Linux, so "this network" counts as loopback.
  ['0.0.0.0/8', 'loopback'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'carrier-grade NAT'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
];

const V6_BLOCKED: ReadonlyArray<readonly [string, BlockReason]> = [
  // RFC 8215 local-use NAT64 may translate to anything inside the site.
  ['64:ff9b:1::/48', 'private'],
  ['fc00::/7', 'private'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'private'],
  ['ff00::/8', 'multicast'],
  ['2001:db8::/32', 'documentation'],
  ['3fff::/20', 'documentation'],
  ['2001:2::/48', 'benchmarking'],
  // The rest of the IETF protocol block (Teredo is handled before this list).
  ['2001::/23', 'reserved'],
];

const v4Ranges = V4_BLOCKED.map(([cidr, reason]) => [ipaddr.IPv4.parseCIDR(cidr), reason] as const);
const v6Ranges = V6_BLOCKED.map(([cidr, reason]) => [ipaddr.IPv6.parseCIDR(cidr), reason] as const);
const globalUnicast = ipaddr.IPv6.parseCIDR('2000::/3');

function v4FromWords(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/** Null when the address is an ordinary public one. */
export function classifyAddress(ip: IpAddress): BlockReason | null {
  if (ip.kind() === 'ipv4') {
    const v4 = ip as ipaddr.IPv4;
    for (const [range, reason] of v4Ranges) if (v4.match(range)) return reason;
    return null;
  }
  const v6 = ip as ipaddr.IPv6;
  const p = v6.parts;
  const zeros = (from: number, to: number): boolean => p.slice(from, to).every((part) => part === 0);

  // Forms that carry an IPv4 address are judged by the address they carry.
  if (zeros(0, 5) && p[5] === 0xffff) return classifyAddress(v4FromWords(p[6], p[7]));
  if (zeros(0, 6)) return classifyAddress(v4FromWords(p[6], p[7]));
  if (zeros(0, 4) && p[4] === 0xffff && p[5] === 0) return classifyAddress(v4FromWords(p[6], p[7]));
  if (p[0] === 0x64 && p[1] === 0xff9b && zeros(2, 6)) return classifyAddress(v4FromWords(p[6], p[7]));
  if (p[0] === 0x2002) return classifyAddress(v4FromWords(p[1], p[2]));
  if (p[0] === 0x2001 && p[1] === 0) {
    const server = classifyAddress(v4FromWords(p[2], p[3]));
    return server ?? classifyAddress(v4FromWords(~p[6] & 0xffff, ~p[7] & 0xffff));
  }

  for (const [range, reason] of v6Ranges) if (v6.match(range)) return reason;
  return v6.match(globalUnicast) ? null : 'reserved';
}

/**
 * IPv4 the way inet_aton and the WHATWG URL parser read it: one to four parts,
 * each decimal, 0x-hex or 0-octal, the last part filling the remaining bytes.
 */
export function parseLooseIPv4(input: string): ipaddr.IPv4 | null {
  const parts = input.split('.');
  if (parts.length > 4) return null;
  const values: number[] = [];
  for (const part of parts) {
    let value: number;
    if (/^0x[0-9a-f]*$/i.test(part)) value = part.length === 2 ? 0 : parseInt(part.slice(2), 16);
    else if (/^0[0-7]*$/.test(part)) value = parseInt(part, 8);
    else if (/^[1-9][0-9]*$/.test(part)) value = parseInt(part, 10);
    else return null;
    values.push(value);
  }
  const last = values.pop() as number;
  if (values.some((v) => v > 255)) return null;
  const lastBytes = 4 - values.length;
  if (last >= 256 ** lastBytes) return null;
  const octets = [...values];
  for (let i = lastBytes - 1; i >= 0; i--) octets.push(Math.floor(last / 256 ** i) % 256);
  return new ipaddr.IPv4(octets);
}

function parseIPv6(input: string): { ip: IpAddress; zone?: string } | null {
  const [addr, zone, ...rest] = input.split('%');
  if (rest.length > 0 || (zone !== undefined && !/^[0-9a-z_.-]+$/i.test(zone))) return null;
  if (!isIPv6(addr)) return null;
  let hex = addr;
  const lastColon = addr.lastIndexOf(':');
  const tail = addr.slice(lastColon + 1);
  if (tail.includes('.')) {
    // isIPv6 already required a strict dotted quad here; ipaddr.js would read it loosely.
    if (!isIPv4(tail)) return null;
    const [a, b, c, d] = tail.split('.').map(Number);
    hex = `${addr.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const ip = ipaddr.IPv6.parse(hex);
  if (ip.isIPv4MappedAddress()) return { ip: ip.toIPv4Address() };
  return { ip, zone };
}

function literal(ip: IpAddress, zone?: string): ParsedHost {
  if (ip.kind() === 'ipv4') return { kind: 'ip', ip, address: ip.toString(), family: 4 };
  const text = (ip as ipaddr.IPv6).toRFC5952String().replace(/%.*$/, '');
  return { kind: 'ip', ip, address: zone ? `${text}%${zone}` : text, family: 6 };
}

const LABEL = /^[a-z0-9_-]{1,63}$/;

/**
 * Reads a host in any spelling a resolver or URL parser would accept and says
 * what it really is. IPv4-mapped IPv6 becomes the IPv4 address it maps, so the
 * caller connects over IPv4 and allow lists match either spelling. Returns
 * null for anything that is neither an address nor a well-formed host name:
 * such strings must never reach getaddrinfo, which reads "127.1 x" as 127.0.0.1.
 */
export function parseHost(raw: string): ParsedHost | null {
  if (raw.length === 0 || raw.length > 255) return null;
  if (raw.startsWith('[') || raw.includes(':')) {
    const inner = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
    if (inner.startsWith('[')) return null;
    const parsed = parseIPv6(inner);
    return parsed ? literal(parsed.ip, parsed.zone) : null;
  }

  // Also folds case, full-width digits and IDN to the form DNS would be asked about.
  const ascii = domainToASCII(raw);
  if (ascii === '') return null;
  const host = ascii.endsWith('.') ? ascii.slice(0, -1) : ascii;
  const labels = host.split('.');
  const lastLabel = labels[labels.length - 1];
  if (/^(?:[0-9]+|0x[0-9a-f]*)$/i.test(lastLabel)) {
    const v4 = parseLooseIPv4(host);
    return v4 ? literal(v4) : null;
  }
  if (host.length > 253 || !labels.every((label) => LABEL.test(label))) return null;
  return { kind: 'name', name: host };
}

/** Normalises a lookup answer or allow-list entry that must be an address. */
export function parseAddress(raw: string): Extract<ParsedHost, { kind: 'ip' }> | null {
  const parsed = parseHost(raw);
  return parsed?.kind === 'ip' ? parsed : null;
}

/** CIDR in either family; an IPv4-mapped IPv6 range becomes the IPv4 range it covers. */
export function parseCidr(raw: string): [IpAddress, number] | null {
  const slash = raw.lastIndexOf('/');
  if (slash < 0) return null;
  const prefixText = raw.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(prefixText)) return null;
  const prefix = Number(prefixText);
  const base = raw.slice(0, slash);
  const bare = base.startsWith('[') && base.endsWith(']') ? base.slice(1, -1) : base;
  if (bare.includes(':')) {
    const parsed = parseIPv6(bare);
    if (!parsed || parsed.zone !== undefined) return null;
    if (parsed.ip.kind() === 'ipv4') return prefix >= 96 && prefix <= 128 ? [parsed.ip, prefix - 96] : null;
    return prefix <= 128 ? [parsed.ip, prefix] : null;
  }
  if (!isIPv4(bare)) return null;
  return prefix <= 32 ? [ipaddr.IPv4.parse(bare), prefix] : null;
}

export function sameAddress(a: IpAddress, b: IpAddress): boolean {
  return a.kind() === b.kind() && a.toNormalizedString() === b.toNormalizedString();
}

export function inCidr(ip: IpAddress, [base, prefix]: [IpAddress, number]): boolean {
  return ip.kind() === base.kind() && ip.match(base, prefix);
}
