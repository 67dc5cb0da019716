import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

export type EventType =
  | 'integration.created'
  | 'integration.updated'
  | 'integration.deleted'
  | 'integration.health_changed'
  | 'connection.created'
  | 'connection.updated'
  | 'connection.deleted'
  | 'connection.health_changed'
  | 'connection.authorization_completed'
  | 'connection.token_refresh_failed'
  | 'key.rotated';

export const EVENT_TYPES: readonly EventType[] = [
  'integration.created',
  'integration.updated',
  'integration.deleted',
  'integration.health_changed',
  'connection.created',
  'connection.updated',
  'connection.deleted',
  'connection.health_changed',
  'connection.authorization_completed',
  'connection.token_refresh_failed',
  'key.rotated',
];

export function newEventId(): string {
  return `evt_${randomBytes(12).toString('hex')}`;
}

/**
 * The outbox: an event is written in the same transaction as the change that
 * caused it, so it exists if and only if the change committed. Webhook delivery
 * reads it from there. Data holds ids, states and error codes, never a secret.
 */
@Injectable()
export class EventsService {
  async emit(m: EntityManager, tenantId: string, type: EventType, data: Record<string, unknown>): Promise<void> {
    await m.query(`INSERT INTO events (tenant_id, id, type, data) VALUES ($1, $2, $3, $4)`, [tenantId, newEventId(), type, data]);
  }
}
