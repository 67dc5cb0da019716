import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { newEventId } from '../events/events.service';

export type AuditOutcome = 'success' | 'failure';

export interface AuditEventInput {
  tenantId: string;
  actor: string;
  action: string;
  resourceType: string;
  resourceId: string;
  outcome: AuditOutcome;
  requestId: string | null;
  /** Non-secret facts only (error codes, states); never a credential. */
  details?: Record<string, unknown>;
}

export interface AuditEventView {
  id: string;
  at: string;
  actor: string;
  action: string;
  resourceType: string;
  resourceId: string;
  outcome: AuditOutcome;
  requestId: string | null;
  details: Record<string, unknown>;
}

interface AuditRow {
  id: string;
  seq: string;
  at: Date;
  actor: string;
  action: string;
  resource_type: string;
  resource_id: string;
  outcome: AuditOutcome;
  request_id: string | null;
  details: Record<string, unknown>;
}

/** The audit log: written in the caller's transaction, so a change and its event commit together. */
@Injectable()
export class AuditService {
  constructor(private readonly dataSource: DataSource) {}

  async record(manager: EntityManager, event: AuditEventInput): Promise<void> {
    await manager.query(
      `INSERT INTO audit_events (tenant_id, id, actor, action, resource_type, resource_id, outcome, request_id, details)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [event.tenantId, newEventId(), event.actor, event.action, event.resourceType, event.resourceId, event.outcome, event.requestId, event.details ?? {}],
    );
  }

  /** Newest first. `beforeSeq` continues after the previous page. */
  async listPage(tenantId: string, beforeSeq: string | null, limit: number): Promise<{ items: AuditEventView[]; lastSeq: string | null; more: boolean }> {
    const rows: AuditRow[] = await this.dataSource.query(
      `SELECT id, seq, at, actor, action, resource_type, resource_id, outcome, request_id, details
         FROM audit_events WHERE tenant_id = $1 AND ($2::bigint IS NULL OR seq < $2::bigint)
        ORDER BY seq DESC LIMIT $3`,
      [tenantId, beforeSeq, limit + 1],
    );
    const more = rows.length > limit;
    const page = rows.slice(0, limit);
    return {
      items: page.map((r) => ({
        id: r.id,
        at: r.at.toISOString(),
        actor: r.actor,
        action: r.action,
        resourceType: r.resource_type,
        resourceId: r.resource_id,
        outcome: r.outcome,
        requestId: r.request_id,
        details: r.details,
      })),
      lastSeq: page.length ? String(page[page.length - 1].seq) : null,
      more,
    };
  }
}
