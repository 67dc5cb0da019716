import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { CryptoService, SecretUnavailableError } from './crypto.service';
import { KeyringError, MasterKey, generateKeyEntry, parseKeyring } from './keyring';
import { SecretBinding, newDataKeyId } from './secret-box';
import { TenantKeyStore, WrappedDataKey } from './tenant-key.store';

/** Behaves like a database table: returns copies, and yields before every call so concurrent callers interleave. */
class MemoryTenantKeyStore implements TenantKeyStore {
  readonly rows: WrappedDataKey[] = [];
  findByIdCalls = 0;

  async findActive(tenantId: string): Promise<WrappedDataKey | null> {
    await tick();
    return copy(this.rows.find((r) => r.tenantId === tenantId && r.retiredAt === null));
  }

  async findById(tenantId: string, id: string): Promise<WrappedDataKey | null> {
    await tick();
    this.findByIdCalls += 1;
    return copy(this.rows.find((r) => r.tenantId === tenantId && r.id === id));
  }

  async insertIfNoActive(key: WrappedDataKey): Promise<WrappedDataKey> {
    await tick();
    const active = this.rows.find((r) => r.tenantId === key.tenantId && r.retiredAt === null);
    if (active) {
      return copy(active)!;
    }
    this.rows.push({ ...key });
    return copy(key)!;
  }

  async rewrap(tenantId: string, id: string, expectedMasterKid: string, masterKid: string, wrapped: string) {
    await tick();
    const row = this.rows.find((r) => r.tenantId === tenantId && r.id === id);
    if (!row || row.masterKid !== expectedMasterKid) {
      return false;
    }
    Object.assign(row, { masterKid, wrapped });
    return true;
  }

  async replaceActive(tenantId: string, next: WrappedDataKey): Promise<void> {
    await tick();
    for (const row of this.rows) {
      if (row.tenantId === tenantId && row.retiredAt === null) {
        row.retiredAt = new Date();
      }
    }
    this.rows.push({ ...next });
  }

  async listWrappedByOtherThan(kid: string, limit: number): Promise<WrappedDataKey[]> {
    await tick();
    return this.rows.filter((r) => r.masterKid !== kid).slice(0, limit).map((r) => copy(r)!);
  }

  ofTenant(tenantId: string): WrappedDataKey[] {
    return this.rows.filter((r) => r.tenantId === tenantId);
  }
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
const copy = (row: WrappedDataKey | undefined) => (row ? { ...row } : null);

const masterKey = (kid: string): MasterKey => ({ kid, key: randomBytes(32) });

const binding = (overrides: Partial<SecretBinding> = {}): SecretBinding => ({
  tenantId: 'acme',
  resourceType: 'integration',
  resourceId: 'github-main',
  field: 'credentials.token',
  ...overrides,
});

const unavailable = /^stored secret credentials\.token cannot be decrypted \(wrong key or moved ciphertext\)$/;

/** Flips one bit of byte `index` of base64url part `part` (2 = IV, 3 = tag, 4 = ciphertext). */
function flipByte(blob: string, part: number, index: number): string {
  const parts = blob.split('.');
  const bytes = Buffer.from(parts[part], 'base64url');
  bytes[index] ^= 0x01;
  parts[part] = bytes.toString('base64url');
  return parts.join('.');
}

function setup(keys: MasterKey[] = [masterKey('k1')]) {
  const store = new MemoryTenantKeyStore();
  return { store, keys, crypto: new CryptoService(keys, store) };
}

describe('CryptoService', () => {
  describe('encrypt and decrypt', () => {
    it.each([
      ['a string', 'ghp_0123456789abcdef'],
      ['an empty string', ''],
      ['a number', 42.5],
      ['a boolean', false],
      ['null', null],
      ['an object', { clientId: 'abc', clientSecret: 's3cr3t', scopes: ['read', 'write'], nested: { n: 1 } }],
      ['unicode', 'пароль 🔐 密码 \u0000 "quoted" \\ ü'],
      ['a 64 KiB PEM-like value', `-----BEGIN KEY-----\n${randomBytes(48 * 1024).toString('base64')}\n-----END KEY-----`],
    ])('roundtrips %s', async (_case, value) => {
      const { crypto } = setup();
      const blob = await crypto.encrypt(binding(), value);
      await expect(crypto.decrypt(binding(), blob)).resolves.toEqual(value);
    });

    it('stores text that names the data key and contains no plaintext', async () => {
      const { crypto } = setup();
      const blob = await crypto.encrypt(binding(), 'plain-secret-value');
      expect(blob).toMatch(/^sb1\.dk_[0-9a-f]{16}\.[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(crypto.dataKeyIdOf(blob)).toBe(await crypto.activeDataKeyId('acme'));
      expect(blob).not.toContain('plain-secret-value');
      expect(Buffer.from(blob.split('.')[4], 'base64url').toString('latin1')).not.toContain('plain-secret-value');
    });

    it('refuses a value that is not JSON and an incomplete binding', async () => {
      const { crypto } = setup();
      await expect(crypto.encrypt(binding(), undefined)).rejects.toThrow(TypeError);
      await expect(crypto.encrypt(binding(), () => 1)).rejects.toThrow(TypeError);
      await expect(crypto.encrypt(binding({ field: '' }), 'x')).rejects.toThrow(TypeError);
    });

    it('gives 10,000 encryptions of the same plaintext 10,000 distinct IVs and blobs', async () => {
      const { crypto } = setup();
      const ivs = new Set<string>();
      const blobs = new Set<string>();
      for (let i = 0; i < 10_000; i += 1) {
        const blob = await crypto.encrypt(binding(), 'same plaintext');
        blobs.add(blob);
        ivs.add(blob.split('.')[2]);
      }
      expect(ivs.size).toBe(10_000);
      expect(blobs.size).toBe(10_000);
    });

    it('uses one data key per tenant and a different one for each tenant', async () => {
      const { crypto, store } = setup();
      const a1 = await crypto.encrypt(binding(), 'a');
      const a2 = await crypto.encrypt(binding({ field: 'credentials.other' }), 'b');
      const b1 = await crypto.encrypt(binding({ tenantId: 'globex' }), 'c');
      expect(crypto.dataKeyIdOf(a1)).toBe(crypto.dataKeyIdOf(a2));
      expect(crypto.dataKeyIdOf(b1)).not.toBe(crypto.dataKeyIdOf(a1));
      expect(store.rows).toHaveLength(2);
    });

    it('serves repeated decryptions from the cache without reading the key row again', async () => {
      const { crypto, store, keys } = setup();
      const blob = await crypto.encrypt(binding(), 'cached');
      const reader = new CryptoService(keys, store);
      await reader.decrypt(binding(), blob);
      await reader.decrypt(binding(), blob);
      expect(store.findByIdCalls).toBe(1);
    });

    it('keeps decrypting correctly when the cache is smaller than the number of tenants', async () => {
      const store = new MemoryTenantKeyStore();
      const crypto = new CryptoService([masterKey('k1')], store, { cacheSize: 2 });
      const tenants = ['t1', 't2', 't3', 't4', 't5'];
      const blobs = await Promise.all(tenants.map((t) => crypto.encrypt(binding({ tenantId: t }), t)));
      for (const [i, tenantId] of tenants.entries()) {
        await expect(crypto.decrypt(binding({ tenantId }), blobs[i])).resolves.toBe(tenantId);
      }
    });

    it('does not show master or data keys when the service is inspected or serialised', async () => {
      const keys = [masterKey('k1')];
      const { crypto } = setup(keys);
      await crypto.encrypt(binding(), 'x');
      const hex = keys[0].key.toString('hex');
      expect(inspect(crypto, { depth: 10, showHidden: true })).not.toContain(hex.slice(0, 16));
      expect(JSON.stringify(crypto)).toBe('{}');
    });
  });

  describe('tampering', () => {
    it.each([
      ['IV', 2, 12],
      ['tag', 3, 16],
      ['ciphertext', 4, 26],
    ])('rejects a blob with any single byte of its %s changed', async (_part, part, length) => {
      const { crypto } = setup();
      const blob = await crypto.encrypt(binding(), { apiKey: 'abcdefghijklm' });
      expect(Buffer.from(blob.split('.')[part], 'base64url')).toHaveLength(length);
      for (let index = 0; index < length; index += 1) {
        await expect(crypto.decrypt(binding(), flipByte(blob, part, index))).rejects.toThrow(unavailable);
      }
    });

    it('rejects a blob with any single character of its stored text replaced', async () => {
      const { crypto } = setup();
      const blob = await crypto.encrypt(binding(), 'secret');
      for (let index = 0; index < blob.length; index += 1) {
        const replaced = blob.slice(0, index) + (blob[index] === 'A' ? 'B' : 'A') + blob.slice(index + 1);
        await expect(crypto.decrypt(binding(), replaced)).rejects.toThrow(unavailable);
      }
    });

    it('rejects a blob whose data key id was changed to another key of the same tenant', async () => {
      const { crypto } = setup();
      const blob = await crypto.encrypt(binding(), 'secret');
      const oldId = crypto.dataKeyIdOf(blob);
      const newId = await crypto.rotateDataKey('acme');
      await expect(crypto.decrypt(binding(), blob.replace(oldId, newId))).rejects.toThrow(SecretUnavailableError);
    });

    it('rejects a blob whose data key id names no stored key', async () => {
      const { crypto } = setup();
      const blob = await crypto.encrypt(binding(), 'secret');
      const moved = blob.replace(crypto.dataKeyIdOf(blob), newDataKeyId());
      await expect(crypto.decrypt(binding(), moved)).rejects.toThrow(unavailable);
    });

    it.each([
      ['an empty string', ''],
      ['plaintext', 'ghp_plaintext_token'],
      ['another blob version', 'sb2.dk_0123456789abcdef.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAA'],
      ['a truncated blob', 'sb1.dk_0123456789abcdef.AAAAAAAAAAAAAAAA'],
    ])('rejects %s instead of returning it', async (_case, blob) => {
      const { crypto } = setup();
      await crypto.encrypt(binding(), 'make a key');
      await expect(crypto.decrypt(binding(), blob)).rejects.toThrow(unavailable);
      await expect(crypto.reencrypt(binding(), blob)).rejects.toThrow(unavailable);
    });

    it('rejects a non-string blob', async () => {
      const { crypto } = setup();
      await expect(crypto.decrypt(binding(), 42 as unknown as string)).rejects.toThrow(SecretUnavailableError);
    });
  });

  describe('binding', () => {
    it.each([
      ['another field', { field: 'credentials.password' }],
      ['another resource id', { resourceId: 'github-other' }],
      ['another resource type', { resourceType: 'connection' }],
      ['another tenant', { tenantId: 'globex' }],
    ])('rejects a blob moved to %s', async (_case, moved) => {
      const { crypto } = setup();
      await crypto.encrypt(binding({ tenantId: 'globex' }), 'give globex a key');
      const blob = await crypto.encrypt(binding(), 'secret');
      await expect(crypto.decrypt(binding(moved), blob)).rejects.toThrow(SecretUnavailableError);
      await expect(crypto.decrypt(binding(), blob)).resolves.toBe('secret');
    });

    it('rejects a blob moved to another tenant together with a copy of its wrapped data key', async () => {
      const { crypto, store } = setup();
      const blob = await crypto.encrypt(binding(), 'secret');
      const [row] = store.ofTenant('acme');
      store.rows.push({ ...row, tenantId: 'globex' });
      await expect(crypto.decrypt(binding({ tenantId: 'globex' }), blob)).rejects.toThrow(SecretUnavailableError);
    });

    it('rejects a blob when the data key row was deleted, once the cache is cleared', async () => {
      const { crypto, store } = setup();
      const blob = await crypto.encrypt(binding(), 'secret');
      store.rows.splice(0);
      crypto.forgetTenant('acme');
      await expect(crypto.decrypt(binding(), blob)).rejects.toThrow(unavailable);
    });

    it('forgets only the given tenant when asked to', async () => {
      const { crypto, store } = setup();
      const acme = await crypto.encrypt(binding(), 'a');
      const globex = await crypto.encrypt(binding({ tenantId: 'globex' }), 'g');
      const before = store.findByIdCalls;
      crypto.forgetTenant('acme');
      await crypto.decrypt(binding({ tenantId: 'globex' }), globex);
      expect(store.findByIdCalls).toBe(before);
      await crypto.decrypt(binding(), acme);
      expect(store.findByIdCalls).toBe(before + 1);
    });
  });

  describe('master keys', () => {
    it('refuses an empty keyring', () => {
      expect(() => new CryptoService([], new MemoryTenantKeyStore())).toThrow(KeyringError);
    });

    it('refuses a master key of the wrong length without printing it', () => {
      const short = randomBytes(16);
      const build = () => new CryptoService([{ kid: 'k1', key: short }], new MemoryTenantKeyStore());
      expect(build).toThrow(KeyringError);
      expect(build).not.toThrow(short.toString('base64'));
    });

    it('cannot decrypt under a different master key with the same kid', async () => {
      const { crypto, store } = setup([masterKey('k1')]);
      const blob = await crypto.encrypt(binding(), 'secret');
      const impostor = new CryptoService([masterKey('k1')], store);
      await expect(impostor.decrypt(binding(), blob)).rejects.toThrow(unavailable);
    });

    it('cannot decrypt when the keyring lacks the master key that wrapped the data key', async () => {
      const { crypto, store } = setup([masterKey('k1')]);
      const blob = await crypto.encrypt(binding(), 'secret');
      const other = new CryptoService([masterKey('k2')], store);
      await expect(other.decrypt(binding(), blob)).rejects.toThrow(unavailable);
    });

    it('refuses to encrypt under an active data key it cannot unwrap, naming the kid only', async () => {
      const keys = [masterKey('k1')];
      const { crypto, store } = setup(keys);
      await crypto.encrypt(binding(), 'secret');
      const other = new CryptoService([masterKey('k2')], store);
      const error = await other.encrypt(binding(), 'new').catch((e: unknown) => e as Error);
      expect(error).toBeInstanceOf(KeyringError);
      expect((error as Error).message).toContain('"k1"');
      expect((error as Error).message).not.toContain(keys[0].key.toString('base64'));
    });

    it('works with a keyring parsed from ENCRYPTION_KEYS', async () => {
      const keys = parseKeyring(`${generateKeyEntry('new')},${generateKeyEntry('old')}`);
      const { crypto } = setup(keys);
      const blob = await crypto.encrypt(binding(), 'secret');
      await expect(crypto.decrypt(binding(), blob)).resolves.toBe('secret');
    });
  });

  describe('master key rotation', () => {
    async function populate(crypto: CryptoService, tenants: string[]) {
      const blobs: Array<{ binding: SecretBinding; blob: string; value: string }> = [];
      for (const tenantId of tenants) {
        for (const field of ['credentials.a', 'credentials.b']) {
          const b = binding({ tenantId, field });
          const value = `${tenantId}/${field}`;
          blobs.push({ binding: b, blob: await crypto.encrypt(b, value), value });
        }
        // A retired data key is still wrapped by the old master key and must be re-wrapped too.
        await crypto.rotateDataKey(tenantId);
      }
      return blobs;
    }

    async function expectAllDecrypt(crypto: CryptoService, blobs: Awaited<ReturnType<typeof populate>>) {
      for (const { binding: b, blob, value } of blobs) {
        await expect(crypto.decrypt(b, blob)).resolves.toBe(value);
      }
    }

    it('re-wraps every data key so the new master key alone decrypts every blob', async () => {
      const oldKey = masterKey('old');
      const newKey = masterKey('new');
      const { crypto, store } = setup([oldKey]);
      const blobs = await populate(crypto, ['t1', 't2', 't3', 't4', 't5']);
      expect(store.rows).toHaveLength(10);

      const rotating = new CryptoService([newKey, oldKey], store);
      await expectAllDecrypt(rotating, blobs);
      let total = 0;
      for (let changed = -1; changed !== 0; ) {
        changed = await rotating.rewrapBatch(3);
        total += changed;
      }
      expect(total).toBe(10);
      expect(store.rows.every((r) => r.masterKid === 'new')).toBe(true);

      const afterwards = new CryptoService([newKey], store);
      await expectAllDecrypt(afterwards, blobs);
      await expect(afterwards.rewrapBatch(100)).resolves.toBe(0);
    });

    it('resumes an interrupted re-wrap and ends in the same state', async () => {
      const oldKey = masterKey('old');
      const newKey = masterKey('new');
      const { crypto, store } = setup([oldKey]);
      const blobs = await populate(crypto, ['t1', 't2', 't3']);

      await expect(new CryptoService([newKey, oldKey], store).rewrapBatch(1)).resolves.toBe(1);
      expect(store.rows.filter((r) => r.masterKid === 'new')).toHaveLength(1);
      // Mid-rotation, a process with both keys reads everything.
      await expectAllDecrypt(new CryptoService([newKey, oldKey], store), blobs);

      const resumed = new CryptoService([newKey, oldKey], store);
      let total = 1;
      for (let changed = -1; changed !== 0; ) {
        changed = await resumed.rewrapBatch(2);
        total += changed;
      }
      expect(total).toBe(6);
      await expectAllDecrypt(new CryptoService([newKey], store), blobs);
    });

    it('re-wraps without changing data keys, so stored blobs stay as they are', async () => {
      const oldKey = masterKey('old');
      const newKey = masterKey('new');
      const { crypto, store } = setup([oldKey]);
      const blob = await crypto.encrypt(binding(), 'secret');
      const rotating = new CryptoService([newKey, oldKey], store);
      await rotating.rewrapBatch(10);
      await expect(rotating.reencrypt(binding(), blob)).resolves.toBe(blob);
      expect(crypto.dataKeyIdOf(blob)).toBe(await rotating.activeDataKeyId('acme'));
    });

    it('does not overwrite a key that another process re-wrapped first', async () => {
      const oldKey = masterKey('old');
      const newKey = masterKey('new');
      const { crypto, store } = setup([oldKey]);
      const blob = await crypto.encrypt(binding(), 'secret');
      const [a, b] = [new CryptoService([newKey, oldKey], store), new CryptoService([newKey, oldKey], store)];
      const counts = await Promise.all([a.rewrapBatch(10), b.rewrapBatch(10)]);
      expect(counts[0] + counts[1]).toBe(1);
      await expect(new CryptoService([newKey], store).decrypt(binding(), blob)).resolves.toBe('secret');
    });

    it('stops with a KeyringError naming the kid when the old master key was removed too early', async () => {
      const oldKey = masterKey('old');
      const { crypto, store } = setup([oldKey]);
      await crypto.encrypt(binding(), 'secret');
      const premature = new CryptoService([masterKey('new')], store);
      const error = await premature.rewrapBatch(10).catch((e: unknown) => e as Error);
      expect(error).toBeInstanceOf(KeyringError);
      expect((error as Error).message).toMatch(/"old"/);
      expect((error as Error).message).not.toContain(oldKey.key.toString('base64'));
      expect(store.rows[0].masterKid).toBe('old');
    });

    it('refuses a batch size that is not a positive integer', async () => {
      const { crypto } = setup();
      await expect(crypto.rewrapBatch(0)).rejects.toThrow(RangeError);
    });
  });

  describe('data key rotation', () => {
    it('moves blobs to the new data key with reencrypt while old blobs still decrypt', async () => {
      const { crypto, store, keys } = setup();
      const first = await crypto.encrypt(binding(), { token: 'one' });
      const second = await crypto.encrypt(binding({ field: 'credentials.b' }), 'two');
      const oldId = crypto.dataKeyIdOf(first);

      const newId = await crypto.rotateDataKey('acme');
      expect(newId).not.toBe(oldId);
      await expect(crypto.activeDataKeyId('acme')).resolves.toBe(newId);
      expect(store.ofTenant('acme').filter((r) => r.retiredAt === null).map((r) => r.id)).toEqual([newId]);

      // Not yet re-encrypted: still readable, by this process and by a fresh one.
      await expect(crypto.decrypt(binding(), first)).resolves.toEqual({ token: 'one' });
      await expect(new CryptoService(keys, store).decrypt(binding(), first)).resolves.toEqual({ token: 'one' });

      const moved = await crypto.reencrypt(binding(), first);
      expect(moved).not.toBe(first);
      expect(crypto.dataKeyIdOf(moved)).toBe(newId);
      await expect(crypto.decrypt(binding(), moved)).resolves.toEqual({ token: 'one' });
      await expect(crypto.decrypt(binding({ field: 'credentials.b' }), second)).resolves.toBe('two');
      await expect(crypto.encrypt(binding(), 'new').then((b) => crypto.dataKeyIdOf(b))).resolves.toBe(newId);
    });

    it('returns the same string when a blob already uses the active data key', async () => {
      const { crypto } = setup();
      const blob = await crypto.encrypt(binding(), 'secret');
      await expect(crypto.reencrypt(binding(), blob)).resolves.toBe(blob);
    });

    it('refuses to re-encrypt a tampered or moved blob', async () => {
      const { crypto } = setup();
      const blob = await crypto.encrypt(binding(), 'secret');
      await crypto.rotateDataKey('acme');
      await expect(crypto.reencrypt(binding(), flipByte(blob, 4, 0))).rejects.toThrow(unavailable);
      await expect(crypto.reencrypt(binding({ resourceId: 'other' }), blob)).rejects.toThrow(SecretUnavailableError);
    });
  });

  describe('first use', () => {
    it('creates exactly one data key for concurrent encryptions in one process', async () => {
      const { crypto, store } = setup();
      const blobs = await Promise.all(
        Array.from({ length: 25 }, (_, i) => crypto.encrypt(binding({ field: `f${i}` }), i)),
      );
      expect(store.ofTenant('acme')).toHaveLength(1);
      expect(new Set(blobs.map((b) => crypto.dataKeyIdOf(b)))).toEqual(new Set([store.rows[0].id]));
      for (const [i, blob] of blobs.entries()) {
        await expect(crypto.decrypt(binding({ field: `f${i}` }), blob)).resolves.toBe(i);
      }
    });

    it('creates exactly one data key when several processes race on a fresh tenant', async () => {
      const keys = [masterKey('k1')];
      const store = new MemoryTenantKeyStore();
      const processes = Array.from({ length: 5 }, () => new CryptoService(keys, store));
      const blobs = await Promise.all(processes.map((p, i) => p.encrypt(binding({ field: `f${i}` }), `v${i}`)));
      expect(store.ofTenant('acme')).toHaveLength(1);
      for (const [i, blob] of blobs.entries()) {
        await expect(processes[(i + 1) % 5].decrypt(binding({ field: `f${i}` }), blob)).resolves.toBe(`v${i}`);
      }
    });
  });

  describe('sign and verify', () => {
    it('verifies its own signature and nothing else', () => {
      const { crypto } = setup();
      const signature = crypto.sign('oauth2-state', 'tenant=acme&nonce=1');
      expect(signature).toMatch(/^[\w-]{43}$/);
      expect(crypto.verify('oauth2-state', 'tenant=acme&nonce=1', signature)).toBe(true);
      expect(crypto.verify('oauth2-state', 'tenant=acme&nonce=2', signature)).toBe(false);
      expect(crypto.verify('webhook', 'tenant=acme&nonce=1', signature)).toBe(false);
      expect(crypto.verify('oauth2-state', 'tenant=acme&nonce=1', `${signature}=`)).toBe(false);
      expect(crypto.verify('oauth2-state', 'tenant=acme&nonce=1', '')).toBe(false);
      expect(crypto.verify('oauth2-state', 'tenant=acme&nonce=1', flipChar(signature))).toBe(false);
    });

    it('keeps verifying old signatures after a rotation while the old key is listed, and signs with the new one', () => {
      const oldKey = masterKey('old');
      const newKey = masterKey('new');
      const store = new MemoryTenantKeyStore();
      const before = new CryptoService([oldKey], store);
      const during = new CryptoService([newKey, oldKey], store);
      const after = new CryptoService([newKey], store);

      const oldSignature = before.sign('state', 'data');
      expect(during.verify('state', 'data', oldSignature)).toBe(true);
      const newSignature = during.sign('state', 'data');
      expect(newSignature).not.toBe(oldSignature);
      expect(after.verify('state', 'data', newSignature)).toBe(true);
      expect(before.verify('state', 'data', newSignature)).toBe(false);
      expect(after.verify('state', 'data', oldSignature)).toBe(false);
    });

    it('signs the same way in every process with the same primary key', () => {
      const keys = [masterKey('k1')];
      const a = new CryptoService(keys, new MemoryTenantKeyStore());
      const b = new CryptoService(keys, new MemoryTenantKeyStore());
      expect(a.sign('p', 'd')).toBe(b.sign('p', 'd'));
    });
  });
});

function flipChar(signature: string): string {
  const first = signature[0] === 'A' ? 'B' : 'A';
  return first + signature.slice(1);
}

