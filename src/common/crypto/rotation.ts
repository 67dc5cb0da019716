import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { CryptoService, SecretUnavailableError } from './crypto.service';
import { SECRET_TABLES, secretField, type SecretTable } from './secret-tables';

export const ROTATION_ACTOR = 'system:keys-rotate';

export interface RewrapResult {
  /** Data keys now wrapped by the first master key that were not before. */
  dataKeys: number;
  tenants: number;
}

export interface ReencryptResult {
  /** Tenants whose data key was rotated or whose blobs moved to the active key. */
  tenants: number;
  /** Tenants that got a new data key in this run (a resumed tenant does not). */
  rotated: number;
  rows: number;
  blobs: number;
  /** Blobs that could not be decrypted and were left exactly as they were. */
  unreadable: number;
}

export interface RowDone {
  tenantId: string;
  table: string;
  id: string;
  blobs: number;
}

export interface KeyRotationOptions {
  /** Progress lines: counts, tenant and row ids, never a key or a secret. */
  log?: (message: string) => void;
  /** Runs after each row's transaction commits. Tests throw from it to stop a run half-way. */
  afterRow?: (row: RowDone) => void | Promise<void>;
  /** Passes over a tenant's rows before giving up on rows that keep going stale (rows written meanwhile under the old key). */
  maxPasses?: number;
}

interface PassResult {
  rows: number;
  blobs: number;
  unreadable: number;
}

const TENANT_PAGE = 500;
const ROW_ATTEMPTS = 3;
// serialization_failure, deadlock_detected, lock_not_available, query_canceled (statement_timeout).
const RETRYABLE = new Set(['40001', '40P01', '55P03', '57014']);
const MAX_BATCH = 10_000;

// A blob is "sb1.<dataKeyId>.<iv>.<tag>.<ciphertext>": part 2 names the data key that made it.
const STALE_BLOB = `EXISTS (
  SELECT 1
  FROM jsonb_each(CASE WHEN jsonb_typeof(t.secrets) = 'object' THEN t.secrets ELSE '{}'::jsonb END) AS g(name, entries)
  CROSS JOIN LATERAL jsonb_each_text(CASE WHEN jsonb_typeof(g.entries) = 'object' THEN g.entries ELSE '{}'::jsonb END) AS kv(key, blob)
  WHERE starts_with(kv.blob, 'sb1.') AND split_part(kv.blob, '.', 2) <> $2
)`;

/**
 * Master-key and data-key rotation over live data (`npm run keys:rotate`).
 *
 * rewrapAll re-wraps every tenant data key under the first master key; after
 * it, no blob needs an older master key, so that key can leave ENCRYPTION_KEYS.
 *
 * reencryptAll gives each tenant a new data key and moves every stored blob
 * onto it, one row per short transaction that locks the row FOR UPDATE (as the
 * service does when it writes) and changes only the secrets column, so the
 * service keeps running and etags do not change. It is resumable: a tenant
 * with blobs still under an older key is finishing an interrupted rotation and
 * is not rotated again, only finished.
 */
export class KeyRotation {
  private readonly log: (message: string) => void;
  private readonly maxPasses: number;

  constructor(
    private readonly dataSource: DataSource,
    private readonly crypto: CryptoService,
    private readonly options: KeyRotationOptions = {},
  ) {
    this.log = options.log ?? (() => undefined);
    this.maxPasses = options.maxPasses ?? 5;
  }

  async rewrapAll(batch: number): Promise<RewrapResult> {
    assertBatch(batch);
    const before = await this.wrappingSnapshot();
    let dataKeys = 0;
    for (;;) {
      const changed = await this.crypto.rewrapBatch(batch);
      if (changed === 0) break;
      dataKeys += changed;
      this.log(`rewrap: ${dataKeys} data keys re-wrapped so far`);
    }
    const after = await this.wrappingSnapshot();
    const affected = new Map<string, { dataKeys: number; masterKid: string }>();
    for (const [entry, key] of after) {
      const earlier = before.get(entry);
      if (!earlier || earlier.masterKid === key.masterKid) continue;
      const counted = affected.get(key.tenantId) ?? { dataKeys: 0, masterKid: key.masterKid };
      counted.dataKeys += 1;
      affected.set(key.tenantId, counted);
    }
    for (const [tenantId, details] of affected) {
      await this.recordRotated(tenantId, { step: 'rewrap', ...details });
    }
    this.log(`rewrap: done, ${dataKeys} data keys of ${affected.size} tenants re-wrapped under the first master key`);
    return { dataKeys, tenants: affected.size };
  }

  async reencryptAll(batch: number): Promise<ReencryptResult> {
    assertBatch(batch);
    const tables = await this.presentTables();
    const result: ReencryptResult = { tenants: 0, rotated: 0, rows: 0, blobs: 0, unreadable: 0 };
    let cursor = '';
    for (;;) {
      const page: { tenant_id: string }[] = await this.dataSource.query(
        `SELECT tenant_id FROM tenant_data_keys WHERE retired_at IS NULL AND tenant_id > $1 ORDER BY tenant_id LIMIT $2`,
        [cursor, TENANT_PAGE],
      );
      if (page.length === 0) break;
      for (const { tenant_id: tenantId } of page) {
        const done = await this.reencryptTenant(tenantId, tables, batch);
        if (done.rotated || done.blobs > 0) result.tenants += 1;
        if (done.rotated) result.rotated += 1;
        result.rows += done.rows;
        result.blobs += done.blobs;
        result.unreadable += done.unreadable;
      }
      cursor = page[page.length - 1].tenant_id;
    }
    this.log(
      `reencrypt: done, ${result.rotated} data keys rotated, ${result.blobs} secrets in ${result.rows} rows re-encrypted` +
        (result.unreadable > 0 ? `, ${result.unreadable} secrets could not be decrypted and were left as they were` : ''),
    );
    return result;
  }

  private async reencryptTenant(tenantId: string, tables: SecretTable[], batch: number): Promise<PassResult & { rotated: boolean }> {
    let active = await this.crypto.activeDataKeyId(tenantId);
    let rotated = false;
    if (await this.hasStaleBlobs(tenantId, active, tables)) {
      // An earlier run was interrupted after rotating (or rows predate the active key): finish, do not rotate again.
      this.log(`reencrypt: tenant ${tenantId}: secrets under older data keys remain, finishing them under the active key`);
    } else {
      active = await this.crypto.rotateDataKey(tenantId);
      rotated = true;
    }
    const total: PassResult = { rows: 0, blobs: 0, unreadable: 0 };
    // Later passes catch rows the service wrote meanwhile with a key it read just before the rotation.
    for (let pass = 1; pass <= this.maxPasses; pass += 1) {
      const done = await this.reencryptPass(tenantId, active, tables, batch);
      total.rows += done.rows;
      total.blobs += done.blobs;
      total.unreadable = done.unreadable;
      if (done.blobs === 0) break;
    }
    if (rotated || total.blobs > 0) {
      await this.recordRotated(tenantId, {
        step: 'reencrypt',
        dataKeyId: active,
        rotated,
        rows: total.rows,
        secrets: total.blobs,
        unreadable: total.unreadable,
      });
    }
    this.log(`reencrypt: tenant ${tenantId}: ${rotated ? 'new data key, ' : ''}${total.blobs} secrets in ${total.rows} rows re-encrypted`);
    return { ...total, rotated };
  }

  private async reencryptPass(tenantId: string, active: string, tables: SecretTable[], batch: number): Promise<PassResult> {
    const result: PassResult = { rows: 0, blobs: 0, unreadable: 0 };
    for (const spec of tables) {
      let cursor = '';
      for (;;) {
        const ids: { id: string }[] = await this.dataSource.query(
          `SELECT t.id FROM ${quote(spec.table)} t WHERE t.tenant_id = $1 AND ${STALE_BLOB} AND t.id > $3 ORDER BY t.id LIMIT $4`,
          [tenantId, active, cursor, batch],
        );
        if (ids.length === 0) break;
        for (const { id } of ids) {
          const done = await this.withRetry(() => this.reencryptRow(spec, tenantId, id));
          if (done.blobs > 0) result.rows += 1;
          result.blobs += done.blobs;
          result.unreadable += done.unreadable.length;
          for (const field of done.unreadable) {
            this.log(`reencrypt: ${spec.table} ${tenantId}/${id} ${field}: cannot be decrypted, left as it was`);
          }
          await this.options.afterRow?.({ tenantId, table: spec.table, id, blobs: done.blobs });
        }
        cursor = ids[ids.length - 1].id;
        this.log(`reencrypt: tenant ${tenantId}: ${spec.table}: ${result.blobs} secrets in ${result.rows} rows so far`);
      }
    }
    return result;
  }

  private async reencryptRow(spec: SecretTable, tenantId: string, id: string): Promise<{ blobs: number; unreadable: string[] }> {
    return this.dataSource.transaction(async (m) => {
      const [row]: { secrets: unknown }[] = await m.query(
        `SELECT secrets FROM ${quote(spec.table)} WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
        [tenantId, id],
      );
      // Deleted since it was listed.
      if (!row || !isObject(row.secrets)) return { blobs: 0, unreadable: [] };
      const secrets: Record<string, unknown> = { ...row.secrets };
      const unreadable: string[] = [];
      let blobs = 0;
      for (const [group, entries] of Object.entries(secrets)) {
        if (!isObject(entries)) continue;
        const next: Record<string, unknown> = { ...entries };
        for (const [key, blob] of Object.entries(entries)) {
          if (typeof blob !== 'string' || !blob.startsWith('sb1.')) continue;
          const binding = { tenantId, resourceType: spec.resourceType, resourceId: id, field: secretField(group, key) };
          try {
            const fresh = await this.crypto.reencrypt(binding, blob);
            if (fresh !== blob) {
              next[key] = fresh;
              blobs += 1;
            }
          } catch (error) {
            if (!(error instanceof SecretUnavailableError)) throw error;
            unreadable.push(binding.field);
          }
        }
        secrets[group] = next;
      }
      if (blobs > 0) {
        await m.query(`UPDATE ${quote(spec.table)} SET secrets = $3::jsonb WHERE tenant_id = $1 AND id = $2`, [
          tenantId,
          id,
          JSON.stringify(secrets),
        ]);
      }
      return { blobs, unreadable };
    });
  }

  /** A row the service holds locked for long, or a deadlock, costs a retry rather than the whole run. */
  private async withRetry<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await work();
      } catch (error) {
        const code = (error as { driverError?: { code?: string }; code?: string }).driverError?.code ?? (error as { code?: string }).code;
        if (attempt >= ROW_ATTEMPTS || !code || !RETRYABLE.has(code)) throw error;
        this.log(`reencrypt: row busy (${code}), retrying`);
        await new Promise((done) => setTimeout(done, 200 * attempt));
      }
    }
  }

  private async hasStaleBlobs(tenantId: string, active: string, tables: SecretTable[]): Promise<boolean> {
    for (const spec of tables) {
      const rows: unknown[] = await this.dataSource.query(
        `SELECT 1 FROM ${quote(spec.table)} t WHERE t.tenant_id = $1 AND ${STALE_BLOB} LIMIT 1`,
        [tenantId, active],
      );
      if (rows.length > 0) return true;
    }
    return false;
  }

  /** The secret tables this database has: features that are not deployed yet have no table. */
  private async presentTables(): Promise<SecretTable[]> {
    const present: SecretTable[] = [];
    for (const spec of SECRET_TABLES) {
      if (await this.hasTable(spec.table)) present.push(spec);
    }
    return present;
  }

  private async wrappingSnapshot(): Promise<Map<string, { tenantId: string; masterKid: string }>> {
    const rows: { tenant_id: string; id: string; master_kid: string }[] = await this.dataSource.query(
      `SELECT tenant_id, id, master_kid FROM tenant_data_keys`,
    );
    return new Map(rows.map((r) => [`${r.tenant_id}\u0000${r.id}`, { tenantId: r.tenant_id, masterKid: r.master_kid }]));
  }

  /** The tenant's audit event and, when the outbox exists, the `key.rotated` webhook event, committed together. */
  private async recordRotated(tenantId: string, details: Record<string, unknown>): Promise<void> {
    const withOutbox = await this.hasTable('events');
    await this.dataSource.transaction(async (m) => {
      // A tenant deleted meanwhile gets no event.
      const inserted: { id: string }[] = await m.query(
        `INSERT INTO audit_events (tenant_id, id, actor, action, resource_type, resource_id, outcome, details)
         SELECT $1, $2, $3, 'key.rotated', 'tenant', $1, 'success', $4::jsonb
         WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $1)
         RETURNING id`,
        [tenantId, newEventId(), ROTATION_ACTOR, JSON.stringify(details)],
      );
      if (withOutbox && inserted.length > 0) {
        await m.query(`INSERT INTO events (tenant_id, id, type, data) VALUES ($1, $2, 'key.rotated', $3::jsonb)`, [tenantId, newEventId(), JSON.stringify(details)]);
      }
    });
  }

  private async hasTable(table: string): Promise<boolean> {
    const [row]: { present: boolean }[] = await this.dataSource.query(`SELECT to_regclass($1::text) IS NOT NULL AS present`, [table]);
    return row?.present === true;
  }
}

function newEventId(): string {
  return `evt_${randomBytes(12).toString('hex')}`;
}

function assertBatch(batch: number): void {
  if (!Number.isInteger(batch) || batch < 1 || batch > MAX_BATCH) {
    throw new RangeError(`batch must be an integer from 1 to ${MAX_BATCH}`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}
