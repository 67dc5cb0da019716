import { promises as dns } from 'node:dns';
import { CheckError } from './check-error';
import {
  BlockReason,
  IpAddress,
  classifyAddress,
  inCidr,
  parseAddress,
  parseCidr,
  parseHost,
  sameAddress,
} from './address';

export interface OutboundPolicyOptions {
  /**
   * Development switch: every destination is allowed, loopback and cloud
   * metadata included. Never set it where tenants can choose destinations.
   */
  allowPrivate: boolean;
  /** Host names, IP addresses and CIDRs (IPv4 and IPv6) that are allowed even when private. */
  allowedHosts: string[];
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export type Lookup = (host: string) => Promise<ResolvedAddress[]>;

async function systemLookup(host: string): Promise<ResolvedAddress[]> {
  const answers = await dns.lookup(host, { all: true, verbatim: true });
  return answers.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));
}

// RFC 6761: these names are the local host whatever a resolver claims.
const LOCALHOST_ADDRESSES: ResolvedAddress[] = [
  { address: '127.0.0.1', family: 4 },
  { address: '::1', family: 6 },
];

function isLocalhostName(name: string): boolean {
  return name === 'localhost' || name.endsWith('.localhost');
}

/**
 * Decides where outbound connections may go (API.md, "Verification"). The
 * check happens at connect time: resolve() answers the one address to dial,
 * so a name is resolved exactly once and a second, different DNS answer
 * (rebinding) can never be used.
 */
export class OutboundPolicy {
  private readonly allowedNames = new Set<string>();
  private readonly allowedAddresses: IpAddress[] = [];
  private readonly allowedCidrs: Array<[IpAddress, number]> = [];

  constructor(
    private readonly options: OutboundPolicyOptions,
    private readonly lookup: Lookup = systemLookup,
  ) {
    options.allowedHosts.forEach((raw, index) => {
      const entry = raw.trim();
      if (entry === '') return;
      if (entry.includes('/')) {
        const cidr = parseCidr(entry);
        if (!cidr) throw new Error(`allowed hosts entry ${index + 1} is not a valid CIDR`);
        this.allowedCidrs.push(cidr);
        return;
      }
      const host = parseHost(entry);
      if (!host) throw new Error(`allowed hosts entry ${index + 1} is not a valid host name or address`);
      if (host.kind === 'ip') this.allowedAddresses.push(host.ip);
      else this.allowedNames.add(host.name);
    });
  }

  async resolve(host: string): Promise<ResolvedAddress> {
    const parsed = parseHost(host);
    if (!parsed) {
      throw new CheckError('CONFIG_INVALID', 'destination is not a valid host name or address');
    }
    if (parsed.kind === 'ip') {
      this.assertAllowed(host, parsed.ip);
      return { address: parsed.address, family: parsed.family };
    }

    const answers = isLocalhostName(parsed.name) ? LOCALHOST_ADDRESSES : await this.lookupOnce(host, parsed.name);
    const addresses = answers.map((answer) => parseAddress(answer.address));
    if (addresses.length === 0) {
      throw new CheckError('UNREACHABLE', `destination ${host} could not be resolved`);
    }
    const trustedName = this.options.allowPrivate || this.allowedNames.has(parsed.name);
    for (const address of addresses) {
      if (!address) {
        throw new CheckError('BLOCKED_DESTINATION', `destination ${host} is not allowed (invalid address)`);
      }
      if (!trustedName) this.assertAllowed(host, address.ip);
    }
    const first = addresses[0]!;
    return { address: first.address, family: first.family };
  }

  isAddressAllowed(address: string): boolean {
    const parsed = parseAddress(address);
    return parsed !== null && this.blockReason(parsed.ip) === null;
  }

  private blockReason(ip: IpAddress): BlockReason | null {
    if (this.options.allowPrivate) return null;
    if (this.allowedAddresses.some((allowed) => sameAddress(allowed, ip))) return null;
    if (this.allowedCidrs.some((cidr) => inCidr(ip, cidr))) return null;
    return classifyAddress(ip);
  }

  private assertAllowed(host: string, ip: IpAddress): void {
    const reason = this.blockReason(ip);
    if (reason !== null) {
      throw new CheckError('BLOCKED_DESTINATION', `destination ${host} is not allowed (${reason})`, { reason });
    }
  }

  private async lookupOnce(host: string, name: string): Promise<ResolvedAddress[]> {
    try {
      return await this.lookup(name);
    } catch {
      throw new CheckError('UNREACHABLE', `destination ${host} could not be resolved`);
    }
  }
}
