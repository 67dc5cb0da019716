import { BlockReason, classifyAddress, parseHost } from './address';

// Pure classification: these strings are parsed and judged, never dialled.
function reasonFor(host: string): BlockReason | null {
  const parsed = parseHost(host);
  if (parsed?.kind !== 'ip') throw new Error(`${host} did not parse as an address`);
  return classifyAddress(parsed.ip);
}

describe('parseHost', () => {
  it.each([
    ['127.0.0.2', '127.0.0.2'],
    ['2130706434', '127.0.0.2'],
    ['0x7f000002', '127.0.0.2'],
    ['0X7F000002', '127.0.0.2'],
    ['0177.0.0.2', '127.0.0.2'],
    ['0177.0000.0.02', '127.0.0.2'],
    ['127.2', '127.0.0.2'],
    ['127.0.2', '127.0.0.2'],
    ['0x7f.0x0.0x0.0x2', '127.0.0.2'],
    ['127.0.0.2.', '127.0.0.2'],
    ['\uff11\uff12\uff17.\uff10.\uff10.\uff12', '127.0.0.2'],
    ['0', '0.0.0.0'],
    ['4294967295', '255.255.255.255'],
  ])('reads the IPv4 spelling %s as %s', (spelling, address) => {
    expect(parseHost(spelling)).toMatchObject({ kind: 'ip', address, family: 4 });
  });

  it.each([
    ['[::ffff:127.0.0.2]', '127.0.0.2'],
    ['::ffff:127.0.0.2', '127.0.0.2'],
    ['[::ffff:7f00:2]', '127.0.0.2'],
    ['[0:0:0:0:0:FFFF:7F00:2]', '127.0.0.2'],
  ])('turns the IPv4-mapped form %s into the IPv4 address %s', (spelling, address) => {
    expect(parseHost(spelling)).toMatchObject({ kind: 'ip', address, family: 4 });
  });

  it.each([
    ['[::1]', '::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['[::127.0.0.2]', '::7f00:2'],
    ['[FE80::1%eth0]', 'fe80::1%eth0'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
  ])('reads the IPv6 spelling %s as %s', (spelling, address) => {
    expect(parseHost(spelling)).toMatchObject({ kind: 'ip', address, family: 6 });
  });

  it.each([
    ['Api.Example.COM', 'api.example.com'],
    ['api.example.com.', 'api.example.com'],
    ['ex\u00e4mple.com', 'xn--exmple-cua.com'],
    ['my_host.internal', 'my_host.internal'],
    ['LOCALHOST', 'localhost'],
  ])('normalises the host name %s to %s', (spelling, name) => {
    expect(parseHost(spelling)).toEqual({ kind: 'name', name });
  });

  it.each([
    '',
    '127.0.0.1 x',
    '08.0.0.1',
    '1.2.3.4.5',
    '256.0.0.1',
    '127.16777216',
    '0x1g.0.0.1',
    'a..b',
    'exa mple.com',
    'host:80',
    '[127.0.0.1]',
    '[[::1]]',
    '::ffff:0177.0.0.2',
    '::1%',
    'a'.repeat(300),
  ])('rejects %j, which is neither an address nor a host name', (spelling) => {
    expect(parseHost(spelling)).toBeNull();
  });
});

describe('classifyAddress', () => {
  it.each([
    '127.0.0.1',
    '127.255.255.254',
    '2130706433',
    '0x7f000001',
    '0177.0.0.1',
    '127.1',
    '0.0.0.0',
    '0',
    '0.1.2.3',
    '[::1]',
    '[::]',
    '[::ffff:127.0.0.1]',
    '[::127.0.0.1]',
    '[::ffff:0:7f00:1]',
    '[64:ff9b::127.0.0.1]',
    '[2002:7f00:1::1]',
    '[2001:0:7f00:1::1]',
  ])('treats %s as loopback', (host) => {
    expect(reasonFor(host)).toBe('loopback');
  });

  it.each([
    '10.0.0.1',
    '012.0.0.1',
    '167772161',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '0xc0a80101',
    '[fc00::1]',
    '[fd00:ec2::254]',
    '[fec0::1]',
    '[::ffff:10.0.0.1]',
    '[2002:c0a8:101::1]',
    '[64:ff9b::10.0.0.1]',
    '[64:ff9b:1::1]',
    // Teredo with a public server and the obfuscated client 10.0.0.1.
    '[2001:0:5db8:1234::f5ff:fffe]',
  ])('treats %s as private', (host) => {
    expect(reasonFor(host)).toBe('private');
  });

  it.each([
    '169.254.169.254',
    '0xa9fea9fe',
    '2852039166',
    '0251.0376.0251.0376',
    '169.254.0.1',
    '[fe80::1]',
    'fe80::1%eth0',
    '[::ffff:169.254.169.254]',
    '[::ffff:a9fe:a9fe]',
    '[2002:a9fe:a9fe::]',
    '[64:ff9b::a9fe:a9fe]',
  ])('treats %s as link-local (cloud metadata lives here)', (host) => {
    expect(reasonFor(host)).toBe('link-local');
  });

  it.each<[string, BlockReason]>([
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.100.100.200', 'carrier-grade NAT'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['[ff02::1]', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['4294967295', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.0.192', 'reserved'],
    ['192.88.99.1', 'reserved'],
    ['[5f00::1]', 'reserved'],
    ['[2001:10::1]', 'reserved'],
    ['[::1:0:0:0]', 'reserved'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['[2001:2::1]', 'benchmarking'],
    ['192.0.2.1', 'documentation'],
    ['198.51.100.1', 'documentation'],
    ['203.0.113.1', 'documentation'],
    ['[2001:db8::1]', 'documentation'],
    ['[3fff::1]', 'documentation'],
  ])('treats %s as %s', (host, reason) => {
    expect(reasonFor(host)).toBe(reason);
  });

  it.each([
    '93.184.216.34',
    '8.8.8.8',
    '100.63.255.255',
    '100.128.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '169.253.255.255',
    '198.17.255.255',
    '198.20.0.0',
    '223.255.255.255',
    '[2606:4700:4700::1111]',
    '[::ffff:8.8.8.8]',
    '[2002:5db8:d822::1]',
    '[64:ff9b::8.8.8.8]',
  ])('treats the public address %s as ordinary', (host) => {
    expect(reasonFor(host)).toBeNull();
  });
});
