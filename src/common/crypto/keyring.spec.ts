import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { KeyringError, generateKeyEntry, parseKeyring } from './keyring';

const b64 = (bytes: Buffer) => bytes.toString('base64');

function keyringError(spec: string): KeyringError {
  try {
    parseKeyring(spec);
  } catch (error) {
    expect(error).toBeInstanceOf(KeyringError);
    return error as KeyringError;
  }
  throw new Error('parseKeyring accepted an invalid keyring');
}

describe('parseKeyring', () => {
  it('parses entries in order, the first being the primary key', () => {
    const first = randomBytes(32);
    const second = randomBytes(32);
    const keys = parseKeyring(`new:${b64(first)}, old:${b64(second)}`);
    expect(keys.map((k) => k.kid)).toEqual(['new', 'old']);
    expect(keys[0].key.equals(first)).toBe(true);
    expect(keys[1].key.equals(second)).toBe(true);
  });

  it('accepts base64url and unpadded base64 keys', () => {
    const key = Buffer.from('fb'.repeat(32), 'hex');
    expect(key.toString('base64')).toMatch(/[+/]/);
    const keys = parseKeyring(`a:${key.toString('base64url')},b:${b64(key).replace(/=$/, '')}`);
    expect(keys.every((k) => k.key.equals(key))).toBe(true);
  });

  it('keeps key material out of JSON and inspection of the parsed keyring', () => {
    const key = randomBytes(32);
    const [entry] = parseKeyring(`k1:${b64(key)}`);
    expect(JSON.stringify(entry)).toBe('{"kid":"k1"}');
    expect(Object.keys(entry)).toEqual(['kid']);
    expect(inspect(entry)).not.toContain(key.toString('hex').slice(0, 8));
  });

  const secret = b64(randomBytes(32));
  const short = b64(randomBytes(16));
  const long = b64(randomBytes(33));
  it.each([
    ['an empty value', '', /empty/],
    ['a blank value', '   ', /empty/],
    ['a trailing comma', `k1:${secret},`, /entry 2 is empty/],
    ['an entry without a colon', `k1:${b64(randomBytes(32))},${secret}`, /entry 2 is not of the form/],
    ['an empty kid', `:${secret}`, /entry 1 has an invalid kid/],
    ['a kid with a dot', `k.1:${secret}`, /entry 1 has an invalid kid/],
    ['a kid longer than 32 characters', `${'k'.repeat(33)}:${secret}`, /entry 1 has an invalid kid/],
    ['key and kid swapped', `${secret}:k1`, /entry 1 has an invalid kid/],
    ['a duplicate kid', `k1:${b64(randomBytes(32))},k1:${secret}`, /entry 2 repeats kid "k1" of entry 1/],
    ['a 16-byte key', `k1:${short}`, /entry 1 \(kid "k1"\).*exactly 32 bytes/],
    ['a 33-byte key', `k1:${long}`, /entry 1 \(kid "k1"\).*exactly 32 bytes/],
    ['a key with characters outside base64', `k1:${secret.slice(0, 40)}*${secret.slice(41)}`, /kid "k1"/],
    ['an empty key', 'k1:', /kid "k1"/],
  ])('rejects %s without echoing the key material', (_case, spec, message) => {
    const error = keyringError(spec);
    expect(error.message).toMatch(message);
    for (const material of [secret, secret.slice(0, 16), short, short.slice(0, 16), long.slice(0, 16)]) {
      expect(error.message).not.toContain(material);
    }
  });
});

describe('generateKeyEntry', () => {
  it('prints a timestamped kid and a fresh 32-byte key that parseKeyring accepts', () => {
    const entry = generateKeyEntry();
    expect(entry).toMatch(/^k\d{14}:[A-Za-z0-9+/]{43}=$/);
    const [parsed] = parseKeyring(entry);
    expect(parsed.key).toHaveLength(32);
    expect(generateKeyEntry().split(':')[1]).not.toBe(entry.split(':')[1]);
  });

  it('uses a given kid and refuses an invalid one', () => {
    expect(generateKeyEntry('primary-2')).toMatch(/^primary-2:/);
    expect(() => generateKeyEntry('bad kid')).toThrow(KeyringError);
  });
});
