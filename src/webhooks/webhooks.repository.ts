import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { DeliveryStatus } from './dto/webhook.dto';

/** Encrypted signing secrets, as the key-rotation tool walks them: group "signing", keys "current" and "previous". */
export interface SigningSecrets {
  signing?: { current?: string; previous?: string };
}

export interface WebhookEndpointRow {
  tenant_id: string;
  id: string;
  seq: string;
  url: string;
  description: string;
  events: string[];
  enabled: boolean;
  secrets: SigningSecrets;
  previous_secret_expires_at: Date | null;
  health_status: 'unknown' | 'healthy' | 'unhealthy';
  consecutive_failures: number;
  health_checked_at: Date | null;
  health_last_error: { code: string; message: string } | null;
  etag: string;
  created_at: Date;
  modified_at: Date;
}

export type EndpointWrite = Pick<WebhookEndpointRow, 'url' | 'description' | 'events' | 'enabled' | 'etag'>;

/** What a receiver gets as the body. */
export interface WebhookPayload {
  id: string;
  type: string;
  tenantId: string;
  occurredAt: string;
  data: Record<string, unknown>;
}

/** One attempt to deliver one event to one endpoint. */
export interface WebhookDeliveryRow {
  tenant_id: string;
  id: string;
  seq: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  payload: WebhookPayload;
  attempt: number;
  status: DeliveryStatus;
  response_status: number | null;
  latency_ms: number | null;
  error: { code: string; message: string } | null;
  next_attempt_at: Date | null;
  first_attempt_at: Date | null;
  attempted_at: Date | null;
  created_at: Date;
}

export interface NewAttempt {
  tenantId: string;
  id: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  payload: WebhookPayload;
  attempt: number;
  /** Start of the retry window; null until the first attempt of the chain is made. */
  firstAttemptAt: Date | null;
}

/** A pending attempt this instance has leased, with what sending it needs. */
export interface ClaimedAttempt {
  tenant_id: string;
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  payload: WebhookPayload;
  attempt: number;
  first_attempt_at: Date;
  /** The lease: next_attempt_at as set by the claim; finishing requires it unchanged. */
  lease_until: Date;
  url: string;
  secrets: SigningSecrets;
  /** The previous secret still signs (within 24 h of the rotation that replaced it), by the database clock. */
  previous_active: boolean;
}

export interface AttemptResult {
  status: Exclude<DeliveryStatus, 'pending'>;
  responseStatus: number | null;
  latencyMs: number;
  error: { code: string; message: string } | null;
  /** Wait before the next attempt; null when none should follow. */
  retryInMs: number | null;
}

export interface PendingEvent {
  tenant_id: string;
  id: string;
  type: string;
  occurred_at: Date;
  data: Record<string, unknown>;
}

const ENDPOINT_COLUMNS = `tenant_id, id, seq, url, description, events, enabled, secrets, previous_secret_expires_at, health_status,
  consecutive_failures, health_checked_at, health_last_error, etag, created_at, modified_at`;
const DELIVERY_COLUMNS = `tenant_id, id, seq, endpoint_id, event_id, event_type, payload, attempt, status, response_status, latency_ms, error,
  next_attempt_at, first_attempt_at, attempted_at, created_at`;
/** No attempt is scheduled later than this after the first attempt of a chain. */
export const RETRY_WINDOW = `interval '24 hours'`;

@Injectable()
export class WebhooksRepository {
  constructor(private readonly dataSource: DataSource) {}

  // Endpoints

  async insertEndpoint(m: EntityManager, tenantId: string, id: string, w: EndpointWrite, secrets: SigningSecrets): Promise<WebhookEndpointRow> {
    const [row]: WebhookEndpointRow[] = await m.query(
      `INSERT INTO webhook_endpoints (tenant_id, id, url, description, events, enabled, secrets, etag)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${ENDPOINT_COLUMNS}`,
      [tenantId, id, w.url, w.description, w.events, w.enabled, JSON.stringify(secrets), w.etag],
    );
    return row;
  }

  async findEndpoint(tenantId: string, id: string): Promise<WebhookEndpointRow | null> {
    const [row]: WebhookEndpointRow[] = await this.dataSource.query(`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
    return row ?? null;
  }

  async lockEndpoint(m: EntityManager, tenantId: string, id: string): Promise<WebhookEndpointRow | null> {
    const [row]: WebhookEndpointRow[] = await m.query(`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, [tenantId, id]);
    return row ?? null;
  }

  async listEndpointsPage(tenantId: string, afterSeq: string | null, limit: number): Promise<WebhookEndpointRow[]> {
    return this.dataSource.query(
      `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND ($2::bigint IS NULL OR seq > $2::bigint) ORDER BY seq LIMIT $3`,
      [tenantId, afterSeq, limit],
    );
  }

  async updateEndpoint(m: EntityManager, tenantId: string, id: string, w: EndpointWrite): Promise<WebhookEndpointRow> {
    const [rows]: [WebhookEndpointRow[]] = await m.query(
      `UPDATE webhook_endpoints SET url = $3, description = $4, events = $5, enabled = $6, etag = $7, modified_at = now()
        WHERE tenant_id = $1 AND id = $2 RETURNING ${ENDPOINT_COLUMNS}`,
      [tenantId, id, w.url, w.description, w.events, w.enabled, w.etag],
    );
    return rows[0];
  }

  /** Stores rotated secrets; the previous one signs until `previousExpiresAt`. */
  async replaceSecrets(m: EntityManager, tenantId: string, id: string, secrets: SigningSecrets, previousValidFor: string, etag: string): Promise<WebhookEndpointRow> {
    const [rows]: [WebhookEndpointRow[]] = await m.query(
      `UPDATE webhook_endpoints SET secrets = $3, previous_secret_expires_at = now() + $4::interval, etag = $5, modified_at = now()
        WHERE tenant_id = $1 AND id = $2 RETURNING ${ENDPOINT_COLUMNS}`,
      [tenantId, id, JSON.stringify(secrets), previousValidFor, etag],
    );
    return rows[0];
  }

  async deleteEndpoint(m: EntityManager, tenantId: string, id: string): Promise<void> {
    await m.query(`DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
  }

  /** Health is not a client write, so the etag stays. Five failed attempts in a row make the endpoint unhealthy. */
  async recordEndpointOutcome(m: EntityManager, tenantId: string, id: string, succeeded: boolean, error: { code: string; message: string } | null): Promise<void> {
    await m.query(
      `UPDATE webhook_endpoints
          SET consecutive_failures = CASE WHEN $3 THEN 0 ELSE consecutive_failures + 1 END,
              health_status = CASE WHEN $3 THEN 'healthy' WHEN consecutive_failures + 1 >= 5 THEN 'unhealthy' ELSE health_status END,
              health_checked_at = now(),
              health_last_error = CASE WHEN $3 THEN NULL ELSE $4::jsonb END
        WHERE tenant_id = $1 AND id = $2`,
      [tenantId, id, succeeded, error === null ? null : JSON.stringify(error)],
    );
  }

  // Deliveries, as clients see them

  /** Newest first. */
  async listDeliveriesPage(tenantId: string, endpointId: string, beforeSeq: string | null, limit: number): Promise<WebhookDeliveryRow[]> {
    return this.dataSource.query(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries
        WHERE tenant_id = $1 AND endpoint_id = $2 AND ($3::bigint IS NULL OR seq < $3::bigint)
        ORDER BY seq DESC LIMIT $4`,
      [tenantId, endpointId, beforeSeq, limit],
    );
  }

  async findDelivery(m: EntityManager, tenantId: string, endpointId: string, id: string): Promise<WebhookDeliveryRow | null> {
    const [row]: WebhookDeliveryRow[] = await m.query(`SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3`, [tenantId, endpointId, id]);
    return row ?? null;
  }

  /** The attempts of one event to one endpoint, newest first, locked: at most one of them is pending. */
  async lockAttemptsOfEvent(m: EntityManager, tenantId: string, endpointId: string, eventId: string): Promise<WebhookDeliveryRow[]> {
    return m.query(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2 AND event_id = $3 ORDER BY attempt DESC, seq DESC FOR UPDATE`,
      [tenantId, endpointId, eventId],
    );
  }

  /** Brings a scheduled (not yet sent) pending attempt forward to now. */
  async makeDueNow(m: EntityManager, tenantId: string, id: string): Promise<WebhookDeliveryRow> {
    const [rows]: [WebhookDeliveryRow[]] = await m.query(
      `UPDATE webhook_deliveries SET next_attempt_at = now() WHERE tenant_id = $1 AND id = $2 RETURNING ${DELIVERY_COLUMNS}`,
      [tenantId, id],
    );
    return rows[0];
  }

  async insertAttempt(m: EntityManager, a: NewAttempt, dueAt: Date | 'now'): Promise<WebhookDeliveryRow> {
    const [row]: WebhookDeliveryRow[] = await m.query(
      `INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id, event_type, payload, attempt, status, next_attempt_at, first_attempt_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', COALESCE($8::timestamptz, now()), $9) RETURNING ${DELIVERY_COLUMNS}`,
      [a.tenantId, a.id, a.endpointId, a.eventId, a.eventType, JSON.stringify(a.payload), a.attempt, dueAt === 'now' ? null : dueAt, a.firstAttemptAt],
    );
    return row;
  }

  // The dispatcher's queue

  /** Events not fanned out yet, oldest first, locked so that no other instance takes them meanwhile. */
  async claimEvents(m: EntityManager, limit: number): Promise<PendingEvent[]> {
    return m.query(
      `SELECT tenant_id, id, type, occurred_at, data FROM events WHERE NOT fanned_out ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [limit],
    );
  }

  /** Enabled endpoints of these tenants; an endpoint receives only events that occurred after it was created. */
  async enabledEndpoints(m: EntityManager, tenantIds: string[]): Promise<Pick<WebhookEndpointRow, 'tenant_id' | 'id' | 'events' | 'created_at'>[]> {
    return m.query(`SELECT tenant_id, id, events, created_at FROM webhook_endpoints WHERE tenant_id = ANY($1::text[]) AND enabled`, [tenantIds]);
  }

  async insertFirstAttempts(m: EntityManager, attempts: NewAttempt[]): Promise<void> {
    if (attempts.length === 0) return;
    await m.query(
      `INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id, event_type, payload, attempt, status, next_attempt_at)
       SELECT t.tenant_id, t.id, t.endpoint_id, t.event_id, t.event_type, t.payload, 1, 'pending', now()
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[]) AS t(tenant_id, id, endpoint_id, event_id, event_type, payload)`,
      [
        attempts.map((a) => a.tenantId),
        attempts.map((a) => a.id),
        attempts.map((a) => a.endpointId),
        attempts.map((a) => a.eventId),
        attempts.map((a) => a.eventType),
        attempts.map((a) => JSON.stringify(a.payload)),
      ],
    );
  }

  async markFannedOut(m: EntityManager, events: Pick<PendingEvent, 'tenant_id' | 'id'>[]): Promise<void> {
    await m.query(
      `UPDATE events e SET fanned_out = true FROM unnest($1::text[], $2::text[]) AS t(tenant_id, id) WHERE e.tenant_id = t.tenant_id AND e.id = t.id`,
      [events.map((e) => e.tenant_id), events.map((e) => e.id)],
    );
  }

  /**
   * Leases due attempts of enabled endpoints: next_attempt_at moves `leaseMs`
   * ahead, so no other instance takes them, and an instance that dies while
   * sending has its attempts taken over once the lease runs out.
   */
  async claimDueAttempts(limit: number, leaseMs: number): Promise<ClaimedAttempt[]> {
    const [rows]: [ClaimedAttempt[]] = await this.dataSource.query(
      `UPDATE webhook_deliveries d
          SET next_attempt_at = date_trunc('milliseconds', now()) + $2 * interval '1 millisecond',
              attempted_at = now(),
              first_attempt_at = COALESCE(d.first_attempt_at, now())
         FROM webhook_endpoints e
        WHERE (d.tenant_id, d.id) IN (
                SELECT q.tenant_id, q.id FROM webhook_deliveries q
                  JOIN webhook_endpoints qe ON qe.tenant_id = q.tenant_id AND qe.id = q.endpoint_id
                 WHERE q.status = 'pending' AND q.next_attempt_at <= now() AND qe.enabled
                 ORDER BY q.next_attempt_at
                 LIMIT $1
                   FOR UPDATE OF q SKIP LOCKED)
          AND e.tenant_id = d.tenant_id AND e.id = d.endpoint_id
      RETURNING d.tenant_id, d.id, d.endpoint_id, d.event_id, d.event_type, d.payload, d.attempt, d.first_attempt_at,
                d.next_attempt_at AS lease_until, e.url, e.secrets,
                COALESCE(e.previous_secret_expires_at > now(), false) AS previous_active`,
      [limit, leaseMs],
    );
    return rows;
  }

  /**
   * Records an attempt's outcome if this instance still holds its lease, and
   * schedules the next attempt when one should follow within the retry window.
   * Returns the next attempt's due time (null: none), or undefined when the lease was lost.
   */
  async finishAttempt(m: EntityManager, claim: ClaimedAttempt, result: AttemptResult): Promise<Date | null | undefined> {
    const [rows]: [{ next_attempt_at: Date | null }[]] = await m.query(
      `UPDATE webhook_deliveries
          SET status = $4, response_status = $5, latency_ms = $6, error = $7::jsonb,
              next_attempt_at = CASE WHEN $8::double precision IS NOT NULL
                                      AND now() + $8 * interval '1 millisecond' <= first_attempt_at + ${RETRY_WINDOW}
                                     THEN now() + $8 * interval '1 millisecond' END
        WHERE tenant_id = $1 AND id = $2 AND status = 'pending' AND next_attempt_at = $3
      RETURNING next_attempt_at`,
      [claim.tenant_id, claim.id, claim.lease_until, result.status, result.responseStatus, result.latencyMs, result.error === null ? null : JSON.stringify(result.error), result.retryInMs],
    );
    if (rows.length === 0) return undefined;
    return rows[0].next_attempt_at;
  }
}
