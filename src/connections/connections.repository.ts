import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { SecretGroups } from '../common/secrets/secret-fields';
import type { AccessScope } from './dto/connection.dto';

export interface ServerEntry {
  url: string;
  description: string;
}

export interface HealthError {
  code: string;
  message: string;
}

export interface ConnectionRow {
  tenant_id: string;
  id: string;
  integration_id: string;
  seq: string;
  owner_id: string;
  name: string;
  description: string;
  access_scope: AccessScope;
  is_shared_service_account: boolean;
  integration_version: string | null;
  auth_method: string | null;
  parameters: Record<string, unknown>;
  secrets: SecretGroups;
  servers: ServerEntry[];
  metadata: Record<string, unknown>;
  enabled: boolean;
  health_status: 'unknown' | 'healthy' | 'unhealthy';
  health_checked_at: Date | null;
  health_latency_ms: number | null;
  health_last_error: HealthError | null;
  /** SFTP: the host key fingerprint seen on the first successful check of this connection's own destination. */
  host_key: string | null;
  integration_destination_version: number;
  credentials_version: number;
  token_expires_at: Date | null;
  refresh_failures: number;
  next_refresh_at: Date | null;
  etag: string;
  created_at: Date;
  modified_at: Date;
}

export type ConnectionWrite = Pick<
  ConnectionRow,
  | 'name'
  | 'description'
  | 'access_scope'
  | 'is_shared_service_account'
  | 'integration_version'
  | 'auth_method'
  | 'parameters'
  | 'secrets'
  | 'servers'
  | 'metadata'
  | 'enabled'
  | 'integration_destination_version'
  | 'token_expires_at'
  | 'etag'
>;

export interface ConnectionFilters {
  integrationId?: string;
  accessScope?: AccessScope;
}

/** New tokens, as the authorization callback or a refresh stores them. */
export interface TokenWrite {
  secrets: SecretGroups;
  tokenExpiresAt: Date | null;
  /** Set by the callback: tokens just obtained belong to the integration's current destination. */
  integrationDestinationVersion?: number;
  /** The callback also changes what a client reads (credential keys), so it takes a new etag. */
  etag?: string;
}

export interface HealthWrite {
  status: 'healthy' | 'unhealthy';
  checkedAt: Date;
  latencyMs: number | null;
  lastError: HealthError | null;
  /** Recorded once (trust on first use); later values do not replace it. */
  hostKey?: string | null;
}

const COLUMNS = `tenant_id, id, integration_id, seq, owner_id, name, description, access_scope, is_shared_service_account, integration_version,
  auth_method, parameters, secrets, servers, metadata, enabled, health_status, health_checked_at, health_latency_ms, health_last_error,
  host_key, integration_destination_version, credentials_version, token_expires_at, refresh_failures, next_refresh_at, etag, created_at, modified_at`;

const PREFIXED_COLUMNS = COLUMNS.split(',')
  .map((c) => `c.${c.trim()}`)
  .join(', ');

/** Named queries on `connections`; every one takes the tenant first. */
@Injectable()
export class ConnectionsRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(m: EntityManager, tenantId: string, id: string, integrationId: string, ownerId: string, w: ConnectionWrite): Promise<ConnectionRow> {
    const [row]: ConnectionRow[] = await m.query(
      `INSERT INTO connections (tenant_id, id, integration_id, owner_id, name, description, access_scope, is_shared_service_account, integration_version,
                                auth_method, parameters, secrets, servers, metadata, enabled, integration_destination_version, token_expires_at, etag)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING ${COLUMNS}`,
      [
        tenantId,
        id,
        integrationId,
        ownerId,
        w.name,
        w.description,
        w.access_scope,
        w.is_shared_service_account,
        w.integration_version,
        w.auth_method,
        json(w.parameters),
        json(w.secrets),
        json(w.servers),
        json(w.metadata),
        w.enabled,
        w.integration_destination_version,
        w.token_expires_at,
        w.etag,
      ],
    );
    return row;
  }

  async findById(tenantId: string, id: string, m: EntityManager | DataSource = this.dataSource): Promise<ConnectionRow | null> {
    const [row]: ConnectionRow[] = await m.query(`SELECT ${COLUMNS} FROM connections WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
    return row ?? null;
  }

  async lockById(m: EntityManager, tenantId: string, id: string): Promise<ConnectionRow | null> {
    const [row]: ConnectionRow[] = await m.query(`SELECT ${COLUMNS} FROM connections WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, [tenantId, id]);
    return row ?? null;
  }

  /** Call with the integration row locked, so concurrent creates count one after the other. */
  async countForIntegration(m: EntityManager, tenantId: string, integrationId: string): Promise<number> {
    const [row]: { n: string }[] = await m.query(`SELECT count(*) AS n FROM connections WHERE tenant_id = $1 AND integration_id = $2`, [tenantId, integrationId]);
    return Number(row.n);
  }

  /** Organizational connections and the viewer's own personal ones; never another user's personal ones. */
  async listVisiblePage(tenantId: string, viewerId: string, filters: ConnectionFilters, afterSeq: string | null, limit: number): Promise<ConnectionRow[]> {
    return this.dataSource.query(
      `SELECT ${COLUMNS} FROM connections
        WHERE tenant_id = $1 AND (access_scope = 'organizational' OR owner_id = $2)
          AND ($3::bigint IS NULL OR seq > $3::bigint)
          AND ($4::text IS NULL OR integration_id = $4) AND ($5::text IS NULL OR access_scope = $5)
        ORDER BY seq LIMIT $6`,
      [tenantId, viewerId, afterSeq, filters.integrationId ?? null, filters.accessScope ?? null, limit],
    );
  }

  async update(m: EntityManager, tenantId: string, id: string, w: ConnectionWrite, changed: { credentials: boolean; destination: boolean }): Promise<ConnectionRow> {
    const [rows]: [ConnectionRow[]] = await m.query(
      `UPDATE connections SET name = $3, description = $4, access_scope = $5, is_shared_service_account = $6, integration_version = $7, auth_method = $8,
              parameters = $9, secrets = $10, servers = $11, metadata = $12, enabled = $13, integration_destination_version = $14, token_expires_at = $15,
              etag = $16, modified_at = now(),
              credentials_version = credentials_version + CASE WHEN $17::boolean THEN 1 ELSE 0 END,
              refresh_failures = CASE WHEN $17::boolean THEN 0 ELSE refresh_failures END,
              next_refresh_at = CASE WHEN $17::boolean THEN NULL ELSE next_refresh_at END,
              host_key = CASE WHEN $18::boolean THEN NULL ELSE host_key END
        WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
      [
        tenantId,
        id,
        w.name,
        w.description,
        w.access_scope,
        w.is_shared_service_account,
        w.integration_version,
        w.auth_method,
        json(w.parameters),
        json(w.secrets),
        json(w.servers),
        json(w.metadata),
        w.enabled,
        w.integration_destination_version,
        w.token_expires_at,
        w.etag,
        changed.credentials,
        changed.destination,
      ],
    );
    return rows[0];
  }

  async delete(m: EntityManager, tenantId: string, id: string): Promise<void> {
    await m.query(`DELETE FROM connections WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
  }

  /** Stores a check's outcome (not a client write: the etag stays). Returns the previous status, or null if the row is gone. */
  async recordHealth(m: EntityManager, tenantId: string, id: string, health: HealthWrite): Promise<string | null> {
    const rows: unknown = await m.query(
      `UPDATE connections c SET health_status = $3, health_checked_at = $4, health_latency_ms = $5, health_last_error = $6,
              host_key = COALESCE(c.host_key, $7)
         FROM (SELECT health_status AS previous FROM connections WHERE tenant_id = $1 AND id = $2 FOR UPDATE) p
        WHERE c.tenant_id = $1 AND c.id = $2 RETURNING p.previous`,
      [tenantId, id, health.status, health.checkedAt, health.latencyMs, json(health.lastError), health.hostKey ?? null],
    );
    return firstOf<{ previous: string }>(rows)?.previous ?? null;
  }

  /**
   * Replaces the credentials with freshly obtained tokens: a new credentials_version tells
   * every instance waiting on the row lock that someone else already refreshed.
   */
  async storeTokens(m: EntityManager, tenantId: string, id: string, w: TokenWrite): Promise<ConnectionRow> {
    const rows: unknown = await m.query(
      `UPDATE connections SET secrets = $3, token_expires_at = $4, credentials_version = credentials_version + 1,
              refresh_failures = 0, next_refresh_at = NULL,
              integration_destination_version = COALESCE($5, integration_destination_version),
              etag = COALESCE($6, etag), modified_at = CASE WHEN $6::text IS NULL THEN modified_at ELSE now() END
        WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
      [tenantId, id, json(w.secrets), w.tokenExpiresAt, w.integrationDestinationVersion ?? null, w.etag ?? null],
    );
    return firstOf<ConnectionRow>(rows) as ConnectionRow;
  }

  /** A dead refresh token: drop it (it can never work again) and stop scheduling refreshes. */
  async dropRefreshToken(m: EntityManager, tenantId: string, id: string, secrets: SecretGroups): Promise<void> {
    await m.query(
      `UPDATE connections SET secrets = $3, credentials_version = credentials_version + 1, refresh_failures = 0, next_refresh_at = NULL
        WHERE tenant_id = $1 AND id = $2`,
      [tenantId, id, json(secrets)],
    );
  }

  /** A transient refresh failure: retry after 2^n · 5 s, n the number of failures in a row. */
  async recordRefreshBackoff(m: EntityManager, tenantId: string, id: string): Promise<{ failures: number; nextRefreshAt: Date }> {
    const rows: unknown = await m.query(
      `UPDATE connections SET refresh_failures = refresh_failures + 1,
              next_refresh_at = now() + make_interval(secs => 5 * power(2, LEAST(refresh_failures + 1, 10)))
        WHERE tenant_id = $1 AND id = $2 RETURNING refresh_failures AS failures, next_refresh_at`,
      [tenantId, id],
    );
    const row = firstOf<{ failures: number; next_refresh_at: Date }>(rows);
    return { failures: row?.failures ?? 0, nextRefreshAt: row?.next_refresh_at ?? new Date() };
  }

  /**
   * Locks up to `limit` connections whose tokens are due for a refresh, skipping rows another
   * instance holds: each due connection is claimed by exactly one scheduler run. Only
   * connections that can be refreshed qualify: a refresh token, the integration's current
   * destination, and not backing off.
   */
  async claimDueForRefresh(m: EntityManager, limit: number, horizonSeconds: number): Promise<ConnectionRow[]> {
    return m.query(
      `SELECT ${PREFIXED_COLUMNS} FROM connections c
         JOIN integrations i ON i.tenant_id = c.tenant_id AND i.id = c.integration_id
        WHERE c.enabled AND c.secrets -> 'credentials' ? 'refreshToken'
          AND c.integration_destination_version = i.destination_version
          AND (c.next_refresh_at IS NULL OR c.next_refresh_at <= now())
          AND (c.next_refresh_at IS NOT NULL OR c.token_expires_at <= now() + make_interval(secs => $2))
        ORDER BY COALESCE(c.next_refresh_at, c.token_expires_at)
        LIMIT $1
        FOR UPDATE OF c SKIP LOCKED`,
      [limit, horizonSeconds],
    );
  }

  /**
   * Claims up to `limit` enabled connections (of enabled integrations) whose periodic check is
   * due and moves their next_check_at one interval ahead in the same statement: the lease and
   * the next due time in one. SKIP LOCKED lets runs on other instances claim disjoint rows.
   */
  async claimDueForCheck(m: EntityManager, limit: number, intervalMinutes: number): Promise<{ tenant_id: string; id: string }[]> {
    const result: unknown = await m.query(
      `WITH due AS (
         SELECT c.tenant_id, c.id FROM connections c
           JOIN integrations i ON i.tenant_id = c.tenant_id AND i.id = c.integration_id
          WHERE c.enabled AND i.enabled AND (c.next_check_at IS NULL OR c.next_check_at <= now())
          ORDER BY c.next_check_at NULLS FIRST
          LIMIT $1
          FOR UPDATE OF c SKIP LOCKED)
       UPDATE connections c SET next_check_at = now() + make_interval(mins => $2)
         FROM due WHERE c.tenant_id = due.tenant_id AND c.id = due.id
       RETURNING c.tenant_id, c.id`,
      [limit, intervalMinutes],
    );
    return (Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result) as { tenant_id: string; id: string }[];
  }

  /** Gives a claimed check back (it could not run now): the next scheduler run takes it again. */
  async releaseCheckClaim(tenantId: string, id: string): Promise<void> {
    await this.dataSource.query(`UPDATE connections SET next_check_at = now() WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
  }
}

/** jsonb values are sent as text: pg would otherwise turn a JS array into a PostgreSQL array. */
function json(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

/** TypeORM answers an UPDATE … RETURNING as [rows, count] on postgres. */
function firstOf<T>(result: unknown): T | undefined {
  if (!Array.isArray(result)) return undefined;
  const list = Array.isArray(result[0]) ? (result[0] as T[]) : (result as T[]);
  return list[0];
}
