import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Connections, OAuth2 states, the event outbox and webhook delivery. */
export class ConnectionsEventsWebhooks1763900000001 implements MigrationInterface {
  name = 'ConnectionsEventsWebhooks1763900000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE connections (
        tenant_id text NOT NULL,
        id text NOT NULL,
        integration_id text NOT NULL,
        seq bigint GENERATED ALWAYS AS IDENTITY,
        owner_id text NOT NULL,
        name text NOT NULL,
        description text NOT NULL DEFAULT '',
        access_scope text NOT NULL,
        is_shared_service_account boolean NOT NULL DEFAULT false,
        integration_version text,
        auth_method text,
        parameters jsonb NOT NULL DEFAULT '{}',
        secrets jsonb NOT NULL DEFAULT '{}',
        servers jsonb NOT NULL DEFAULT '[]',
        metadata jsonb NOT NULL DEFAULT '{}',
        enabled boolean NOT NULL DEFAULT true,
        health_status text NOT NULL DEFAULT 'unknown',
        health_checked_at timestamptz,
        health_latency_ms integer,
        health_last_error jsonb,
        host_key text,
        integration_destination_version integer NOT NULL DEFAULT 1,
        credentials_version integer NOT NULL DEFAULT 0,
        token_expires_at timestamptz,
        refresh_failures integer NOT NULL DEFAULT 0,
        next_refresh_at timestamptz,
        next_check_at timestamptz,
        etag text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        modified_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id),
        FOREIGN KEY (tenant_id, integration_id) REFERENCES integrations (tenant_id, id) ON DELETE CASCADE
      )`);
    await q.query(`CREATE UNIQUE INDEX connections_tenant_seq ON connections (tenant_id, seq)`);
    await q.query(`CREATE INDEX connections_integration ON connections (tenant_id, integration_id)`);
    await q.query(`CREATE INDEX connections_next_refresh ON connections (next_refresh_at) WHERE next_refresh_at IS NOT NULL`);
    await q.query(`CREATE INDEX connections_next_check ON connections (next_check_at) WHERE next_check_at IS NOT NULL`);
    await q.query(`
      CREATE TABLE oauth2_states (
        state_hash text PRIMARY KEY,
        tenant_id text NOT NULL,
        connection_id text NOT NULL,
        user_id text NOT NULL,
        code_verifier text NOT NULL,
        redirect_uri text NOT NULL,
        expires_at timestamptz NOT NULL,
        used_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        FOREIGN KEY (tenant_id, connection_id) REFERENCES connections (tenant_id, id) ON DELETE CASCADE
      )`);
    await q.query(`
      CREATE TABLE events (
        tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        id text NOT NULL,
        seq bigint GENERATED ALWAYS AS IDENTITY,
        type text NOT NULL,
        occurred_at timestamptz NOT NULL DEFAULT now(),
        data jsonb NOT NULL,
        fanned_out boolean NOT NULL DEFAULT false,
        PRIMARY KEY (tenant_id, id)
      )`);
    await q.query(`CREATE INDEX events_pending ON events (seq) WHERE NOT fanned_out`);
    await q.query(`
      CREATE TABLE webhook_endpoints (
        tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        id text NOT NULL,
        seq bigint GENERATED ALWAYS AS IDENTITY,
        url text NOT NULL,
        description text NOT NULL DEFAULT '',
        events text[] NOT NULL,
        enabled boolean NOT NULL DEFAULT true,
        secrets jsonb NOT NULL DEFAULT '{}',
        previous_secret_expires_at timestamptz,
        health_status text NOT NULL DEFAULT 'unknown',
        consecutive_failures integer NOT NULL DEFAULT 0,
        health_checked_at timestamptz,
        health_last_error jsonb,
        etag text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        modified_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id)
      )`);
    await q.query(`CREATE UNIQUE INDEX webhook_endpoints_tenant_seq ON webhook_endpoints (tenant_id, seq)`);
    await q.query(`
      CREATE TABLE webhook_deliveries (
        tenant_id text NOT NULL,
        id text NOT NULL,
        seq bigint GENERATED ALWAYS AS IDENTITY,
        endpoint_id text NOT NULL,
        event_id text NOT NULL,
        event_type text NOT NULL,
        payload jsonb NOT NULL,
        attempt integer NOT NULL DEFAULT 0,
        status text NOT NULL DEFAULT 'pending',
        response_status integer,
        latency_ms integer,
        error jsonb,
        next_attempt_at timestamptz,
        first_attempt_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id),
        FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (tenant_id, endpoint_id, seq DESC)`);
    await q.query(`CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE webhook_deliveries`);
    await q.query(`DROP TABLE webhook_endpoints`);
    await q.query(`DROP TABLE events`);
    await q.query(`DROP TABLE oauth2_states`);
    await q.query(`DROP TABLE connections`);
  }
}
