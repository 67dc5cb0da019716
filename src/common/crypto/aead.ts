import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;

export interface SealedBox {
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

/** Deliberately says nothing about the key, the data or which check failed. */
export class DecryptionError extends Error {
  constructor() {
    super('decryption failed');
    this.name = 'DecryptionError';
  }
}

/**
 * AES-256-GCM with a fresh random 12-byte IV per call and a 16-byte tag. Random
 * IVs are safe up to about 2^32 messages per key; per-tenant data keys keep
 * every key far below that.
 */
export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): SealedBox {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
    throw new TypeError(`AES-256-GCM needs a ${KEY_BYTES}-byte key`);
  }
  if (!Buffer.isBuffer(aad) || aad.length === 0) {
    throw new TypeError('AES-256-GCM sealing needs non-empty associated data');
  }
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ciphertext };
}

export function open(key: Buffer, box: SealedBox, aad: Buffer): Buffer {
  // GCM would otherwise accept a truncated tag, which makes forgery cheap.
  if (
    !Buffer.isBuffer(key) ||
    key.length !== KEY_BYTES ||
    !Buffer.isBuffer(aad) ||
    aad.length === 0 ||
    !Buffer.isBuffer(box?.iv) ||
    box.iv.length !== IV_BYTES ||
    !Buffer.isBuffer(box.tag) ||
    box.tag.length !== TAG_BYTES ||
    !Buffer.isBuffer(box.ciphertext)
  ) {
    throw new DecryptionError();
  }
  try {
    const decipher = createDecipheriv(ALGORITHM, key, box.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(box.tag);
    return Buffer.concat([decipher.update(box.ciphertext), decipher.final()]);
  } catch {
    throw new DecryptionError();
  }
}
