import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { hasAtLeast, roleIn, type Principal } from '../common/auth/principal';
import { assertIfMatch, newEtag } from '../common/http/etag';
import { mergePatch, sameJson } from '../common/http/merge-patch';
import { pageScope, PageTokens } from '../common/http/pagination';
import { dedupeFieldErrors, Problems, type FieldError } from '../common/http/problem';
import type { RequestContext } from '../common/http/request-context';
import { hasAnySecret, mergedPreview, mergeSecretGroup, redactKeys, REDACTED, stripRedacted, type SecretGroups } from '../common/secrets/secret-fields';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { findConnector } from '../connectors/catalog';
import type { AuthMetadata, ConfigMetadata, ConnectorDefinition, ParameterMetadata } from '../connectors/connector.types';
import { params } from '../connectors/metadata-builders';
import { validateParameters } from '../connectors/parameter-validation';
import { EventsService } from '../events/events.service';
import { effectiveMetadata, resolveAuth, splitParameters, validateMergedValues } from '../integrations/integration-config';
import { IntegrationsRepository, type IntegrationRow } from '../integrations/integrations.repository';
import { destinationParameters, IntegrationsService } from '../integrations/integrations.service';
import { isAuthorizationCode, OAuth2Service } from '../oauth2/oauth2.service';
import { TokenRefresher } from '../oauth2/token-refresher.service';
import { TenantsService } from '../tenants/tenants.service';
import { CheckRunner, type CheckResult } from '../verification/check-runner.service';
import { ConnectionHealth } from './connection-health';
import { ConnectionSecrets } from './connection-secrets';
import { ConnectionsRepository, type ConnectionRow, type ServerEntry } from './connections.repository';
import type {
  AccessScope,
  AuthorizationView,
  ConnectionCreatedView,
  ConnectionListView,
  ConnectionView,
  CreateConnectionDto,
  ListConnectionsQueryDto,
  ServerDto,
  UpdateConnectionDto,
} from './dto/connection.dto';

/** What an authorization-code connection holds: tokens, never the client secret (that stays on the integration). */
const TOKEN_FIELDS: ParameterMetadata[] = params(
  { name: 'accessToken', type: 'String', displayName: 'Access token', secret: true },
  { name: 'refreshToken', type: 'String', displayName: 'Refresh token', secret: true },
  { name: 'expiresAt', type: 'String', displayName: 'Access token expiry (ISO-8601)', secret: true },
);

/** The authorization server of an authorization-code connection is the integration's: its client secret goes nowhere else. */
const OAUTH2_ENDPOINT_PARAMETERS = ['tokenUrl', 'authorizationUrl'];

export const DESTINATION_CHANGED_MESSAGE = 'destination changed; send the credentials again';

export function newConnectionId(): string {
  return `conn_${randomBytes(12).toString('hex')}`;
}

export function toConnectionView(row: ConnectionRow): ConnectionView {
  return {
    id: row.id,
    object: 'connection',
    tenantId: row.tenant_id,
    integrationId: row.integration_id,
    ownerId: row.owner_id,
    name: row.name,
    description: row.description,
    accessScope: row.access_scope,
    isSharedServiceAccount: row.is_shared_service_account,
    integrationVersion: row.integration_version ?? 'latest',
    authMethod: row.auth_method,
    credentials: redactKeys(row.secrets.credentials),
    headers: redactKeys(row.secrets.headers),
    parameters: { ...row.parameters, ...redactKeys(row.secrets.parameters) },
    servers: row.servers.map((s) => ({ url: s.url, description: s.description })),
    metadata: row.metadata,
    enabled: row.enabled,
    health: {
      status: row.health_status,
      checkedAt: row.health_checked_at ? row.health_checked_at.toISOString() : null,
      latencyMs: row.health_latency_ms,
      lastError: row.health_last_error,
    },
    etag: row.etag,
    createdAt: row.created_at.toISOString(),
    modifiedAt: row.modified_at.toISOString(),
  };
}

/** A personal connection exists only for its owner; an organizational one for every member. */
function canSee(principal: Principal, tenantId: string, row: ConnectionRow): boolean {
  if (row.access_scope === 'personal') return row.owner_id === principal.sub;
  return roleIn(principal, tenantId) !== null;
}

@Injectable()
export class ConnectionsService {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly connections: ConnectionsRepository,
    private readonly secrets: ConnectionSecrets,
    private readonly health: ConnectionHealth,
    private readonly integrations: IntegrationsService,
    private readonly integrationRows: IntegrationsRepository,
    private readonly tenants: TenantsService,
    private readonly audit: AuditService,
    private readonly events: EventsService,
    private readonly pageTokens: PageTokens,
    private readonly checks: CheckRunner,
    private readonly oauth2: OAuth2Service,
    private readonly refresher: TokenRefresher,
  ) {}

  async create(ctx: RequestContext, tenantId: string, integrationId: string, dto: CreateConnectionDto): Promise<ConnectionCreatedView> {
    await this.tenants.assertExists(tenantId);
    const accessScope: AccessScope = dto.accessScope ?? 'personal';
    if (accessScope === 'organizational' && !hasAtLeast(roleIn(ctx.principal, tenantId), 'editor')) {
      throw Problems.forbidden('Creating an organizational connection needs the editor role.');
    }
    if (dto.isSharedServiceAccount && accessScope !== 'organizational') {
      throw Problems.unprocessable('Only an organizational connection can be a shared service account.', [{ field: 'isSharedServiceAccount', message: 'requires accessScope organizational' }]);
    }
    const id = newConnectionId();
    return this.dataSource.transaction(async (m) => {
      // The integration row lock serialises creates on it, so the count below cannot be raced past the limit.
      const integration = await this.integrationRows.lockById(m, tenantId, integrationId);
      if (!integration) throw Problems.notFound(`Integration '${integrationId}' does not exist in tenant '${tenantId}'.`);
      const count = await this.connections.countForIntegration(m, tenantId, integrationId);
      if (count >= this.config.maxConnectionsPerIntegration) {
        throw Problems.conflict(`Integration '${integrationId}' already has the maximum of ${this.config.maxConnectionsPerIntegration} connections.`, 'connection-limit-reached');
      }
      const { metadata } = this.metadataOf(integration);
      const auth = resolveAuth(metadata, dto.authMethod, 'USER');
      const pinned = this.checkIntegrationVersion(integration, dto.integrationVersion);
      const credentials = dto.credentials ?? {};

      const errors: FieldError[] = validateParameters(metadata.parametersMetadata, dto.parameters ?? {}, { fieldPrefix: 'parameters', requireRequired: false });
      errors.push(...this.credentialErrors(auth, stripRedacted(credentials), Object.keys(stripRedacted(credentials)), true));
      errors.push(...oauth2EndpointErrors(auth, dto.parameters ?? {}, this.integrationParameters(integration, metadata)));
      if (errors.length) throw Problems.unprocessable('Some values do not fit this integration\'s configMetadata.', dedupeFieldErrors(errors));

      const { plain, secret } = splitParameters(metadata.parametersMetadata, dto.parameters ?? {});
      const secrets: SecretGroups = {
        credentials: await this.secrets.encryptGroup(tenantId, id, 'credentials', credentials),
        headers: await this.secrets.encryptGroup(tenantId, id, 'headers', dto.headers ?? {}),
        parameters: await this.secrets.encryptGroup(tenantId, id, 'parameters', secret),
      };
      const row = await this.connections.insert(m, tenantId, id, integrationId, ctx.actor, {
        name: dto.name,
        description: dto.description ?? '',
        access_scope: accessScope,
        is_shared_service_account: dto.isSharedServiceAccount ?? false,
        integration_version: pinned,
        auth_method: auth?.id ?? null,
        parameters: withoutNulls(plain),
        secrets,
        servers: toServers(dto.servers ?? []),
        metadata: withoutNulls(dto.metadata ?? {}),
        enabled: dto.enabled ?? true,
        integration_destination_version: integration.destination_version,
        token_expires_at: isAuthorizationCode(auth) ? expiryOf(credentials.expiresAt) : null,
        etag: newEtag(),
      });
      await this.audit.record(m, { tenantId, actor: ctx.actor, action: 'connection.created', resourceType: 'connection', resourceId: id, outcome: 'success', requestId: ctx.requestId, details: { integrationId, accessScope } });
      await this.events.emit(m, tenantId, 'connection.created', { connectionId: id, integrationId, accessScope });

      let view: ConnectionCreatedView = toConnectionView(row);
      if (isAuthorizationCode(auth) && typeof credentials.accessToken !== 'string') {
        const start = await this.oauth2.startAuthorization(m, integration, row, ctx.actor);
        view = { ...view, oauth2Required: true, authorizationUrl: start.authorizationUrl };
      }
      await ctx.idempotency?.store(m, view);
      return view;
    });
  }

  async list(ctx: RequestContext, tenantId: string, query: ListConnectionsQueryDto): Promise<ConnectionListView> {
    await this.tenants.assertExists(tenantId);
    const filters = { integrationId: query.integration, accessScope: query.accessScope };
    // The caller is part of the scope: what a page holds depends on whose personal connections it may show.
    const scope = pageScope('connections', tenantId, { ...filters, viewer: ctx.principal.sub });
    const after = this.pageTokens.decode(scope, query.pageToken);
    const pageSize = query.pageSize ?? 50;
    const rows = await this.connections.listVisiblePage(tenantId, ctx.principal.sub, filters, after, pageSize + 1);
    const page = rows.slice(0, pageSize);
    return {
      connections: page.map(toConnectionView),
      nextPageToken: rows.length > pageSize ? this.pageTokens.encode(scope, page[page.length - 1].seq) : null,
    };
  }

  async get(ctx: RequestContext, tenantId: string, id: string): Promise<ConnectionView> {
    return toConnectionView(await this.findVisibleOr404(ctx.principal, tenantId, id));
  }

  async update(ctx: RequestContext, tenantId: string, id: string, dto: UpdateConnectionDto, ifMatch: string | undefined): Promise<ConnectionView> {
    return this.dataSource.transaction(async (m) => {
      const current = await this.connections.lockById(m, tenantId, id);
      if (!current || !canSee(ctx.principal, tenantId, current)) throw notFound(tenantId, id);
      this.assertCanChange(ctx.principal, tenantId, current);
      assertIfMatch(ifMatch, current.etag);
      const integration = await this.integrationRows.findById(tenantId, current.integration_id);
      if (!integration) throw notFound(tenantId, id);
      const { metadata, connector } = this.metadataOf(integration);

      const accessScope = dto.accessScope ?? current.access_scope;
      if (accessScope !== current.access_scope) {
        if (accessScope === 'organizational' && !hasAtLeast(roleIn(ctx.principal, tenantId), 'editor')) {
          throw Problems.forbidden('Making a connection organizational needs the editor role.');
        }
        if (accessScope === 'personal' && current.owner_id !== ctx.principal.sub) {
          throw Problems.forbidden('Only its owner can make a connection personal.');
        }
      }
      const isShared = dto.isSharedServiceAccount ?? (accessScope === 'organizational' ? current.is_shared_service_account : false);
      if (isShared && accessScope !== 'organizational') {
        throw Problems.unprocessable('Only an organizational connection can be a shared service account.', [{ field: 'isSharedServiceAccount', message: 'requires accessScope organizational' }]);
      }
      const pinned = dto.integrationVersion !== undefined ? this.checkIntegrationVersion(integration, dto.integrationVersion) : current.integration_version;
      const authMethod = dto.authMethod ?? current.auth_method;
      const auth = resolveAuth(metadata, authMethod, 'USER');

      // Parameters: plain ones merge per key; secret ones follow the secret merge rules.
      const secretNames = new Set(metadata.parametersMetadata.filter((p) => p.secret).map((p) => p.name));
      const plainPatch: Record<string, unknown> = {};
      const secretPatch: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(dto.parameters ?? {})) Object.defineProperty(secretNames.has(k) ? secretPatch : plainPatch, k, { value: v, enumerable: true, writable: true, configurable: true });
      const plainParameters = mergePatch(current.parameters, plainPatch);
      for (const name of secretNames) delete plainParameters[name];

      const errors: FieldError[] = [];
      errors.push(...validateParameters(metadata.parametersMetadata.filter((p) => !p.secret), withoutNulls(plainPatch), { fieldPrefix: 'parameters', requireRequired: false }));
      const secretParamPreview = mergedPreview(Object.keys(current.secrets.parameters ?? {}), secretPatch);
      errors.push(...validateMergedValues(metadata.parametersMetadata.filter((p) => p.secret), stripRedacted(secretPatch), Object.keys(secretParamPreview), 'parameters', false));
      const credentialPreview = mergedPreview(Object.keys(current.secrets.credentials ?? {}), dto.credentials);
      errors.push(...this.credentialErrors(auth, stripRedacted(dto.credentials ?? {}), Object.keys(credentialPreview), false));
      errors.push(...oauth2EndpointErrors(auth, plainPatch, this.integrationParameters(integration, metadata)));
      if (errors.length) throw Problems.unprocessable('Some values do not fit this integration\'s configMetadata.', dedupeFieldErrors(errors));

      const servers = dto.servers !== undefined ? toServers(dto.servers) : current.servers;
      const serversChanged = JSON.stringify(servers.map((s) => s.url)) !== JSON.stringify(current.servers.map((s) => s.url));
      const destinationChanged = serversChanged || destinationParameters(connector).some((name) => name in plainPatch && !sameJson(plainParameters[name], current.parameters[name]));

      const credentials = await mergeSecretGroup(current.secrets.credentials, dto.credentials, this.secrets.encryptor(tenantId, id, 'credentials'));
      const headers = await mergeSecretGroup(current.secrets.headers, dto.headers, this.secrets.encryptor(tenantId, id, 'headers'));
      const secretParameters = await mergeSecretGroup(current.secrets.parameters, secretPatch, this.secrets.encryptor(tenantId, id, 'parameters'));

      // Destination rule (API.md): stored secrets only ever go where they were saved for.
      if (destinationChanged && hasAnySecret(current.secrets)) {
        if (credentials.kept.length > 0) {
          throw Problems.unprocessable(
            'This change moves the connection to another destination: send the credentials again in the same request ("***REDACTED***" does not count).',
            credentials.kept.map((k) => ({ field: `credentials.${k}`, message: 'must be sent again when the destination changes' })),
          );
        }
        if (credentials.supplied.length === 0 && Object.keys(credentials.blobs).length === 0 && (headers.kept.length > 0 || secretParameters.kept.length > 0)) {
          throw Problems.unprocessable('This change moves the connection to another destination: send its secret headers and parameters again.', [
            ...headers.kept.map((k) => ({ field: `headers.${k}`, message: 'must be sent again when the destination changes' })),
            ...secretParameters.kept.map((k) => ({ field: `parameters.${k}`, message: 'must be sent again when the destination changes' })),
          ]);
        }
      }
      // Secrets are bound to today's destination when none of them is left over from before.
      const rebound =
        credentials.kept.length === 0 && (credentials.supplied.length > 0 || (Object.keys(credentials.blobs).length === 0 && headers.kept.length === 0 && secretParameters.kept.length === 0));
      const destinationMoved = destinationChanged || integration.destination_version !== current.integration_destination_version;
      if (rebound && destinationMoved) {
        // Secret headers and parameters not sent again stay behind with the old destination.
        for (const k of headers.kept) delete headers.blobs[k];
        for (const k of secretParameters.kept) delete secretParameters.blobs[k];
      }
      const credentialsChanged = credentials.supplied.length > 0 || Object.keys(credentials.blobs).length !== Object.keys(current.secrets.credentials ?? {}).length;
      let tokenExpiresAt = current.token_expires_at;
      if (!isAuthorizationCode(auth)) tokenExpiresAt = null;
      else if (dto.credentials && 'expiresAt' in dto.credentials && dto.credentials.expiresAt !== REDACTED) tokenExpiresAt = expiryOf(dto.credentials.expiresAt);

      const row = await this.connections.update(
        m,
        tenantId,
        id,
        {
          name: dto.name ?? current.name,
          description: dto.description ?? current.description,
          access_scope: accessScope,
          is_shared_service_account: isShared,
          integration_version: pinned,
          auth_method: auth?.id ?? null,
          parameters: plainParameters,
          secrets: { credentials: credentials.blobs, headers: headers.blobs, parameters: secretParameters.blobs },
          servers,
          metadata: mergePatch(current.metadata, dto.metadata),
          enabled: dto.enabled ?? current.enabled,
          integration_destination_version: rebound ? integration.destination_version : current.integration_destination_version,
          token_expires_at: tokenExpiresAt,
          etag: newEtag(),
        },
        { credentials: credentialsChanged, destination: destinationChanged },
      );
      await this.audit.record(m, {
        tenantId,
        actor: ctx.actor,
        action: 'connection.updated',
        resourceType: 'connection',
        resourceId: id,
        outcome: 'success',
        requestId: ctx.requestId,
        details: { destinationChanged, credentialsChanged },
      });
      await this.events.emit(m, tenantId, 'connection.updated', { connectionId: id, integrationId: current.integration_id, destinationChanged });
      return toConnectionView(row);
    });
  }

  async remove(ctx: RequestContext, tenantId: string, id: string, ifMatch: string | undefined): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const current = await this.connections.lockById(m, tenantId, id);
      if (!current || !canSee(ctx.principal, tenantId, current)) throw notFound(tenantId, id);
      this.assertCanChange(ctx.principal, tenantId, current);
      assertIfMatch(ifMatch, current.etag);
      await this.connections.delete(m, tenantId, id);
      await this.audit.record(m, { tenantId, actor: ctx.actor, action: 'connection.deleted', resourceType: 'connection', resourceId: id, outcome: 'success', requestId: ctx.requestId, details: { integrationId: current.integration_id } });
      await this.events.emit(m, tenantId, 'connection.deleted', { connectionId: id, integrationId: current.integration_id });
    });
  }

  /** :authorize — a new consent URL for an authorization-code connection (first time, or after invalid_grant). */
  async authorize(ctx: RequestContext, tenantId: string, id: string): Promise<AuthorizationView> {
    return this.dataSource.transaction(async (m) => {
      const current = await this.connections.lockById(m, tenantId, id);
      if (!current || !canSee(ctx.principal, tenantId, current)) throw notFound(tenantId, id);
      this.assertCanChange(ctx.principal, tenantId, current);
      const integration = await this.integrationRows.findById(tenantId, current.integration_id);
      if (!integration) throw notFound(tenantId, id);
      const start = await this.oauth2.startAuthorization(m, integration, current, ctx.actor);
      return { oauth2Required: true, authorizationUrl: start.authorizationUrl, expiresAt: start.expiresAt.toISOString() };
    });
  }

  /** :verify — the integration's check with this connection's credentials, parameters and server. */
  async verify(ctx: RequestContext, tenantId: string, id: string): Promise<CheckResult> {
    const row = await this.findVisibleOr404(ctx.principal, tenantId, id);
    this.assertCanChange(ctx.principal, tenantId, row);
    return this.verifyRow(ctx, tenantId, row);
  }

  /** The health-check scheduler's :verify: no caller to see or own the row, so personal connections are checked too. */
  async verifyAsSystem(ctx: RequestContext, tenantId: string, id: string): Promise<CheckResult> {
    const row = await this.connections.findById(tenantId, id);
    if (!row) throw notFound(tenantId, id);
    return this.verifyRow(ctx, tenantId, row);
  }

  private async verifyRow(ctx: RequestContext, tenantId: string, row: ConnectionRow): Promise<CheckResult> {
    const id = row.id;
    const integration = await this.integrationRows.findById(tenantId, row.integration_id);
    if (!integration) throw notFound(tenantId, id);
    const { metadata, connector } = this.metadataOf(integration);
    if (!connector || !connector.verifiable) throw Problems.unprocessable(`Connector '${integration.connector}' has no check.`);
    const auth = this.integrations.checkableAuth(metadata, row.auth_method);
    const release = this.checks.reserve(tenantId);
    let result: CheckResult;
    try {
      result = await this.runCheck(ctx, row, integration, connector, metadata, auth);
    } finally {
      release();
    }
    const sameDestination = this.sameDestination(connector, this.integrationParameters(integration, metadata), row);
    const hostKey = typeof result.details.hostKeyFingerprint === 'string' && result.status === 'healthy' && !sameDestination ? result.details.hostKeyFingerprint : null;
    await this.dataSource.transaction(async (m) => {
      await this.health.record(m, { tenantId, connectionId: id, integrationId: row.integration_id }, { status: result.status, checkedAt: new Date(result.checkedAt), latencyMs: result.latencyMs, lastError: result.error, hostKey });
      await this.audit.record(m, {
        tenantId,
        actor: ctx.actor,
        action: 'connection.verified',
        resourceType: 'connection',
        resourceId: id,
        outcome: result.status === 'healthy' ? 'success' : 'failure',
        requestId: ctx.requestId,
        details: { status: result.status, code: result.error?.code ?? null },
      });
    });
    return result;
  }

  private async runCheck(ctx: RequestContext, row: ConnectionRow, integration: IntegrationRow, connector: ConnectorDefinition, metadata: ConfigMetadata, auth: AuthMetadata): Promise<CheckResult> {
    if (integration.destination_version !== row.integration_destination_version && hasAnySecret(row.secrets)) {
      return unhealthy('CONFIG_INVALID', DESTINATION_CHANGED_MESSAGE);
    }
    const [ownCredentials, ownHeaders, ownSecretParameters] = await Promise.all([
      this.secrets.decryptGroup(row, 'credentials'),
      this.secrets.decryptGroup(row, 'headers'),
      this.secrets.decryptGroup(row, 'parameters'),
    ]);
    const decrypted = await this.integrations.decrypt(integration, connector, metadata);
    const scrub: unknown[] = [...Object.values(ownCredentials), ...Object.values(ownHeaders), ...Object.values(ownSecretParameters), ...Object.values(decrypted.credentials), ...Object.values(decrypted.headers)];
    for (const p of metadata.parametersMetadata) if (p.secret) scrub.push(decrypted.parameters[p.name]);

    let credentials = ownCredentials;
    if (isAuthorizationCode(auth)) {
      const fresh = await this.refresher.ensureFresh(row, integration, { actor: ctx.actor, requestId: ctx.requestId });
      scrub.push(...Object.values(fresh.credentials));
      if (!fresh.ok) return unhealthy(fresh.error.code, fresh.error.message);
      credentials = fresh.credentials;
    }

    // The integration's own secret headers and parameters only go along to the integration's destination.
    const same = this.sameDestination(connector, decrypted.parameters, row);
    const base = same ? decrypted.parameters : withoutKeys(decrypted.parameters, metadata.parametersMetadata.filter((p) => p.secret).map((p) => p.name));
    const parameters = { ...base, ...row.parameters, ...ownSecretParameters };
    const headers = Object.fromEntries(Object.entries({ ...(same ? decrypted.headers : {}), ...ownHeaders }).map(([k, v]) => [k, String(v)]));
    return this.checks.run(
      connector,
      { parameters, auth, credentials, headers, serverUrl: row.servers[0]?.url, knownHostKey: same ? integration.host_key : row.host_key },
      scrub.filter((v) => v !== undefined && v !== null),
    );
  }

  /** True when the connection calls exactly where its integration does (no server or destination parameter of its own differs). */
  private sameDestination(connector: ConnectorDefinition | undefined, integrationParameters: Record<string, unknown>, row: ConnectionRow): boolean {
    const server = row.servers[0]?.url;
    if (server !== undefined && normalizeUrl(server) !== normalizeUrl(integrationParameters.baseUrl)) return false;
    return destinationParameters(connector).every((name) => !Object.hasOwn(row.parameters, name) || sameJson(row.parameters[name], integrationParameters[name]));
  }

  private async findVisibleOr404(principal: Principal, tenantId: string, id: string): Promise<ConnectionRow> {
    const row = await this.connections.findById(tenantId, id);
    if (!row || !canSee(principal, tenantId, row)) throw notFound(tenantId, id);
    return row;
  }

  /** Personal: its owner (already the only one who sees it). Organizational: editors and admins. */
  private assertCanChange(principal: Principal, tenantId: string, row: ConnectionRow): void {
    if (row.access_scope === 'personal') return;
    if (!hasAtLeast(roleIn(principal, tenantId), 'editor')) throw Problems.forbidden('Changing an organizational connection needs the editor role.');
  }

  private metadataOf(integration: IntegrationRow): { metadata: ConfigMetadata; connector: ConnectorDefinition | undefined } {
    const connector = findConnector(integration.connector);
    return { connector, metadata: effectiveMetadata(integration.config_metadata, connector) };
  }

  /** The integration's plain parameters with defaults: enough to compare destinations without decrypting. */
  private integrationParameters(integration: IntegrationRow, metadata: ConfigMetadata): Record<string, unknown> {
    const out: Record<string, unknown> = { ...integration.parameters };
    for (const p of metadata.parametersMetadata) {
      if ((out[p.name] === undefined || out[p.name] === null) && p.defaultValue !== null && p.defaultValue !== undefined) out[p.name] = p.defaultValue;
    }
    return out;
  }

  private checkIntegrationVersion(integration: IntegrationRow, version: string | undefined): string {
    if (version === undefined || version === 'latest') return 'latest';
    if (version !== integration.etag) {
      throw Problems.unprocessable('integrationVersion must be "latest" or the integration\'s current etag.', [{ field: 'integrationVersion', message: 'is not the integration\'s current etag' }]);
    }
    return version;
  }

  /** Credentials of a connection: the auth method's fields, or tokens for the authorization-code flow. */
  private credentialErrors(auth: AuthMetadata | null, supplied: Record<string, unknown>, presentKeys: string[], creating: boolean): FieldError[] {
    if (!auth) return presentKeys.length > 0 ? [{ field: 'credentials', message: 'needs an authMethod' }] : [];
    if (isAuthorizationCode(auth)) {
      const errors = validateParameters(TOKEN_FIELDS, supplied, { fieldPrefix: 'credentials', requireRequired: false });
      if (typeof supplied.expiresAt === 'string' && Number.isNaN(Date.parse(supplied.expiresAt))) errors.push({ field: 'credentials.expiresAt', message: 'must be an ISO-8601 timestamp' });
      return errors;
    }
    return creating
      ? validateParameters(auth.parametersMetadata, supplied, { fieldPrefix: 'credentials', requireRequired: true })
      : validateMergedValues(auth.parametersMetadata, supplied, presentKeys, 'credentials', true);
  }
}

function notFound(tenantId: string, id: string) {
  return Problems.notFound(`Connection '${id}' does not exist in tenant '${tenantId}'.`);
}

function oauth2EndpointErrors(auth: AuthMetadata | null, supplied: Record<string, unknown>, integrationParameters: Record<string, unknown>): FieldError[] {
  if (!isAuthorizationCode(auth)) return [];
  return OAUTH2_ENDPOINT_PARAMETERS.filter((name) => supplied[name] !== undefined && supplied[name] !== null && !sameJson(supplied[name], integrationParameters[name])).map((name) => ({
    field: `parameters.${name}`,
    message: 'comes from the integration for OAuth2 authorization code (its client secret goes nowhere else)',
  }));
}

function unhealthy(code: string, message: string): CheckResult {
  return { status: 'unhealthy', checkedAt: new Date().toISOString(), latencyMs: 0, error: { code, message }, details: {} };
}

function toServers(servers: ServerDto[]): ServerEntry[] {
  return servers.map((s) => ({ url: s.url, description: s.description ?? '' }));
}

function expiryOf(value: unknown): Date | null {
  if (typeof value !== 'string') return null;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : new Date(at);
}

function normalizeUrl(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  try {
    return new URL(value).href.replace(/\/+$/, '');
  } catch {
    return value;
  }
}

function withoutNulls(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== null && v !== undefined));
}

function withoutKeys(values: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([k]) => !keys.includes(k)));
}

