import { randomBytes } from 'node:crypto';

export interface MasterKey {
  kid: string;
  /** 32 bytes. Non-enumerable when it comes from parseKeyring, so logging or serialising the config does not print it. */
  key: Buffer;
}

export class KeyringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyringError';
  }
}

export const KID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
export const MASTER_KEY_BYTES = 32;

// 32 bytes are 43 base64 characters plus at most one "=".
const BASE64_OR_URL = /^[A-Za-z0-9+/_-]{43}=?$/;

/**
 * Parses ENCRYPTION_KEYS "kid:base64key[,kid:base64key…]". kid matches
 * ^[A-Za-z0-9_-]{1,32}$, unique; key decodes (base64 or base64url) to exactly
 * 32 bytes. Throws KeyringError whose message names the problem and the
 * entry's position/kid but NEVER the key material. First entry is primary
 * (encrypts/wraps); all decrypt.
 */
export function parseKeyring(spec: string): MasterKey[] {
  if (typeof spec !== 'string' || spec.trim() === '') {
    throw new KeyringError('ENCRYPTION_KEYS is empty: expected kid:base64key[,kid:base64key…]');
  }
  const keys: MasterKey[] = [];
  const positionOfKid = new Map<string, number>();
  spec.split(',').forEach((raw, index) => {
    const position = index + 1;
    const entry = raw.trim();
    if (entry === '') {
      throw new KeyringError(`ENCRYPTION_KEYS entry ${position} is empty`);
    }
    const colon = entry.indexOf(':');
    if (colon < 0) {
      throw new KeyringError(`ENCRYPTION_KEYS entry ${position} is not of the form kid:base64key`);
    }
    const kid = entry.slice(0, colon).trim();
    const encoded = entry.slice(colon + 1).trim();
    // An invalid kid is not echoed: it may be key material pasted in the wrong order.
    if (!KID_PATTERN.test(kid)) {
      throw new KeyringError(
        `ENCRYPTION_KEYS entry ${position} has an invalid kid (expected 1 to 32 characters of A-Z a-z 0-9 _ -)`,
      );
    }
    const earlier = positionOfKid.get(kid);
    if (earlier !== undefined) {
      throw new KeyringError(`ENCRYPTION_KEYS entry ${position} repeats kid "${kid}" of entry ${earlier}`);
    }
    const key = decodeMasterKey(encoded);
    if (key === null) {
      throw new KeyringError(
        `ENCRYPTION_KEYS entry ${position} (kid "${kid}"): key must be base64 or base64url of exactly ${MASTER_KEY_BYTES} bytes`,
      );
    }
    positionOfKid.set(kid, position);
    keys.push(masterKey(kid, key));
  });
  return keys;
}

/** A new ENCRYPTION_KEYS entry: "k<yyyymmddhhmmss>:<base64 of 32 random bytes>" (UTC timestamp). */
export function generateKeyEntry(kid?: string): string {
  const id = kid ?? `k${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`;
  if (!KID_PATTERN.test(id)) {
    throw new KeyringError('kid must be 1 to 32 characters of A-Z a-z 0-9 _ -');
  }
  return `${id}:${randomBytes(MASTER_KEY_BYTES).toString('base64')}`;
}

function decodeMasterKey(encoded: string): Buffer | null {
  if (!BASE64_OR_URL.test(encoded)) {
    return null;
  }
  const unpadded = encoded.replace(/=$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  const key = Buffer.from(unpadded, 'base64url');
  // Re-encoding rejects stray low bits in the last character, so one key has one spelling.
  if (key.length !== MASTER_KEY_BYTES || key.toString('base64url') !== unpadded) {
    return null;
  }
  return key;
}

function masterKey(kid: string, key: Buffer): MasterKey {
  const entry = { kid } as MasterKey;
  Object.defineProperty(entry, 'key', { value: key, enumerable: false, writable: false });
  return entry;
}
