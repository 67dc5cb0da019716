import { CheckError } from './check-error';
import { OutboundPolicy, ResolvedAddress } from './outbound-policy';

// resolve() only reads the injected lookup and never connects, so public and
// private addresses below are just strings being judged.
type Lookup = (host: string) => Promise<ResolvedAddress[]>;

function lookupReturning(...addresses: string[]): jest.Mock<ReturnType<Lookup>, Parameters<Lookup>> {
  return jest.fn(async (_host: string) => addresses.map((address): ResolvedAddress => ({ address, family: address.includes(':') ? 6 : 4 })));
}

function policy(options: Partial<{ allowPrivate: boolean; allowedHosts: string[] }> = {}, lookup: Lookup = lookupReturning()) {
  return new OutboundPolicy({ allowPrivate: false, allowedHosts: [], ...options }, lookup);
}

async function rejection(promise: Promise<unknown>): Promise<CheckError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof CheckError) return err;
    throw err;
  }
  throw new Error('expected a CheckError');
}

describe('OutboundPolicy.resolve with literal addresses', () => {
  it.each([
    ['127.0.0.2', 'loopback'],
    ['2130706434', 'loopback'],
    ['0x7f000002', 'loopback'],
    ['0177.0.0.2', 'loopback'],
    ['127.2', 'loopback'],
    ['[::ffff:127.0.0.2]', 'loopback'],
    ['[::127.0.0.2]', 'loopback'],
    ['0.0.0.0', 'loopback'],
    ['[::]', 'loopback'],
    ['[::1]', 'loopback'],
    ['10.0.0.1', 'private'],
    ['192.168.0.10', 'private'],
    ['169.254.169.254', 'link-local'],
    ['[fd00:ec2::254]', 'private'],
    ['100.100.100.200', 'carrier-grade NAT'],
  ])('refuses %s as %s without any lookup', async (host, reason) => {
    const lookup = lookupReturning();
    const err = await rejection(policy({}, lookup).resolve(host));
    expect(err.code).toBe('BLOCKED_DESTINATION');
    expect(err.message).toBe(`destination ${host} is not allowed (${reason})`);
    expect(lookup).not.toHaveBeenCalled();
  });

  it('answers the normalised address to dial for an allowed literal', async () => {
    await expect(policy().resolve('93.184.216.34')).resolves.toEqual({ address: '93.184.216.34', family: 4 });
    await expect(policy().resolve('[2606:4700:4700:0:0:0:0:1111]')).resolves.toEqual({
      address: '2606:4700:4700::1111',
      family: 6,
    });
    await expect(policy({ allowedHosts: ['127.0.0.2'] }).resolve('2130706434')).resolves.toEqual({
      address: '127.0.0.2',
      family: 4,
    });
  });

  it('answers CONFIG_INVALID for a host that is neither a name nor an address, without a lookup', async () => {
    const lookup = lookupReturning('93.184.216.34');
    for (const host of ['127.0.0.1 evil', '08.0.0.1', '1.2.3.4.5', 'a..b', '']) {
      expect((await rejection(policy({}, lookup).resolve(host))).code).toBe('CONFIG_INVALID');
    }
    expect(lookup).not.toHaveBeenCalled();
  });
});

describe('OutboundPolicy.resolve with host names', () => {
  it('looks a name up once and answers its first address', async () => {
    const lookup = lookupReturning('93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946');
    await expect(policy({}, lookup).resolve('Example.COM.')).resolves.toEqual({ address: '93.184.216.34', family: 4 });
    expect(lookup).toHaveBeenCalledTimes(1);
    expect(lookup).toHaveBeenCalledWith('example.com');
  });

  it.each([
    [['93.184.216.34', '10.0.0.1'], 'private'],
    [['127.0.0.2', '93.184.216.34'], 'loopback'],
    [['93.184.216.34', '::ffff:169.254.169.254'], 'link-local'],
    [['93.184.216.34', 'fe80::1'], 'link-local'],
  ])('refuses a name when any of its addresses %j is blocked', async (addresses, reason) => {
    const err = await rejection(policy({}, lookupReturning(...addresses)).resolve('mixed.example.com'));
    expect(err.code).toBe('BLOCKED_DESTINATION');
    expect(err.message).toBe(`destination mixed.example.com is not allowed (${reason})`);
  });

  it.each(['localhost', 'LOCALHOST.', 'api.localhost'])(
    'refuses %s as loopback whatever the resolver would say',
    async (host) => {
      const lookup = lookupReturning('93.184.216.34');
      const err = await rejection(policy({}, lookup).resolve(host));
      expect(err.message).toBe(`destination ${host} is not allowed (loopback)`);
      expect(lookup).not.toHaveBeenCalled();
    },
  );

  it('answers UNREACHABLE when the name does not resolve or resolves to nothing', async () => {
    const failing = jest.fn(async (): Promise<ResolvedAddress[]> => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.example.com'), { code: 'ENOTFOUND' });
    });
    const err = await rejection(policy({}, failing).resolve('nowhere.example.com'));
    expect(err.code).toBe('UNREACHABLE');
    expect(err.message).toBe('destination nowhere.example.com could not be resolved');
    expect((await rejection(policy({}, lookupReturning()).resolve('empty.example.com'))).code).toBe('UNREACHABLE');
  });

  it('refuses a name whose lookup answer is not an address', async () => {
    const err = await rejection(policy({}, lookupReturning('not-an-address')).resolve('odd.example.com'));
    expect(err.code).toBe('BLOCKED_DESTINATION');
  });

  it('dials IPv4 for a lookup answer in IPv4-mapped form', async () => {
    const lookup = lookupReturning('::ffff:127.0.0.1');
    await expect(policy({ allowedHosts: ['127.0.0.1'] }, lookup).resolve('mapped.example.com')).resolves.toEqual({
      address: '127.0.0.1',
      family: 4,
    });
  });
});

describe('OutboundPolicy allowedHosts', () => {
  it('allows a listed host name, case-insensitively and ignoring a trailing dot, whatever it resolves to', async () => {
    const lookup = lookupReturning('10.1.2.3', '127.0.0.2');
    const p = policy({ allowedHosts: ['Vault.Internal.'] }, lookup);
    await expect(p.resolve('vault.internal')).resolves.toEqual({ address: '10.1.2.3', family: 4 });
    await expect(p.resolve('VAULT.INTERNAL.')).resolves.toEqual({ address: '10.1.2.3', family: 4 });
    expect((await rejection(p.resolve('other.internal'))).code).toBe('BLOCKED_DESTINATION');
  });

  it('allows a listed address in any spelling, and only that address', async () => {
    const p = policy({ allowedHosts: ['127.0.0.1'] });
    await expect(p.resolve('127.0.0.1')).resolves.toEqual({ address: '127.0.0.1', family: 4 });
    await expect(p.resolve('2130706433')).resolves.toEqual({ address: '127.0.0.1', family: 4 });
    await expect(p.resolve('[::ffff:127.0.0.1]')).resolves.toEqual({ address: '127.0.0.1', family: 4 });
    expect((await rejection(p.resolve('127.0.0.2'))).code).toBe('BLOCKED_DESTINATION');
  });

  it('allows addresses a name resolves to when every one of them is listed', async () => {
    const p = policy({ allowedHosts: ['127.0.0.1', '::1'] }, lookupReturning('127.0.0.1', '::1'));
    await expect(p.resolve('app.test')).resolves.toEqual({ address: '127.0.0.1', family: 4 });
    const partly = policy({ allowedHosts: ['127.0.0.1'] }, lookupReturning('127.0.0.1', '::1'));
    expect((await rejection(partly.resolve('app.test'))).code).toBe('BLOCKED_DESTINATION');
  });

  it('allows addresses inside listed IPv4 and IPv6 CIDRs', () => {
    const p = policy({ allowedHosts: [' 10.20.0.0/16 ', 'fd00:1234::/32', '[::ffff:192.168.7.0]/120'] });
    expect(p.isAddressAllowed('10.20.255.1')).toBe(true);
    expect(p.isAddressAllowed('10.21.0.1')).toBe(false);
    expect(p.isAddressAllowed('fd00:1234::99')).toBe(true);
    expect(p.isAddressAllowed('fd00:1235::99')).toBe(false);
    expect(p.isAddressAllowed('192.168.7.42')).toBe(true);
    expect(p.isAddressAllowed('::ffff:192.168.7.42')).toBe(true);
    expect(p.isAddressAllowed('192.168.8.42')).toBe(false);
  });

  it('ignores empty entries and rejects malformed ones at construction', () => {
    expect(() => policy({ allowedHosts: ['', '  '] })).not.toThrow();
    expect(() => policy({ allowedHosts: ['10.0.0.0/33'] })).toThrow('allowed hosts entry 1 is not a valid CIDR');
    expect(() => policy({ allowedHosts: ['ok.test', 'host:8080'] })).toThrow(
      'allowed hosts entry 2 is not a valid host name or address',
    );
  });
});

describe('OutboundPolicy.isAddressAllowed', () => {
  it('refuses special-purpose addresses in any spelling and allows public ones', () => {
    const p = policy();
    for (const address of ['127.0.0.1', '0x7f000001', '::1', '::ffff:127.0.0.1', '169.254.169.254', '10.0.0.1', 'fe80::1']) {
      expect(p.isAddressAllowed(address)).toBe(false);
    }
    expect(p.isAddressAllowed('93.184.216.34')).toBe(true);
    expect(p.isAddressAllowed('2606:4700:4700::1111')).toBe(true);
  });

  it('answers false for a host name or garbage, which are not addresses', () => {
    expect(policy().isAddressAllowed('example.com')).toBe(false);
    expect(policy().isAddressAllowed('1.2.3.4.5')).toBe(false);
  });

  it('allows everything, metadata included, when allowPrivate is set', async () => {
    const p = policy({ allowPrivate: true }, lookupReturning('127.0.0.1'));
    expect(p.isAddressAllowed('169.254.169.254')).toBe(true);
    await expect(p.resolve('localhost')).resolves.toEqual({ address: '127.0.0.1', family: 4 });
    await expect(p.resolve('dev.test')).resolves.toEqual({ address: '127.0.0.1', family: 4 });
  });
});
