import { randomBytes } from 'node:crypto';
import {
  MalformedBlobError,
  SecretBinding,
  blobDataKeyId,
  formatBlob,
  newDataKeyId,
  parseBlob,
  parseWrappedKey,
  secretAad,
} from './secret-box';

const binding = (overrides: Partial<SecretBinding> = {}): SecretBinding => ({
  tenantId: 'acme',
  resourceType: 'integration',
  resourceId: 'github-main',
  field: 'credentials.token',
  ...overrides,
});

describe('secret blobs', () => {
  const blob = { dataKeyId: newDataKeyId(), iv: randomBytes(12), tag: randomBytes(16), ciphertext: randomBytes(20) };

  it('formats as sb1.<dataKeyId>.<iv>.<tag>.<ciphertext> and parses back', () => {
    const text = formatBlob(blob);
    expect(text).toMatch(/^sb1\.dk_[0-9a-f]{16}\.[\w-]{16}\.[\w-]{22}\.[\w-]+$/);
    expect(parseBlob(text)).toEqual(blob);
    expect(blobDataKeyId(text)).toBe(blob.dataKeyId);
  });

  it.each([
    ['another version', (t: string) => t.replace(/^sb1/, 'sb2')],
    ['a missing part', (t: string) => t.split('.').slice(0, 4).join('.')],
    ['an extra part', (t: string) => `${t}.AA`],
    ['a bad data key id', (t: string) => t.replace(/dk_[0-9a-f]{16}/, 'dk_XYZ')],
    ['padding', (t: string) => `${t}==`],
    ['a standard base64 character', (t: string) => t.split('.').map((p, i) => (i === 3 ? `+${p.slice(1)}` : p)).join('.')],
    ['a truncated IV', (t: string) => t.split('.').map((p, i) => (i === 2 ? p.slice(0, 8) : p)).join('.')],
    ['an empty ciphertext', (t: string) => t.split('.').map((p, i) => (i === 4 ? '' : p)).join('.')],
  ])('rejects a blob with %s', (_case, mangle) => {
    const text = mangle(formatBlob(blob));
    expect(() => parseBlob(text)).toThrow(MalformedBlobError);
    expect(() => blobDataKeyId(text)).toThrow(MalformedBlobError);
  });

  it('rejects a non-canonical base64url spelling of the same bytes', () => {
    const parts = formatBlob(blob).split('.');
    // 20 bytes leave 2 spare bits in the last character; setting them keeps the decoded bytes.
    const last = parts[4];
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const bumped = alphabet[alphabet.indexOf(last[last.length - 1]) ^ 1];
    parts[4] = last.slice(0, -1) + bumped;
    expect(Buffer.from(parts[4], 'base64url').equals(blob.ciphertext)).toBe(true);
    expect(() => parseBlob(parts.join('.'))).toThrow(MalformedBlobError);
  });

  it('rejects a malformed wrapped data key', () => {
    expect(() => parseWrappedKey('abc.def')).toThrow(MalformedBlobError);
  });
});

describe('secretAad', () => {
  const id = newDataKeyId();

  it('cannot be made equal by moving a separator between parts', () => {
    const a = secretAad(binding({ resourceType: 'a|b', resourceId: 'c' }), id);
    const b = secretAad(binding({ resourceType: 'a', resourceId: 'b|c' }), id);
    expect(a.equals(b)).toBe(false);
  });

  it('differs for every part of the binding and the data key id', () => {
    const base = secretAad(binding(), id);
    for (const changed of [
      secretAad(binding({ tenantId: 'other' }), id),
      secretAad(binding({ resourceType: 'connection' }), id),
      secretAad(binding({ resourceId: 'github-2' }), id),
      secretAad(binding({ field: 'credentials.other' }), id),
      secretAad(binding(), newDataKeyId()),
    ]) {
      expect(changed.equals(base)).toBe(false);
    }
  });

  it('refuses an incomplete binding', () => {
    expect(() => secretAad(binding({ resourceId: '' }), id)).toThrow(TypeError);
  });
});
