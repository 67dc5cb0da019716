import { Inject, Injectable } from '@nestjs/common';
import { CRYPTO, type TenantCrypto } from '../common/crypto/crypto.tokens';
import { REDACTED, type SecretGroup } from '../common/secrets/secret-fields';
import type { ConnectionRow } from './connections.repository';

/** The one place connection secrets are sealed and opened; bound to { tenant, 'connection', id, '<group>.<key>' }. */
@Injectable()
export class ConnectionSecrets {
  constructor(@Inject(CRYPTO) private readonly crypto: TenantCrypto) {}

  encryptor(tenantId: string, connectionId: string, group: SecretGroup): (key: string, value: unknown) => Promise<string> {
    return (key, value) => this.crypto.encrypt({ tenantId, resourceType: 'connection', resourceId: connectionId, field: `${group}.${key}` }, value);
  }

  /** Seals every value of a group; null and "***REDACTED***" are not values. */
  async encryptGroup(tenantId: string, connectionId: string, group: SecretGroup, values: Record<string, unknown>): Promise<Record<string, string>> {
    const encrypt = this.encryptor(tenantId, connectionId, group);
    const blobs: Record<string, string> = {};
    for (const [key, value] of Object.entries(values)) {
      if (value === null || value === undefined || value === REDACTED) continue;
      Object.defineProperty(blobs, key, { value: await encrypt(key, value), enumerable: true, writable: true, configurable: true });
    }
    return blobs;
  }

  /** Opens one group of a row: only for an outbound call, never for a reply. */
  async decryptGroup(row: Pick<ConnectionRow, 'tenant_id' | 'id' | 'secrets'>, group: SecretGroup): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const [key, blob] of Object.entries(row.secrets[group] ?? {})) {
      const value = await this.crypto.decrypt({ tenantId: row.tenant_id, resourceType: 'connection', resourceId: row.id, field: `${group}.${key}` }, blob);
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
}
