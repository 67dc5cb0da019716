/** A tenant's data key as stored: 32 random bytes sealed by one master key. */
export interface WrappedDataKey {
  tenantId: string;
  /** "dk_" + 16 hex characters. */
  id: string;
  /** kid of the master key that wrapped it. */
  masterKid: string;
  /** "<iv>.<tag>.<ciphertext>", base64url. */
  wrapped: string;
  createdAt: Date;
  /** Set when a newer key became active; a retired key still decrypts the blobs it made. */
  retiredAt: Date | null;
}

/** Storage of wrapped data keys, implemented by the app. At most one key per tenant is active (retiredAt null). */
export interface TenantKeyStore {
  /** The tenant's active (not retired) data key, or null. */
  findActive(tenantId: string): Promise<WrappedDataKey | null>;
  findById(tenantId: string, id: string): Promise<WrappedDataKey | null>;
  /** Inserts a key if the tenant has no active one; returns the tenant's active key afterwards (the winner of a race). */
  insertIfNoActive(key: WrappedDataKey): Promise<WrappedDataKey>;
  /** Replaces wrapped+masterKid of one key (re-wrap) only if masterKid still equals expectedMasterKid; returns whether it changed. */
  rewrap(tenantId: string, id: string, expectedMasterKid: string, masterKid: string, wrapped: string): Promise<boolean>;
  /** Marks the active key retired and inserts a new active one atomically. */
  replaceActive(tenantId: string, next: WrappedDataKey): Promise<void>;
  /** Keys wrapped by a master key other than `kid`, up to `limit`, for rotation batches. Retired keys included. */
  listWrappedByOtherThan(kid: string, limit: number): Promise<WrappedDataKey[]>;
}
