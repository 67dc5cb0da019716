import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { EventsService } from '../events/events.service';
import { ConnectionsRepository, type HealthWrite } from './connections.repository';

/** Stores a connection's health and tells webhooks when its status really changed, in the caller's transaction. */
@Injectable()
export class ConnectionHealth {
  constructor(
    private readonly connections: ConnectionsRepository,
    private readonly events: EventsService,
  ) {}

  async record(m: EntityManager, ref: { tenantId: string; connectionId: string; integrationId: string }, health: HealthWrite): Promise<void> {
    const previous = await this.connections.recordHealth(m, ref.tenantId, ref.connectionId, health);
    if (previous !== null && previous !== health.status) {
      await this.events.emit(m, ref.tenantId, 'connection.health_changed', {
        connectionId: ref.connectionId,
        integrationId: ref.integrationId,
        previousStatus: previous,
        status: health.status,
        errorCode: health.lastError?.code ?? null,
      });
    }
  }
}
