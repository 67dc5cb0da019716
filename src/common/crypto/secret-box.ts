import { randomBytes } from 'node:crypto';
import { IV_BYTES, SealedBox, TAG_BYTES } from './aead';

/** Where a secret lives: every part goes into the associated data, so a blob copied to another tenant, resource or field fails to open. */
export interface SecretBinding {
  tenantId: string;
  resourceType: string;
  resourceId: string;
  field: string;
}

/** One stored secret value, parsed. */
export interface SecretBlob extends SealedBox {
  dataKeyId: string;
}

export class MalformedBlobError extends Error {
  constructor(what = 'stored secret') {
    super(`${what} is not well-formed`);
    this.name = 'MalformedBlobError';
  }
}

const BLOB_VERSION = 'sb1';
const DATA_KEY_ID = /^dk_[0-9a-f]{16}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export function newDataKeyId(): string {
  return `dk_${randomBytes(8).toString('hex')}`;
}

export function isDataKeyId(id: string): boolean {
  return DATA_KEY_ID.test(id);
}

/** Stored text form: "sb1.<dataKeyId>.<iv b64url>.<tag b64url>.<ciphertext b64url>" — it names the data key that made it. */
export function formatBlob(blob: SecretBlob): string {
  if (!isDataKeyId(blob.dataKeyId)) {
    throw new MalformedBlobError('data key id');
  }
  return [BLOB_VERSION, blob.dataKeyId, ...formatBox(blob)].join('.');
}

export function parseBlob(text: string): SecretBlob {
  const parts = typeof text === 'string' ? text.split('.') : [];
  if (parts.length !== 5 || parts[0] !== BLOB_VERSION || !isDataKeyId(parts[1])) {
    throw new MalformedBlobError();
  }
  return { dataKeyId: parts[1], ...parseBox(parts.slice(2), 'stored secret') };
}

/** The id of the data key that made the blob; throws MalformedBlobError on anything that is not an sb1 blob. */
export function blobDataKeyId(blob: string): string {
  return parseBlob(blob).dataKeyId;
}

/** A wrapped data key as stored: "<iv>.<tag>.<ciphertext>", base64url. */
export function formatWrappedKey(box: SealedBox): string {
  return formatBox(box).join('.');
}

export function parseWrappedKey(text: string): SealedBox {
  const parts = typeof text === 'string' ? text.split('.') : [];
  if (parts.length !== 3) {
    throw new MalformedBlobError('wrapped data key');
  }
  return parseBox(parts, 'wrapped data key');
}

/**
 * Associated data of a secret. Every part is length-prefixed, so no choice of
 * ids can make two different bindings produce the same bytes.
 */
export function secretAad(binding: SecretBinding, dataKeyId: string): Buffer {
  assertSecretBinding(binding);
  if (!isDataKeyId(dataKeyId)) {
    throw new MalformedBlobError('data key id');
  }
  const parts = [binding.tenantId, binding.resourceType, binding.resourceId, binding.field, dataKeyId];
  const encoded = parts.map((part) => `${Buffer.byteLength(part, 'utf8')}:${part}`);
  return Buffer.from(`switchboard/v1|${encoded.join('|')}`, 'utf8');
}

export function assertSecretBinding(binding: SecretBinding): void {
  const parts: unknown[] = [binding?.tenantId, binding?.resourceType, binding?.resourceId, binding?.field];
  if (!parts.every((part) => typeof part === 'string' && part.length > 0)) {
    throw new TypeError('secret binding needs non-empty tenantId, resourceType, resourceId and field');
  }
}

/** Associated data of a wrapped data key: ties it to its tenant and id. The id never contains "|", so the split is unambiguous. */
export function dataKeyAad(tenantId: string, dataKeyId: string): Buffer {
  return Buffer.from(`switchboard/v1/dek|${tenantId}|${dataKeyId}`, 'utf8');
}

function formatBox(box: SealedBox): string[] {
  if (box.iv.length !== IV_BYTES || box.tag.length !== TAG_BYTES || box.ciphertext.length === 0) {
    throw new MalformedBlobError('sealed box');
  }
  return [box.iv, box.tag, box.ciphertext].map((part) => part.toString('base64url'));
}

function parseBox([iv, tag, ciphertext]: string[], what: string): SealedBox {
  const box = { iv: decode(iv, what), tag: decode(tag, what), ciphertext: decode(ciphertext, what) };
  if (box.iv.length !== IV_BYTES || box.tag.length !== TAG_BYTES || box.ciphertext.length === 0) {
    throw new MalformedBlobError(what);
  }
  return box;
}

// Only the canonical spelling is accepted, so every character of a blob is covered by the tag.
function decode(part: string, what: string): Buffer {
  if (!BASE64URL.test(part)) {
    throw new MalformedBlobError(what);
  }
  const bytes = Buffer.from(part, 'base64url');
  if (bytes.toString('base64url') !== part) {
    throw new MalformedBlobError(what);
  }
  return bytes;
}
