import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { CRYPTO, type TenantCrypto } from '../common/crypto/crypto.tokens';
import { assertIfMatch, newEtag } from '../common/http/etag';
import { pageScope, PageTokens } from '../common/http/pagination';
import { Problems } from '../common/http/problem';
import type { RequestContext } from '../common/http/request-context';
import { REDACTED } from '../common/secrets/secret-fields';
import { EVENT_TYPES } from '../events/events.service';
import { TenantsService } from '../tenants/tenants.service';
import type {
  CreateWebhookEndpointDto,
  ListWebhookDeliveriesQueryDto,
  ListWebhookEndpointsQueryDto,
  UpdateWebhookEndpointDto,
  WebhookDeliveryListView,
  WebhookDeliveryView,
  WebhookEndpointListView,
  WebhookEndpointView,
} from './dto/webhook.dto';
import { newSigningSecret } from './webhook-signature';
import { WebhooksRepository, type SigningSecrets, type WebhookDeliveryRow, type WebhookEndpointRow } from './webhooks.repository';

export const WILDCARD = '*';
/** How long the secret replaced by a rotation keeps signing beside the new one. */
export const PREVIOUS_SECRET_VALID_FOR = '24 hours';
const RESOURCE_TYPE = 'webhook_endpoint';

export function newEndpointId(): string {
  return `whep_${randomBytes(12).toString('hex')}`;
}

export function newDeliveryId(): string {
  return `whdl_${randomBytes(12).toString('hex')}`;
}

/** The binding of one signing secret: the key-rotation tool re-encrypts it as `${group}.${key}` of this row. */
export function signingBinding(tenantId: string, endpointId: string, key: 'current' | 'previous') {
  return { tenantId, resourceType: RESOURCE_TYPE, resourceId: endpointId, field: `signing.${key}` };
}

/** Built field by field from non-secret columns; `secret` is the plain value only in the two replies that show it. */
export function toEndpointView(row: WebhookEndpointRow, secret: string = REDACTED): WebhookEndpointView {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    url: row.url,
    description: row.description,
    events: row.events,
    enabled: row.enabled,
    secret,
    previousSecretExpiresAt: row.previous_secret_expires_at && row.previous_secret_expires_at > new Date() ? row.previous_secret_expires_at.toISOString() : null,
    health: {
      status: row.health_status,
      consecutiveFailures: row.consecutive_failures,
      checkedAt: row.health_checked_at ? row.health_checked_at.toISOString() : null,
      lastError: row.health_last_error,
    },
    etag: row.etag,
    createdAt: row.created_at.toISOString(),
    modifiedAt: row.modified_at.toISOString(),
  };
}

export function toDeliveryView(row: WebhookDeliveryRow): WebhookDeliveryView {
  return {
    id: row.id,
    endpointId: row.endpoint_id,
    eventId: row.event_id,
    eventType: row.event_type,
    attempt: row.attempt,
    status: row.status,
    responseStatus: row.response_status,
    latencyMs: row.latency_ms,
    error: row.error,
    nextAttemptAt: row.next_attempt_at ? row.next_attempt_at.toISOString() : null,
    attemptedAt: row.attempted_at ? row.attempted_at.toISOString() : null,
    createdAt: row.created_at.toISOString(),
  };
}

@Injectable()
export class WebhooksService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly webhooks: WebhooksRepository,
    private readonly tenants: TenantsService,
    private readonly audit: AuditService,
    private readonly pageTokens: PageTokens,
    @Inject(CRYPTO) private readonly crypto: TenantCrypto,
  ) {}

  /** The reply is the only place the new secret is ever shown. */
  async create(ctx: RequestContext, tenantId: string, dto: CreateWebhookEndpointDto): Promise<WebhookEndpointView> {
    await this.tenants.assertExists(tenantId);
    const events = acceptEventTypes(dto.events);
    const id = newEndpointId();
    const secret = newSigningSecret();
    const secrets: SigningSecrets = { signing: { current: await this.crypto.encrypt(signingBinding(tenantId, id, 'current'), secret) } };
    return this.dataSource.transaction(async (m) => {
      const row = await this.webhooks.insertEndpoint(m, tenantId, id, { url: dto.url, description: dto.description ?? '', events, enabled: dto.enabled ?? true, etag: newEtag() }, secrets);
      await this.audit.record(m, { tenantId, actor: ctx.actor, action: 'webhook_endpoint.created', resourceType: RESOURCE_TYPE, resourceId: id, outcome: 'success', requestId: ctx.requestId });
      const view = toEndpointView(row, secret);
      // A replay shows the secret redacted: the replay cache never holds it.
      await ctx.idempotency?.store(m, { ...view, secret: REDACTED });
      return view;
    });
  }

  async list(tenantId: string, query: ListWebhookEndpointsQueryDto): Promise<WebhookEndpointListView> {
    await this.tenants.assertExists(tenantId);
    const scope = pageScope('webhook-endpoints', tenantId, {});
    const after = this.pageTokens.decode(scope, query.pageToken);
    const pageSize = query.pageSize ?? 50;
    const rows = await this.webhooks.listEndpointsPage(tenantId, after, pageSize + 1);
    const page = rows.slice(0, pageSize);
    return {
      webhookEndpoints: page.map((r) => toEndpointView(r)),
      nextPageToken: rows.length > pageSize ? this.pageTokens.encode(scope, page[page.length - 1].seq) : null,
    };
  }

  async get(tenantId: string, id: string): Promise<WebhookEndpointView> {
    return toEndpointView(await this.findOr404(tenantId, id));
  }

  async update(ctx: RequestContext, tenantId: string, id: string, dto: UpdateWebhookEndpointDto, ifMatch: string | undefined): Promise<WebhookEndpointView> {
    const events = dto.events === undefined ? undefined : acceptEventTypes(dto.events);
    return this.dataSource.transaction(async (m) => {
      const current = await this.webhooks.lockEndpoint(m, tenantId, id);
      if (!current) throw notFound(tenantId, id);
      assertIfMatch(ifMatch, current.etag);
      const row = await this.webhooks.updateEndpoint(m, tenantId, id, {
        url: dto.url ?? current.url,
        description: dto.description ?? current.description,
        events: events ?? current.events,
        enabled: dto.enabled ?? current.enabled,
        etag: newEtag(),
      });
      await this.audit.record(m, { tenantId, actor: ctx.actor, action: 'webhook_endpoint.updated', resourceType: RESOURCE_TYPE, resourceId: id, outcome: 'success', requestId: ctx.requestId });
      return toEndpointView(row);
    });
  }

  async remove(ctx: RequestContext, tenantId: string, id: string, ifMatch: string | undefined): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const current = await this.webhooks.lockEndpoint(m, tenantId, id);
      if (!current) throw notFound(tenantId, id);
      assertIfMatch(ifMatch, current.etag);
      await this.webhooks.deleteEndpoint(m, tenantId, id);
      await this.audit.record(m, { tenantId, actor: ctx.actor, action: 'webhook_endpoint.deleted', resourceType: RESOURCE_TYPE, resourceId: id, outcome: 'success', requestId: ctx.requestId });
    });
  }

  /**
   * A new current secret; the one it replaces keeps signing beside it for 24 h
   * (an older previous one stops at once). The reply shows the new secret once.
   */
  async rotateSecret(ctx: RequestContext, tenantId: string, id: string, ifMatch: string | undefined): Promise<WebhookEndpointView> {
    const secret = newSigningSecret();
    return this.dataSource.transaction(async (m) => {
      const current = await this.webhooks.lockEndpoint(m, tenantId, id);
      if (!current) throw notFound(tenantId, id);
      assertIfMatch(ifMatch, current.etag);
      const signing: NonNullable<SigningSecrets['signing']> = { current: await this.crypto.encrypt(signingBinding(tenantId, id, 'current'), secret) };
      const old = current.secrets.signing?.current;
      // The blob is bound to its field, so the old secret is sealed again as "previous"; it never leaves the service.
      if (old) signing.previous = await this.crypto.encrypt(signingBinding(tenantId, id, 'previous'), await this.crypto.decrypt(signingBinding(tenantId, id, 'current'), old));
      const row = await this.webhooks.replaceSecrets(m, tenantId, id, { ...current.secrets, signing }, PREVIOUS_SECRET_VALID_FOR, newEtag());
      await this.audit.record(m, { tenantId, actor: ctx.actor, action: 'webhook_endpoint.secret_rotated', resourceType: RESOURCE_TYPE, resourceId: id, outcome: 'success', requestId: ctx.requestId });
      return toEndpointView(row, secret);
    });
  }

  async listDeliveries(tenantId: string, endpointId: string, query: ListWebhookDeliveriesQueryDto): Promise<WebhookDeliveryListView> {
    await this.findOr404(tenantId, endpointId);
    const scope = pageScope('webhook-deliveries', tenantId, { endpoint: endpointId });
    const before = this.pageTokens.decode(scope, query.pageToken);
    const pageSize = query.pageSize ?? 50;
    const rows = await this.webhooks.listDeliveriesPage(tenantId, endpointId, before, pageSize + 1);
    const page = rows.slice(0, pageSize);
    return {
      deliveries: page.map(toDeliveryView),
      nextPageToken: rows.length > pageSize ? this.pageTokens.encode(scope, page[page.length - 1].seq) : null,
    };
  }

  /**
   * :retry — sends the delivery's event again whatever its earlier outcome, as
   * the next attempt, with a fresh 24 h retry window. When an attempt of that
   * event is already pending it is brought forward instead of adding a second one.
   */
  async retryDelivery(ctx: RequestContext, tenantId: string, endpointId: string, deliveryId: string): Promise<WebhookDeliveryView> {
    return this.dataSource.transaction(async (m) => {
      const endpoint = await this.webhooks.lockEndpoint(m, tenantId, endpointId);
      if (!endpoint) throw notFound(tenantId, endpointId);
      const delivery = await this.webhooks.findDelivery(m, tenantId, endpointId, deliveryId);
      if (!delivery) throw Problems.notFound(`Delivery '${deliveryId}' does not exist for webhook endpoint '${endpointId}'.`);
      const attempts = await this.webhooks.lockAttemptsOfEvent(m, tenantId, endpointId, delivery.event_id);
      const pending = attempts.find((a) => a.status === 'pending');
      let row: WebhookDeliveryRow;
      if (pending) {
        // One being sent right now (it has been attempted under a lease) is left alone.
        row = pending.attempted_at === null ? await this.webhooks.makeDueNow(m, tenantId, pending.id) : pending;
      } else {
        row = await this.webhooks.insertAttempt(
          m,
          {
            tenantId,
            id: newDeliveryId(),
            endpointId,
            eventId: delivery.event_id,
            eventType: delivery.event_type,
            payload: delivery.payload,
            attempt: Math.max(...attempts.map((a) => a.attempt)) + 1,
            firstAttemptAt: null,
          },
          'now',
        );
      }
      await this.audit.record(m, {
        tenantId,
        actor: ctx.actor,
        action: 'webhook_endpoint.delivery_retried',
        resourceType: RESOURCE_TYPE,
        resourceId: endpointId,
        outcome: 'success',
        requestId: ctx.requestId,
        details: { deliveryId, eventId: delivery.event_id, attemptId: row.id },
      });
      return toDeliveryView(row);
    });
  }

  private async findOr404(tenantId: string, id: string): Promise<WebhookEndpointRow> {
    const row = await this.webhooks.findEndpoint(tenantId, id);
    if (!row) throw notFound(tenantId, id);
    return row;
  }
}

/** Known event types, or "*" alone; duplicates collapse. Unknown types are 422 (the request is well-formed). */
function acceptEventTypes(events: string[]): string[] {
  const unique = [...new Set(events)];
  if (unique.includes(WILDCARD)) {
    if (unique.length > 1) throw Problems.unprocessable('"*" subscribes to every event type and cannot be combined with others.', [{ field: 'events', message: '"*" must be the only entry' }]);
    return unique;
  }
  const known = new Set<string>(EVENT_TYPES);
  const unknown = unique.map((type, index) => ({ type, index })).filter(({ type }) => !known.has(type));
  if (unknown.length > 0) {
    throw Problems.unprocessable(
      `Unknown event type${unknown.length === 1 ? '' : 's'}; known types are ${EVENT_TYPES.join(', ')} (or "*").`,
      unknown.map(({ index }) => ({ field: `events[${events.indexOf(unique[index])}]`, message: 'is not a known event type' })),
    );
  }
  return unique;
}

function notFound(tenantId: string, id: string) {
  return Problems.notFound(`Webhook endpoint '${id}' does not exist in tenant '${tenantId}'.`);
}
