import { randomBytes } from 'node:crypto';
import { DecryptionError, open, seal } from './aead';

const key = randomBytes(32);
const aad = Buffer.from('context');

describe('seal and open', () => {
  it('roundtrips bytes, including an empty plaintext', () => {
    for (const plaintext of [Buffer.from('héllo ✓'), Buffer.alloc(0), randomBytes(4096)]) {
      const box = seal(key, plaintext, aad);
      expect(box.iv).toHaveLength(12);
      expect(box.tag).toHaveLength(16);
      expect(open(key, box, aad).equals(plaintext)).toBe(true);
    }
  });

  it('uses a fresh IV on every call', () => {
    const a = seal(key, Buffer.from('same'), aad);
    const b = seal(key, Buffer.from('same'), aad);
    expect(a.iv.equals(b.iv)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
  });

  it('refuses to seal without associated data or with a short key', () => {
    expect(() => seal(key, Buffer.from('x'), Buffer.alloc(0))).toThrow(TypeError);
    expect(() => seal(randomBytes(16), Buffer.from('x'), aad)).toThrow(TypeError);
  });

  it('fails with a generic DecryptionError under other associated data or another key', () => {
    const box = seal(key, Buffer.from('secret-value'), aad);
    for (const attempt of [() => open(key, box, Buffer.from('other')), () => open(randomBytes(32), box, aad)]) {
      expect(attempt).toThrow(DecryptionError);
      expect(attempt).toThrow(/^decryption failed$/);
    }
  });

  it('rejects a truncated tag that GCM would otherwise accept', () => {
    const box = seal(key, Buffer.from('secret-value'), aad);
    expect(() => open(key, { ...box, tag: box.tag.subarray(0, 4) }, aad)).toThrow(DecryptionError);
    expect(() => open(key, { ...box, iv: box.iv.subarray(0, 8) }, aad)).toThrow(DecryptionError);
  });
});
