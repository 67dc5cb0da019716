import type { DataSource } from 'typeorm';
import type { TenantKeyStore, WrappedDataKey } from './tenant-key.store';

interface Row {
  tenant_id: string;
  id: string;
  master_kid: string;
  wrapped: string;
  created_at: Date;
  retired_at: Date | null;
}

const COLUMNS = 'tenant_id, id, master_kid, wrapped, created_at, retired_at';

function toKey(row: Row): WrappedDataKey {
  return { tenantId: row.tenant_id, id: row.id, masterKid: row.master_kid, wrapped: row.wrapped, createdAt: row.created_at, retiredAt: row.retired_at };
}

/** Wrapped tenant data keys in PostgreSQL (table tenant_data_keys; one active key per tenant by a partial unique index). */
export class PgTenantKeyStore implements TenantKeyStore {
  constructor(private readonly dataSource: DataSource) {}

  async findActive(tenantId: string): Promise<WrappedDataKey | null> {
    const [row]: Row[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM tenant_data_keys WHERE tenant_id = $1 AND retired_at IS NULL`, [tenantId]);
    return row ? toKey(row) : null;
  }

  async findById(tenantId: string, id: string): Promise<WrappedDataKey | null> {
    const [row]: Row[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM tenant_data_keys WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
    return row ? toKey(row) : null;
  }

  async insertIfNoActive(key: WrappedDataKey): Promise<WrappedDataKey> {
    await this.dataSource.query(
      `INSERT INTO tenant_data_keys (tenant_id, id, master_kid, wrapped, created_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (tenant_id) WHERE retired_at IS NULL DO NOTHING`,
      [key.tenantId, key.id, key.masterKid, key.wrapped, key.createdAt],
    );
    const active = await this.findActive(key.tenantId);
    if (!active) throw new Error('tenant data key could not be stored');
    return active;
  }

  async rewrap(tenantId: string, id: string, expectedMasterKid: string, masterKid: string, wrapped: string): Promise<boolean> {
    const [, count]: [unknown, number] = await this.dataSource.query(
      `UPDATE tenant_data_keys SET master_kid = $4, wrapped = $5 WHERE tenant_id = $1 AND id = $2 AND master_kid = $3`,
      [tenantId, id, expectedMasterKid, masterKid, wrapped],
    );
    return count > 0;
  }

  async replaceActive(tenantId: string, next: WrappedDataKey): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      await m.query(`UPDATE tenant_data_keys SET retired_at = now() WHERE tenant_id = $1 AND retired_at IS NULL`, [tenantId]);
      await m.query(`INSERT INTO tenant_data_keys (tenant_id, id, master_kid, wrapped, created_at) VALUES ($1, $2, $3, $4, $5)`, [
        tenantId,
        next.id,
        next.masterKid,
        next.wrapped,
        next.createdAt,
      ]);
    });
  }

  async listWrappedByOtherThan(kid: string, limit: number): Promise<WrappedDataKey[]> {
    const rows: Row[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM tenant_data_keys WHERE master_kid <> $1 ORDER BY tenant_id, id LIMIT $2`, [kid, limit]);
    return rows.map(toKey);
  }
}
