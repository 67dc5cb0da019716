import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

export interface TenantRow {
  id: string;
  seq: string;
  display_name: string;
  description: string;
  metadata: Record<string, unknown>;
  etag: string;
  created_at: Date;
  modified_at: Date;
}

const COLUMNS = 'id, seq, display_name, description, metadata, etag, created_at, modified_at';

@Injectable()
export class TenantsRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(m: EntityManager, t: { id: string; displayName: string; description: string; metadata: Record<string, unknown>; etag: string }): Promise<TenantRow> {
    const [row]: TenantRow[] = await m.query(
      `INSERT INTO tenants (id, display_name, description, metadata, etag) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
      [t.id, t.displayName, t.description, t.metadata, t.etag],
    );
    return row;
  }

  async findById(id: string): Promise<TenantRow | null> {
    const [row]: TenantRow[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM tenants WHERE id = $1`, [id]);
    return row ?? null;
  }

  async exists(id: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(`SELECT 1 FROM tenants WHERE id = $1`, [id]);
    return rows.length > 0;
  }

  async lockById(m: EntityManager, id: string): Promise<TenantRow | null> {
    const [row]: TenantRow[] = await m.query(`SELECT ${COLUMNS} FROM tenants WHERE id = $1 FOR UPDATE`, [id]);
    return row ?? null;
  }

  async listPage(afterSeq: string | null, limit: number): Promise<TenantRow[]> {
    return this.dataSource.query(`SELECT ${COLUMNS} FROM tenants WHERE ($1::bigint IS NULL OR seq > $1::bigint) ORDER BY seq LIMIT $2`, [afterSeq, limit]);
  }

  async update(m: EntityManager, id: string, t: { displayName: string; description: string; metadata: Record<string, unknown>; etag: string }): Promise<TenantRow> {
    const [rows]: [TenantRow[]] = await m.query(
      `UPDATE tenants SET display_name = $2, description = $3, metadata = $4, etag = $5, modified_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, t.displayName, t.description, t.metadata, t.etag],
    );
    return rows[0];
  }

  /** Deletes the tenant and, through cascades and these statements, everything it owns. */
  async deleteCascade(m: EntityManager, id: string): Promise<void> {
    await m.query(`DELETE FROM tenants WHERE id = $1`, [id]);
    await m.query(`DELETE FROM audit_events WHERE tenant_id = $1`, [id]);
    await m.query(`DELETE FROM idempotency_keys WHERE scope = $1`, [id]);
  }
}
