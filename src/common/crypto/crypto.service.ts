import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { open, seal } from './aead';
import { KeyringError, KID_PATTERN, MASTER_KEY_BYTES, MasterKey } from './keyring';
import {
  SecretBinding,
  SecretBlob,
  assertSecretBinding,
  blobDataKeyId,
  dataKeyAad,
  formatBlob,
  formatWrappedKey,
  newDataKeyId,
  parseBlob,
  parseWrappedKey,
  secretAad,
} from './secret-box';
import { TenantKeyStore, WrappedDataKey } from './tenant-key.store';

export class SecretUnavailableError extends Error {
  constructor(readonly field: string) {
    super(`stored secret ${field} cannot be decrypted (wrong key or moved ciphertext)`);
    this.name = 'SecretUnavailableError';
  }
}

export interface CryptoServiceOptions {
  /** Unwrapped data keys kept in memory; 0 turns the cache off. */
  cacheSize?: number;
}

interface DataKey {
  id: string;
  key: Buffer;
}

const DATA_KEY_BYTES = 32;
/** About 2.5 MB of keys and bookkeeping: every tenant of a large instance stays one map lookup from its key. */
const DEFAULT_CACHE_SIZE = 10_000;
/** How long an instance keeps encrypting under the active key it last read; a data-key rotation by another process is seen within this time. */
const ACTIVE_KEY_TTL_MS = 30_000;
const SIGN_SALT = Buffer.from('switchboard/v1/sign', 'utf8');
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/;
const MAX_DERIVED_KEYS = 256;

/**
 * Envelope encryption: each tenant's secrets are sealed with its own data key,
 * and data keys are stored wrapped by a master key from ENCRYPTION_KEYS. The
 * keys live in private fields so that logging the service prints none of them.
 */
export class CryptoService {
  readonly #store: TenantKeyStore;
  readonly #primary: MasterKey;
  readonly #masters = new Map<string, Buffer>();
  readonly #cacheSize: number;
  readonly #cache = new Map<string, { tenantId: string; key: Buffer }>();
  readonly #derived = new Map<string, Buffer>();
  // The active data key per tenant, trusted for ACTIVE_KEY_TTL_MS so an encryption costs no query.
  readonly #active = new Map<string, { key: DataKey; at: number }>();
  // Bumped by forgetTenant so a lookup that was in flight meanwhile does not re-cache a forgotten key.
  #forgets = 0;

  constructor(keys: MasterKey[], store: TenantKeyStore, options: CryptoServiceOptions = {}) {
    if (!Array.isArray(keys) || keys.length === 0) {
      throw new KeyringError('no master key configured (ENCRYPTION_KEYS)');
    }
    for (const [index, { kid, key }] of keys.entries()) {
      if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) {
        throw new KeyringError(`master key ${index + 1} has an invalid kid`);
      }
      if (!Buffer.isBuffer(key) || key.length !== MASTER_KEY_BYTES) {
        throw new KeyringError(`master key "${kid}" must be ${MASTER_KEY_BYTES} bytes`);
      }
      if (this.#masters.has(kid)) {
        throw new KeyringError(`master key "${kid}" appears twice`);
      }
      this.#masters.set(kid, Buffer.from(key));
    }
    const primaryKid = keys[0].kid;
    this.#primary = { kid: primaryKid, key: this.#masters.get(primaryKid)! };
    const cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;
    if (!Number.isInteger(cacheSize) || cacheSize < 0) {
      throw new RangeError('cacheSize must be a non-negative integer');
    }
    this.#cacheSize = cacheSize;
    this.#store = store;
  }

  /** Encrypts one JSON value under the tenant's active data key, creating and wrapping that key on first use. */
  async encrypt(binding: SecretBinding, value: unknown): Promise<string> {
    const json = JSON.stringify(value) as string | undefined;
    if (json === undefined) {
      throw new TypeError('secret value must be JSON-serialisable');
    }
    assertSecretBinding(binding);
    const active = await this.#activeKey(binding.tenantId);
    return this.#seal(binding, active, Buffer.from(json, 'utf8'));
  }

  /** Decrypts, or throws SecretUnavailableError: never falls back, never returns another row's secret. */
  async decrypt(binding: SecretBinding, blob: string): Promise<unknown> {
    const plaintext = await this.#open(binding, blob);
    try {
      return JSON.parse(plaintext.toString('utf8')) as unknown;
    } catch {
      // The parser's message would quote the plaintext.
      throw new SecretUnavailableError(fieldOf(binding));
    } finally {
      plaintext.fill(0);
    }
  }

  /** Re-encrypts a blob under the tenant's current active data key if it is not already; returns the same string when nothing changed. */
  async reencrypt(binding: SecretBinding, blob: string): Promise<string> {
    const parsed = this.#parse(binding, blob);
    const active = await this.#activeKey(binding.tenantId);
    if (parsed.dataKeyId === active.id) {
      return blob;
    }
    const plaintext = await this.#open(binding, blob);
    return this.#seal(binding, active, plaintext);
  }

  /** The id of the data key that made the blob; throws MalformedBlobError if it is not a blob. */
  dataKeyIdOf(blob: string): string {
    return blobDataKeyId(blob);
  }

  async activeDataKeyId(tenantId: string): Promise<string> {
    return (await this.#activeKey(tenantId)).id;
  }

  /**
   * Re-wraps up to `batch` data keys not wrapped by the primary master key;
   * returns how many changed. Idempotent; run until 0. The data keys
   * themselves do not change, so no blob has to be rewritten.
   */
  async rewrapBatch(batch: number): Promise<number> {
    if (!Number.isInteger(batch) || batch < 1) {
      throw new RangeError('batch must be a positive integer');
    }
    const primary = this.#primary;
    const records = await this.#store.listWrappedByOtherThan(primary.kid, batch);
    let changed = 0;
    for (const record of records) {
      if (record.masterKid === primary.kid) {
        continue;
      }
      const key = this.#unwrap(record.tenantId, record);
      if (!key) {
        throw new KeyringError(
          `data key ${record.id} of tenant ${record.tenantId} cannot be unwrapped with master key "${record.masterKid}"; keep that key in ENCRYPTION_KEYS until rotation finishes`,
        );
      }
      const wrapped = this.#wrap(record.tenantId, record.id, key);
      if (await this.#store.rewrap(record.tenantId, record.id, record.masterKid, primary.kid, wrapped)) {
        changed += 1;
      }
    }
    return changed;
  }

  /** Creates a new active data key for the tenant; the old one stays readable until no blob uses it. */
  async rotateDataKey(tenantId: string): Promise<string> {
    assertTenantId(tenantId);
    const forgets = this.#forgets;
    const next = this.#newDataKey(tenantId);
    await this.#store.replaceActive(tenantId, next.record);
    this.#active.delete(tenantId);
    this.#remember(tenantId, next.key, forgets);
    return next.key.id;
  }

  /** HMAC-SHA256 under a key derived (HKDF-SHA256, info = purpose) from the primary master key, base64url. */
  sign(purpose: string, data: string): string {
    return this.#mac(this.#primary.kid, this.#primary.key, purpose, data).toString('base64url');
  }

  /** Tries every master key, so signatures made before a rotation still verify while the old key is listed. */
  verify(purpose: string, data: string, signature: string): boolean {
    if (typeof signature !== 'string' || !SIGNATURE.test(signature)) {
      return false;
    }
    const given = Buffer.from(signature, 'base64url');
    if (given.toString('base64url') !== signature) {
      return false;
    }
    let valid = false;
    for (const [kid, key] of this.#masters) {
      // No early exit: the time taken does not reveal which key matched.
      valid = timingSafeEqual(this.#mac(kid, key, purpose, data), given) || valid;
    }
    return valid;
  }

  /** Forgets cached unwrapped data keys of a tenant (after tenant deletion: crypto-shredding). */
  forgetTenant(tenantId: string): void {
    this.#forgets += 1;
    this.#active.delete(tenantId);
    for (const [entry, cached] of this.#cache) {
      if (cached.tenantId === tenantId) {
        this.#cache.delete(entry);
      }
    }
  }

  async #activeKey(tenantId: string): Promise<DataKey> {
    assertTenantId(tenantId);
    const hit = this.#active.get(tenantId);
    if (hit && Date.now() - hit.at < ACTIVE_KEY_TTL_MS) return hit.key;
    const key = await this.#loadActiveKey(tenantId);
    if (this.#cacheSize > 0) {
      if (this.#active.size >= this.#cacheSize) this.#active.delete(this.#active.keys().next().value as string);
      this.#active.set(tenantId, { key, at: Date.now() });
    }
    return key;
  }

  async #loadActiveKey(tenantId: string): Promise<DataKey> {
    const forgets = this.#forgets;
    const record = await this.#store.findActive(tenantId);
    if (!record) {
      const created = this.#newDataKey(tenantId);
      const winner = await this.#store.insertIfNoActive(created.record);
      if (winner.tenantId === tenantId && winner.id === created.key.id) {
        this.#remember(tenantId, created.key, forgets);
        return created.key;
      }
      return this.#usable(tenantId, winner, forgets);
    }
    return this.#usable(tenantId, record, forgets);
  }

  #usable(tenantId: string, record: WrappedDataKey, forgets: number): DataKey {
    const cached = this.#cached(tenantId, record.id);
    if (cached) {
      return { id: record.id, key: cached };
    }
    const key = this.#unwrap(tenantId, record);
    if (!key) {
      throw new KeyringError(
        this.#masters.has(record.masterKid)
          ? `the active data key of tenant ${tenantId} cannot be unwrapped with master key "${record.masterKid}"`
          : `the active data key of tenant ${tenantId} is wrapped by master key "${record.masterKid}", which is not in ENCRYPTION_KEYS`,
      );
    }
    const dataKey = { id: record.id, key };
    this.#remember(tenantId, dataKey, forgets);
    return dataKey;
  }

  /** The data key that made a blob, or null when its row is gone or cannot be unwrapped. */
  async #dataKey(tenantId: string, id: string): Promise<Buffer | null> {
    const cached = this.#cached(tenantId, id);
    if (cached) {
      return cached;
    }
    const forgets = this.#forgets;
    const record = await this.#store.findById(tenantId, id);
    if (!record || record.id !== id) {
      return null;
    }
    const key = this.#unwrap(tenantId, record);
    if (key) {
      this.#remember(tenantId, { id, key }, forgets);
    }
    return key;
  }

  #newDataKey(tenantId: string): { key: DataKey; record: WrappedDataKey } {
    const key = { id: newDataKeyId(), key: randomBytes(DATA_KEY_BYTES) };
    const record: WrappedDataKey = {
      tenantId,
      id: key.id,
      masterKid: this.#primary.kid,
      wrapped: this.#wrap(tenantId, key.id, key.key),
      createdAt: new Date(),
      retiredAt: null,
    };
    return { key, record };
  }

  #wrap(tenantId: string, id: string, key: Buffer): string {
    return formatWrappedKey(seal(this.#primary.key, key, dataKeyAad(tenantId, id)));
  }

  #unwrap(tenantId: string, record: WrappedDataKey): Buffer | null {
    const master = this.#masters.get(record.masterKid);
    if (!master || record.tenantId !== tenantId) {
      return null;
    }
    try {
      const key = open(master, parseWrappedKey(record.wrapped), dataKeyAad(tenantId, record.id));
      return key.length === DATA_KEY_BYTES ? key : null;
    } catch {
      return null;
    }
  }

  #parse(binding: SecretBinding, blob: string): SecretBlob {
    try {
      const parsed = parseBlob(blob);
      secretAad(binding, parsed.dataKeyId);
      return parsed;
    } catch {
      throw new SecretUnavailableError(fieldOf(binding));
    }
  }

  async #open(binding: SecretBinding, blob: string): Promise<Buffer> {
    const parsed = this.#parse(binding, blob);
    // Store failures propagate as they are: an unreachable database is not a wrong key.
    const key = await this.#dataKey(binding.tenantId, parsed.dataKeyId);
    if (!key) {
      throw new SecretUnavailableError(fieldOf(binding));
    }
    try {
      return open(key, parsed, secretAad(binding, parsed.dataKeyId));
    } catch {
      throw new SecretUnavailableError(fieldOf(binding));
    }
  }

  #seal(binding: SecretBinding, dataKey: DataKey, plaintext: Buffer): string {
    try {
      const box = seal(dataKey.key, plaintext, secretAad(binding, dataKey.id));
      return formatBlob({ dataKeyId: dataKey.id, ...box });
    } finally {
      plaintext.fill(0);
    }
  }

  #cached(tenantId: string, id: string): Buffer | undefined {
    const entry = cacheKey(tenantId, id);
    const cached = this.#cache.get(entry);
    if (!cached) {
      return undefined;
    }
    this.#cache.delete(entry);
    this.#cache.set(entry, cached);
    return cached.key;
  }

  #remember(tenantId: string, dataKey: DataKey, forgetsAtStart: number): void {
    if (this.#cacheSize === 0 || forgetsAtStart !== this.#forgets) {
      return;
    }
    const entry = cacheKey(tenantId, dataKey.id);
    this.#cache.delete(entry);
    this.#cache.set(entry, { tenantId, key: dataKey.key });
    while (this.#cache.size > this.#cacheSize) {
      this.#cache.delete(this.#cache.keys().next().value as string);
    }
  }

  #mac(kid: string, master: Buffer, purpose: string, data: string): Buffer {
    if (typeof purpose !== 'string' || purpose.length === 0 || Buffer.byteLength(purpose) > 1024) {
      throw new TypeError('purpose must be a non-empty string of at most 1024 bytes');
    }
    const entry = `${kid}\u0000${purpose}`;
    let key = this.#derived.get(entry);
    if (!key) {
      key = Buffer.from(hkdfSync('sha256', master, SIGN_SALT, purpose, 32));
      if (this.#derived.size >= MAX_DERIVED_KEYS) {
        this.#derived.clear();
      }
      this.#derived.set(entry, key);
    }
    return createHmac('sha256', key).update(data, 'utf8').digest();
  }
}

// The data key id has a fixed length, so it cannot run into the tenant id.
function cacheKey(tenantId: string, id: string): string {
  return `${id}${tenantId}`;
}

function fieldOf(binding: SecretBinding): string {
  return typeof binding?.field === 'string' ? binding.field : 'unknown';
}

function assertTenantId(tenantId: string): void {
  if (typeof tenantId !== 'string' || tenantId.length === 0) {
    throw new TypeError('tenantId must be a non-empty string');
  }
}
