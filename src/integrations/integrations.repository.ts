import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { ConfigMetadata } from '../connectors/connector.types';
import type { SecretGroups } from '../common/secrets/secret-fields';
import { PreparedSql } from '../database/prepared-sql';

export interface IntegrationRow {
  tenant_id: string;
  id: string;
  seq: string;
  display_name: string;
  description: string;
  connector: string;
  type: 'SYSTEM' | 'CUSTOM';
  config_metadata: ConfigMetadata | null;
  parameters: Record<string, unknown>;
  auth_method: string | null;
  secrets: SecretGroups;
  tags: string[];
  is_internal: boolean;
  enabled: boolean;
  health_status: 'unknown' | 'healthy' | 'unhealthy';
  health_checked_at: Date | null;
  health_latency_ms: number | null;
  health_last_error: { code: string; message: string } | null;
  host_key: string | null;
  destination_version: number;
  etag: string;
  created_at: Date;
  modified_at: Date;
}

/** A row read for its view only: timestamps may come as ISO strings, and secret groups as key names. */
export type IntegrationViewRow = Omit<IntegrationRow, 'health_checked_at' | 'created_at' | 'modified_at' | 'host_key'> & {
  health_checked_at: Date | string | null;
  created_at: Date | string;
  modified_at: Date | string;
};

export type IntegrationWrite = Pick<
  IntegrationRow,
  'display_name' | 'description' | 'config_metadata' | 'parameters' | 'auth_method' | 'secrets' | 'tags' | 'is_internal' | 'enabled' | 'etag' | 'destination_version'
>;

const COLUMNS = `tenant_id, id, seq, display_name, description, connector, type, config_metadata, parameters, auth_method, secrets, tags,
  is_internal, enabled, health_status, health_checked_at, health_latency_ms, health_last_error, host_key, destination_version, etag, created_at, modified_at`;
/**
 * A list page (and a GET) is read for its view only, so PostgreSQL does the parts Node would otherwise repeat
 * for every row: the secret blobs come back as their key names only (`{"credentials": {"apiKey": 0}}`,
 * which is all redaction needs, and a tenth of the bytes), and the timestamps as ISO 8601 text
 * exactly as `Date.prototype.toISOString` writes them (both truncate to milliseconds). The summary
 * view leaves out config_metadata too.
 */
const ISO = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${column}`;
const VIEW_COLUMNS = `tenant_id, id, seq, display_name, description, connector, type, config_metadata, parameters, auth_method,
  (SELECT COALESCE(jsonb_object_agg(g.key, CASE WHEN jsonb_typeof(g.value) = 'object'
            THEN (SELECT COALESCE(jsonb_object_agg(e.key, 0), '{}'::jsonb) FROM jsonb_each(g.value) e) ELSE '{}'::jsonb END), '{}'::jsonb)
     FROM jsonb_each(secrets) g) AS secrets,
  tags, is_internal, enabled, health_status, ${ISO('health_checked_at')}, health_latency_ms, health_last_error, destination_version, etag,
  ${ISO('created_at')}, ${ISO('modified_at')}`;
const SUMMARY_COLUMNS = VIEW_COLUMNS.replace('config_metadata,', '');

export interface VerificationHealth {
  status: 'healthy' | 'unhealthy';
  checkedAt: Date;
  latencyMs: number;
  lastError: { code: string; message: string } | null;
  hostKey?: string | null;
  /** The destination the check ran against: a host key is pinned only if it is still the current one. */
  destinationVersion?: number;
}

export interface IntegrationFilters {
  connector?: string;
  tag?: string;
  enabled?: boolean;
}

@Injectable()
export class IntegrationsRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly sql: PreparedSql,
  ) {}

  /**
   * The create, its audit event and its outbox event in one statement: atomic without an explicit
   * transaction, and one round trip instead of five on the hottest write path.
   */
  async insertCreated(
    tenantId: string,
    id: string,
    connector: string,
    type: string,
    w: IntegrationWrite,
    audit: { eventId: string; actor: string; requestId: string | null },
    outboxEventId: string,
    m?: EntityManager,
  ): Promise<IntegrationRow> {
    const text = `WITH created AS (
         INSERT INTO integrations (tenant_id, id, connector, type, display_name, description, config_metadata, parameters, auth_method, secrets, tags, is_internal, enabled, etag, destination_version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING ${COLUMNS}
       ), audited AS (
         INSERT INTO audit_events (tenant_id, id, actor, action, resource_type, resource_id, outcome, request_id, details)
         SELECT tenant_id, $16, $17, 'integration.created', 'integration', id, 'success', $18, '{}'::jsonb FROM created
       ), announced AS (
         INSERT INTO events (tenant_id, id, type, data)
         SELECT tenant_id, $19, 'integration.created', jsonb_build_object('integrationId', id, 'connector', connector) FROM created
       )
       SELECT * FROM created`;
    const values = [
      tenantId, id, connector, type, w.display_name, w.description, json(w.config_metadata), w.parameters, w.auth_method, w.secrets, w.tags, w.is_internal, w.enabled, w.etag, w.destination_version,
      audit.eventId, audit.actor, audit.requestId, outboxEventId,
    ];
    const rows: IntegrationRow[] = m ? await m.query(text, values) : await this.sql.query<IntegrationRow>('integrations.insertCreated', text, values);
    return rows[0];
  }

  async findById(tenantId: string, id: string): Promise<IntegrationRow | null> {
    const [row] = await this.sql.query<IntegrationRow>('integrations.findById', `SELECT ${COLUMNS} FROM integrations WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
    return row ?? null;
  }

  /** The row for its view only (GET): secrets as key names, timestamps as ISO text, as a list page reads them. */
  async findViewById(tenantId: string, id: string): Promise<IntegrationViewRow | null> {
    const [row] = await this.sql.query<IntegrationViewRow>('integrations.findViewById', `SELECT ${VIEW_COLUMNS} FROM integrations WHERE tenant_id = $1 AND id = $2`, [
      tenantId,
      id,
    ]);
    return row ?? null;
  }

  async lockById(m: EntityManager, tenantId: string, id: string): Promise<IntegrationRow | null> {
    const [row]: IntegrationRow[] = await m.query(`SELECT ${COLUMNS} FROM integrations WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, [tenantId, id]);
    return row ?? null;
  }

  /** Rows for views only: secrets hold key names, not blobs, and the timestamps are ISO strings (see VIEW_COLUMNS). */
  async listPage(tenantId: string, filters: IntegrationFilters, afterSeq: string | null, limit: number, full: boolean): Promise<IntegrationViewRow[]> {
    return this.sql.query<IntegrationViewRow>(
      full ? 'integrations.listPage' : 'integrations.listPageSummary',
      `SELECT ${full ? VIEW_COLUMNS : SUMMARY_COLUMNS} FROM integrations
        WHERE tenant_id = $1 AND seq > $2::bigint
          AND ($3::text IS NULL OR connector = $3) AND ($4::text IS NULL OR tags @> ARRAY[$4::text]) AND ($5::boolean IS NULL OR enabled = $5)
        ORDER BY seq LIMIT $6`,
      // seq is an identity from 1, so the first page is "after 0". No "$2 IS NULL OR …": a named
      // statement soon runs on a generic plan, and only a plain `seq > $2` stays an index bound
      // there; the OR form made PostgreSQL walk the tenant's whole index up to a deep page.
      [tenantId, afterSeq ?? '0', filters.connector ?? null, filters.tag ?? null, filters.enabled ?? null, limit],
    );
  }

  /**
   * A PATCH in one statement: the row, its `integration.updated` audit event and outbox event,
   * written only if the row is still the one the change was planned on (same etag, same secret
   * blobs: key rotation re-encrypts secrets without a new etag). Returns null when it is not (or is
   * gone), and writes nothing then. Outside a transaction (no `m`) it is one autocommit round trip
   * on a prepared statement; inside one, after `lockById`, the condition holds by construction.
   */
  async updateIfUnchanged(
    tenantId: string,
    id: string,
    expected: Pick<IntegrationRow, 'etag' | 'secrets'>,
    w: IntegrationWrite,
    audit: { eventId: string; actor: string; requestId: string | null; details: Record<string, unknown> },
    outbox: { eventId: string; data: Record<string, unknown> },
    m?: EntityManager,
  ): Promise<IntegrationRow | null> {
    const text = `WITH updated AS (
         -- A new destination forgets the host key pinned at the old one (SET reads the row as it was).
         UPDATE integrations SET display_name = $5, description = $6, config_metadata = $7, parameters = $8, auth_method = $9, secrets = $10, tags = $11,
                is_internal = $12, enabled = $13, etag = $14, destination_version = $15, modified_at = now(),
                host_key = CASE WHEN destination_version = $15 THEN host_key ELSE NULL END
          WHERE tenant_id = $1 AND id = $2 AND etag = $3 AND secrets = $4::jsonb
         RETURNING ${COLUMNS}
       ), audited AS (
         INSERT INTO audit_events (tenant_id, id, actor, action, resource_type, resource_id, outcome, request_id, details)
         SELECT tenant_id, $16, $17, 'integration.updated', 'integration', id, 'success', $18, $19::jsonb FROM updated
       ), announced AS (
         INSERT INTO events (tenant_id, id, type, data)
         SELECT tenant_id, $20, 'integration.updated', $21::jsonb FROM updated
       )
       SELECT * FROM updated`;
    const values = [
      tenantId, id, expected.etag, expected.secrets,
      w.display_name, w.description, json(w.config_metadata), w.parameters, w.auth_method, w.secrets, w.tags, w.is_internal, w.enabled, w.etag, w.destination_version,
      audit.eventId, audit.actor, audit.requestId, audit.details, outbox.eventId, outbox.data,
    ];
    const rows: IntegrationRow[] = m ? await m.query(text, values) : await this.sql.query<IntegrationRow>('integrations.updateIfUnchanged', text, values);
    return rows[0] ?? null;
  }

  async delete(m: EntityManager, tenantId: string, id: string): Promise<void> {
    await m.query(`DELETE FROM integrations WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
  }

  /**
   * A check's outcome in one statement: the health columns (pinning an SSH host key on the first
   * success at the current destination), the `integration.verified` audit event, and an
   * `integration.health_changed` outbox event only when the status really changed. One round trip
   * instead of five on `:verifyConfig`. Health is not a client write, so the etag stays.
   *
   * It commits without waiting for the WAL flush (`synchronous_commit` off for this transaction
   * only): a check result is an observation that the next check re-derives, and the flush was most
   * of the endpoint's own latency. A PostgreSQL crash can lose at most the last ~0.6 s of check
   * results, never tear one (docs/reliability.md). Returns the status before, or null when the
   * integration is gone.
   */
  async recordVerification(
    tenantId: string,
    id: string,
    health: VerificationHealth,
    audit: { eventId: string; actor: string; requestId: string | null },
    outboxEventId: string,
  ): Promise<string | null> {
    const rows = await this.sql.query<{ previous: string }>(
      'integrations.recordVerification',
      `WITH previous AS (
         SELECT health_status FROM integrations WHERE tenant_id = $1 AND id = $2 FOR UPDATE
       ), updated AS (
         UPDATE integrations i SET health_status = $3, health_checked_at = $4, health_latency_ms = $5, health_last_error = $6,
                host_key = CASE WHEN $8::integer IS NULL OR i.destination_version = $8::integer THEN COALESCE(i.host_key, $7) ELSE i.host_key END
           FROM previous p WHERE i.tenant_id = $1 AND i.id = $2 RETURNING p.health_status AS previous
       ), audited AS (
         INSERT INTO audit_events (tenant_id, id, actor, action, resource_type, resource_id, outcome, request_id, details)
         VALUES ($1, $9, $10, 'integration.verified', 'integration', $2, CASE WHEN $3::text = 'healthy' THEN 'success' ELSE 'failure' END, $11,
                 jsonb_build_object('status', $3::text, 'code', $12::text))
       ), announced AS (
         INSERT INTO events (tenant_id, id, type, data)
         SELECT $1, $13, 'integration.health_changed',
                jsonb_build_object('integrationId', $2::text, 'previousStatus', previous, 'status', $3::text, 'errorCode', $12::text)
           FROM updated WHERE previous <> $3::text
       )
       SELECT previous, set_config('synchronous_commit', 'off', true) AS async_commit FROM updated`,
      [
        tenantId, id, health.status, health.checkedAt, health.latencyMs, json(health.lastError), health.hostKey ?? null, health.destinationVersion ?? null,
        audit.eventId, audit.actor, audit.requestId, health.lastError?.code ?? null, outboxEventId,
      ],
    );
    return rows[0]?.previous ?? null;
  }

  /**
   * Claims up to `limit` enabled integrations whose periodic check is due and moves their
   * next_check_at one interval ahead in the same statement: the lease and the next due time
   * in one. SKIP LOCKED lets runs on other instances claim disjoint rows meanwhile.
   */
  async claimDueForCheck(m: EntityManager, limit: number, intervalMinutes: number): Promise<{ tenant_id: string; id: string }[]> {
    const result: unknown = await m.query(
      `WITH due AS (
         SELECT tenant_id, id FROM integrations
          WHERE enabled AND (next_check_at IS NULL OR next_check_at <= now())
          ORDER BY next_check_at NULLS FIRST
          LIMIT $1
          FOR UPDATE SKIP LOCKED)
       UPDATE integrations i SET next_check_at = now() + make_interval(mins => $2)
         FROM due WHERE i.tenant_id = due.tenant_id AND i.id = due.id
       RETURNING i.tenant_id, i.id`,
      [limit, intervalMinutes],
    );
    return (Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result) as { tenant_id: string; id: string }[];
  }

  /** Gives a claimed check back (it could not run now): the next scheduler run takes it again. */
  async releaseCheckClaim(tenantId: string, id: string): Promise<void> {
    await this.dataSource.query(`UPDATE integrations SET next_check_at = now() WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
  }
}

/** jsonb parameters are sent as text: pg would otherwise turn a JS array into a PostgreSQL array. */
function json(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}
