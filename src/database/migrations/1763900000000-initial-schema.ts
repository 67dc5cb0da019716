import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every tenant-owned table leads its primary key with tenant_id, so the schema
 * can be distributed by tenant, and cascades from tenants so deleting a tenant
 * removes everything it owns. `seq` orders lists (oldest first) for keyset pagination.
 */
export class InitialSchema1763900000000 implements MigrationInterface {
  name = 'InitialSchema1763900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tenants (
        id text PRIMARY KEY,
        seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        display_name text NOT NULL,
        description text NOT NULL DEFAULT '',
        metadata jsonb NOT NULL DEFAULT '{}',
        etag text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        modified_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE tenant_data_keys (
        tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        id text NOT NULL,
        master_kid text NOT NULL,
        wrapped text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        retired_at timestamptz,
        PRIMARY KEY (tenant_id, id)
      )`);
    await q.query(`CREATE UNIQUE INDEX tenant_data_keys_one_active ON tenant_data_keys (tenant_id) WHERE retired_at IS NULL`);
    await q.query(`CREATE INDEX tenant_data_keys_master_kid ON tenant_data_keys (master_kid)`);
    await q.query(`
      CREATE TABLE audit_events (
        tenant_id text NOT NULL,
        id text NOT NULL,
        seq bigint GENERATED ALWAYS AS IDENTITY,
        at timestamptz NOT NULL DEFAULT now(),
        actor text NOT NULL,
        action text NOT NULL,
        resource_type text NOT NULL,
        resource_id text NOT NULL,
        outcome text NOT NULL,
        request_id text,
        details jsonb NOT NULL DEFAULT '{}',
        PRIMARY KEY (tenant_id, id)
      )`);
    await q.query(`CREATE INDEX audit_events_tenant_seq ON audit_events (tenant_id, seq DESC)`);
    await q.query(`
      CREATE TABLE idempotency_keys (
        scope text NOT NULL,
        caller text NOT NULL,
        key text NOT NULL,
        request_hash text NOT NULL,
        state text NOT NULL,
        response_status integer,
        response_body jsonb,
        response_etag text,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (scope, caller, key)
      )`);
    await q.query(`CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at)`);
    await q.query(`
      CREATE TABLE integrations (
        tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        id text NOT NULL,
        seq bigint GENERATED ALWAYS AS IDENTITY,
        display_name text NOT NULL,
        description text NOT NULL DEFAULT '',
        connector text NOT NULL,
        type text NOT NULL,
        config_metadata jsonb,
        parameters jsonb NOT NULL DEFAULT '{}',
        auth_method text,
        secrets jsonb NOT NULL DEFAULT '{}',
        tags text[] NOT NULL DEFAULT '{}',
        is_internal boolean NOT NULL DEFAULT false,
        enabled boolean NOT NULL DEFAULT true,
        health_status text NOT NULL DEFAULT 'unknown',
        health_checked_at timestamptz,
        health_latency_ms integer,
        health_last_error jsonb,
        host_key text,
        destination_version integer NOT NULL DEFAULT 1,
        etag text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        modified_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id)
      )`);
    await q.query(`CREATE UNIQUE INDEX integrations_tenant_seq ON integrations (tenant_id, seq)`);
    await q.query(`CREATE INDEX integrations_tags ON integrations USING gin (tags)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE integrations`);
    await q.query(`DROP TABLE idempotency_keys`);
    await q.query(`DROP TABLE audit_events`);
    await q.query(`DROP TABLE tenant_data_keys`);
    await q.query(`DROP TABLE tenants`);
  }
}
