import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { CRYPTO, type TenantCrypto } from '../common/crypto/crypto.tokens';
import { assertIfMatch, newEtag } from '../common/http/etag';
import { isUniqueViolation, mergePatch } from '../common/http/merge-patch';
import { pageScope, PageTokens } from '../common/http/pagination';
import { Problems, type FieldError } from '../common/http/problem';
import type { RequestContext } from '../common/http/request-context';
import { hasAnySecret, mergedPreview, mergeSecretGroup, redactKeys, REDACTED, type SecretGroup, type SecretGroups } from '../common/secrets/secret-fields';
import { findConnector } from '../connectors/catalog';
import type { AuthMetadata, ConfigMetadata, ConnectorDefinition } from '../connectors/connector.types';
import { applyDefaults, validateParameters } from '../connectors/parameter-validation';
import { EventsService } from '../events/events.service';
import { TenantsService } from '../tenants/tenants.service';
import { CheckRunner, type CheckResult } from '../verification/check-runner.service';
import type { CreateIntegrationDto, IntegrationListView, IntegrationView, ListIntegrationsQueryDto, UpdateIntegrationDto } from './dto/integration.dto';
import { acceptConfigMetadata, effectiveMetadata, resolveAuth, splitParameters, validateMergedValues } from './integration-config';
import { IntegrationsRepository, type IntegrationRow } from './integrations.repository';

/** Parameters that say where credentials go, for every connector. */
const COMMON_DESTINATIONS = ['baseUrl', 'host', 'port', 'tokenUrl', 'authorizationUrl'];

export function destinationParameters(connector: ConnectorDefinition | undefined): string[] {
  return [...new Set([...COMMON_DESTINATIONS, ...(connector?.destinationParameters ?? [])])];
}

export function toIntegrationView(row: IntegrationRow, withMetadata: boolean): IntegrationView {
  const connector = findConnector(row.connector);
  const secretParams = redactKeys(row.secrets.parameters);
  const view: IntegrationView = {
    id: row.id,
    tenantId: row.tenant_id,
    displayName: row.display_name,
    description: row.description,
    connector: row.connector,
    type: row.type,
    parameters: { ...row.parameters, ...secretParams },
    authMethod: row.auth_method,
    credentials: redactKeys(row.secrets.credentials),
    headers: redactKeys(row.secrets.headers),
    tags: row.tags,
    isInternal: row.is_internal,
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
  if (withMetadata) return { ...view, configMetadata: effectiveMetadata(row.config_metadata, connector) };
  return view;
}

/** What a check of an integration (or a connection on it) needs, decrypted. Only for an outbound call. */
export interface DecryptedIntegration {
  row: IntegrationRow;
  connector: ConnectorDefinition;
  metadata: ConfigMetadata;
  parameters: Record<string, unknown>;
  credentials: Record<string, unknown>;
  headers: Record<string, string>;
}

@Injectable()
export class IntegrationsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly integrations: IntegrationsRepository,
    private readonly tenants: TenantsService,
    private readonly audit: AuditService,
    private readonly events: EventsService,
    private readonly pageTokens: PageTokens,
    private readonly checks: CheckRunner,
    @Inject(CRYPTO) private readonly crypto: TenantCrypto,
  ) {}

  async create(ctx: RequestContext, tenantId: string, dto: CreateIntegrationDto): Promise<IntegrationView> {
    await this.tenants.assertExists(tenantId);
    const prepared = this.prepareCreate(dto);
    const secrets = await this.encryptAll(tenantId, dto.id, {
      credentials: dto.credentials ?? {},
      headers: dto.headers ?? {},
      parameters: prepared.secretParameters,
    });
    try {
      return await this.dataSource.transaction(async (m) => {
        const row = await this.integrations.insert(m, tenantId, dto.id, dto.connector, prepared.type, {
          display_name: dto.displayName,
          description: dto.description ?? '',
          config_metadata: prepared.storedMetadata,
          parameters: prepared.plainParameters,
          auth_method: dto.authMethod ?? null,
          secrets,
          tags: dto.tags ?? [],
          is_internal: dto.isInternal ?? false,
          enabled: dto.enabled ?? true,
          etag: newEtag(),
          destination_version: 1,
        });
        await this.audit.record(m, { tenantId, actor: ctx.actor, action: 'integration.created', resourceType: 'integration', resourceId: row.id, outcome: 'success', requestId: ctx.requestId });
        await this.events.emit(m, tenantId, 'integration.created', { integrationId: row.id, connector: row.connector });
        return toIntegrationView(row, true);
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw Problems.conflict(`An integration with id '${dto.id}' already exists in tenant '${tenantId}'.`);
      throw error;
    }
  }

  async list(tenantId: string, query: ListIntegrationsQueryDto): Promise<IntegrationListView> {
    await this.tenants.assertExists(tenantId);
    const filters = { connector: query.connector, tag: query.tag, enabled: query.enabled === undefined ? undefined : query.enabled === 'true' };
    const full = query.view === 'FULL';
    const scope = pageScope('integrations', tenantId, { ...filters, view: full });
    const after = this.pageTokens.decode(scope, query.pageToken);
    const pageSize = query.pageSize ?? 50;
    const rows = await this.integrations.listPage(tenantId, filters, after, pageSize + 1, full);
    const page = rows.slice(0, pageSize);
    return {
      integrations: page.map((r) => toIntegrationView(r, full)),
      nextPageToken: rows.length > pageSize ? this.pageTokens.encode(scope, page[page.length - 1].seq) : null,
    };
  }

  async get(tenantId: string, id: string): Promise<IntegrationView> {
    return toIntegrationView(await this.findOr404(tenantId, id), true);
  }

  async findOr404(tenantId: string, id: string): Promise<IntegrationRow> {
    const row = await this.integrations.findById(tenantId, id);
    if (!row) throw Problems.notFound(`Integration '${id}' does not exist in tenant '${tenantId}'.`);
    return row;
  }

  async update(ctx: RequestContext, tenantId: string, id: string, dto: UpdateIntegrationDto, ifMatch: string | undefined): Promise<IntegrationView> {
    return this.dataSource.transaction(async (m) => {
      const current = await this.integrations.lockById(m, tenantId, id);
      if (!current) throw Problems.notFound(`Integration '${id}' does not exist in tenant '${tenantId}'.`);
      assertIfMatch(ifMatch, current.etag);
      const connector = findConnector(current.connector);

      let storedMetadata = current.config_metadata;
      if (dto.configMetadata !== undefined) storedMetadata = acceptConfigMetadata(dto.configMetadata);
      const metadata = effectiveMetadata(storedMetadata, connector);
      const authMethod = dto.authMethod ?? current.auth_method;
      const auth = resolveAuth(metadata, authMethod, 'APPLICATION');

      // Parameters: plain ones merge per key; secret ones follow the secret merge rules.
      const secretNames = new Set(metadata.parametersMetadata.filter((p) => p.secret).map((p) => p.name));
      const patchParams = dto.parameters ?? {};
      const plainPatch: Record<string, unknown> = {};
      const secretPatch: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(patchParams)) (secretNames.has(k) ? secretPatch : plainPatch)[k] = v;
      const plainParameters = mergePatch(current.parameters, plainPatch);
      for (const name of secretNames) delete plainParameters[name];

      const errors: FieldError[] = [];
      const suppliedPlain = Object.fromEntries(Object.entries(plainPatch).filter(([, v]) => v !== null));
      errors.push(...validateParameters(metadata.parametersMetadata.filter((p) => !p.secret), suppliedPlain, { fieldPrefix: 'parameters', requireRequired: false }));
      const secretParamPreview = mergedPreview(Object.keys(current.secrets.parameters ?? {}), secretPatch);
      errors.push(...validateMergedValues(metadata.parametersMetadata.filter((p) => p.secret), stripRedacted(secretPatch), Object.keys(secretParamPreview), 'parameters', false));
      for (const p of metadata.parametersMetadata) {
        if (p.required && !p.secret && (plainParameters[p.name] === undefined || plainParameters[p.name] === null) && p.defaultValue === null) {
          errors.push({ field: `parameters.${p.name}`, message: 'is required' });
        }
      }

      const credentialPreview = mergedPreview(Object.keys(current.secrets.credentials ?? {}), dto.credentials);
      if (auth) {
        errors.push(...validateMergedValues(auth.parametersMetadata, stripRedacted(dto.credentials ?? {}), Object.keys(credentialPreview), 'credentials', true));
      } else if (Object.keys(credentialPreview).length > 0) {
        errors.push({ field: 'credentials', message: 'needs an authMethod' });
      }
      if (errors.length) throw Problems.unprocessable('Some values do not fit this integration\'s configMetadata.', dedupe(errors));

      // Destination rule: stored secrets only ever go where they were saved for.
      const destinationChanged = destinationParameters(connector).some((name) => name in plainPatch && !sameValue(plainParameters[name], current.parameters[name]));
      const encrypt = (group: SecretGroup) => (key: string, value: unknown) => this.crypto.encrypt({ tenantId, resourceType: 'integration', resourceId: id, field: `${group}.${key}` }, value);
      const credentials = await mergeSecretGroup(current.secrets.credentials, dto.credentials, encrypt('credentials'));
      const headers = await mergeSecretGroup(current.secrets.headers, dto.headers, encrypt('headers'));
      const secretParameters = await mergeSecretGroup(current.secrets.parameters, secretPatch, encrypt('parameters'));
      let destinationVersion = current.destination_version;
      if (destinationChanged) {
        destinationVersion += 1;
        if (hasAnySecret(current.secrets) && credentials.kept.length > 0) {
          throw Problems.unprocessable(
            'This change moves the integration to another destination: send the credentials again in the same request ("***REDACTED***" does not count).',
            credentials.kept.map((k) => ({ field: `credentials.${k}`, message: 'must be sent again when the destination changes' })),
          );
        }
        if (hasAnySecret(current.secrets) && credentials.supplied.length === 0 && Object.keys(current.secrets.credentials ?? {}).length === 0 && (headers.kept.length > 0 || secretParameters.kept.length > 0)) {
          throw Problems.unprocessable('This change moves the integration to another destination: send its secret headers and parameters again.', [
            ...headers.kept.map((k) => ({ field: `headers.${k}`, message: 'must be sent again when the destination changes' })),
            ...secretParameters.kept.map((k) => ({ field: `parameters.${k}`, message: 'must be sent again when the destination changes' })),
          ]);
        }
        // Secret headers and parameters not sent again stay behind with the old destination.
        for (const k of headers.kept) delete headers.blobs[k];
        for (const k of secretParameters.kept) delete secretParameters.blobs[k];
      }

      const row = await this.integrations.update(m, tenantId, id, {
        display_name: dto.displayName ?? current.display_name,
        description: dto.description ?? current.description,
        config_metadata: storedMetadata,
        parameters: plainParameters,
        auth_method: authMethod,
        secrets: { credentials: credentials.blobs, headers: headers.blobs, parameters: secretParameters.blobs },
        tags: dto.tags ?? current.tags,
        is_internal: dto.isInternal ?? current.is_internal,
        enabled: dto.enabled ?? current.enabled,
        etag: newEtag(),
        destination_version: destinationVersion,
      });
      await this.audit.record(m, { tenantId, actor: ctx.actor, action: 'integration.updated', resourceType: 'integration', resourceId: id, outcome: 'success', requestId: ctx.requestId, details: destinationChanged ? { destinationChanged: true } : {} });
      await this.events.emit(m, tenantId, 'integration.updated', { integrationId: id, destinationChanged });
      return toIntegrationView(row, true);
    });
  }

  async remove(ctx: RequestContext, tenantId: string, id: string, ifMatch: string | undefined): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const current = await this.integrations.lockById(m, tenantId, id);
      if (!current) throw Problems.notFound(`Integration '${id}' does not exist in tenant '${tenantId}'.`);
      assertIfMatch(ifMatch, current.etag);
      await this.integrations.delete(m, tenantId, id);
      await this.audit.record(m, { tenantId, actor: ctx.actor, action: 'integration.deleted', resourceType: 'integration', resourceId: id, outcome: 'success', requestId: ctx.requestId });
      await this.events.emit(m, tenantId, 'integration.deleted', { integrationId: id });
    });
  }

  /** :verifyConfig — decrypts inside the service, really connects, stores the outcome as health. */
  async verify(ctx: RequestContext, tenantId: string, id: string): Promise<CheckResult> {
    const row = await this.findOr404(tenantId, id);
    const connector = findConnector(row.connector);
    if (!connector || !connector.verifiable) throw Problems.unprocessable(`Connector '${row.connector}' has no check.`);
    const metadata = effectiveMetadata(row.config_metadata, connector);
    const auth = this.checkableAuth(metadata, row.auth_method);
    const release = this.checks.reserve(tenantId);
    let result: CheckResult;
    try {
      const decrypted = await this.decrypt(row, connector, metadata);
      result = await this.checks.run(
        connector,
        { parameters: decrypted.parameters, auth, credentials: decrypted.credentials, headers: decrypted.headers, knownHostKey: row.host_key },
        secretValues(decrypted, metadata.parametersMetadata.filter((p) => p.secret).map((p) => p.name)),
      );
    } finally {
      release();
    }
    const hostKey = typeof result.details.hostKeyFingerprint === 'string' && result.status === 'healthy' ? result.details.hostKeyFingerprint : null;
    await this.dataSource.transaction(async (m) => {
      const previous = await this.integrations.recordHealth(tenantId, id, { status: result.status, checkedAt: new Date(result.checkedAt), latencyMs: result.latencyMs, lastError: result.error, hostKey }, m);
      await this.audit.record(m, {
        tenantId,
        actor: ctx.actor,
        action: 'integration.verified',
        resourceType: 'integration',
        resourceId: id,
        outcome: result.status === 'healthy' ? 'success' : 'failure',
        requestId: ctx.requestId,
        details: { status: result.status, code: result.error?.code ?? null },
      });
      if (previous !== null && previous !== result.status) {
        await this.events.emit(m, tenantId, 'integration.health_changed', { integrationId: id, previousStatus: previous, status: result.status, errorCode: result.error?.code ?? null });
      }
    });
    return result;
  }

  /** :testConfig — the same check for a create body; stores nothing but the audit event. */
  async testConfig(ctx: RequestContext, tenantId: string, dto: CreateIntegrationDto): Promise<CheckResult> {
    await this.tenants.assertExists(tenantId);
    const prepared = this.prepareCreate(dto);
    const connector = findConnector(dto.connector);
    if (!connector || !connector.verifiable) throw Problems.unprocessable(`Connector '${dto.connector}' has no check.`);
    const auth = this.checkableAuth(prepared.metadata, dto.authMethod ?? null);
    const release = this.checks.reserve(tenantId);
    let result: CheckResult;
    try {
      const parameters = applyDefaults(prepared.metadata.parametersMetadata, dto.parameters ?? {});
      const credentials = dto.credentials ?? {};
      const headers = dto.headers ?? {};
      result = await this.checks.run(connector, { parameters, auth, credentials, headers }, [...Object.values(credentials), ...Object.values(headers), ...Object.values(prepared.secretParameters)]);
    } finally {
      release();
    }
    await this.dataSource.transaction((m) =>
      this.audit.record(m, {
        tenantId,
        actor: ctx.actor,
        action: 'integration.tested',
        resourceType: 'integration',
        resourceId: dto.id,
        outcome: result.status === 'healthy' ? 'success' : 'failure',
        requestId: ctx.requestId,
        details: { status: result.status, code: result.error?.code ?? null },
      }),
    );
    return result;
  }

  /** Decrypts an integration's secrets for an outbound call; never returned to a client. */
  async decrypt(row: IntegrationRow, connector: ConnectorDefinition, metadata: ConfigMetadata): Promise<DecryptedIntegration> {
    const open = async (group: SecretGroup): Promise<Record<string, unknown>> => {
      const out: Record<string, unknown> = {};
      for (const [key, blob] of Object.entries(row.secrets[group] ?? {})) {
        out[key] = await this.crypto.decrypt({ tenantId: row.tenant_id, resourceType: 'integration', resourceId: row.id, field: `${group}.${key}` }, blob);
      }
      return out;
    };
    const [credentials, headers, secretParameters] = await Promise.all([open('credentials'), open('headers'), open('parameters')]);
    return {
      row,
      connector,
      metadata,
      parameters: applyDefaults(metadata.parametersMetadata, { ...row.parameters, ...secretParameters }),
      credentials,
      headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])),
    };
  }

  checkableAuth(metadata: ConfigMetadata, authMethod: string | null): AuthMetadata {
    const auth = authMethod ? metadata.authMetadata.find((a) => a.id === authMethod) : metadata.authMetadata.find((a) => a.type === 'NONE');
    if (!auth) throw Problems.unprocessable('This integration has no auth method to check; set authMethod first.', [{ field: 'authMethod', message: 'is required to verify' }]);
    if (!auth.configTestSupported) throw Problems.unprocessable(`Auth method '${auth.id}' does not support configuration tests.`, [{ field: 'authMethod', message: 'configTestSupported is false' }]);
    return auth;
  }

  private prepareCreate(dto: CreateIntegrationDto) {
    const connector = findConnector(dto.connector);
    if (!connector) throw Problems.unprocessable(`Connector '${dto.connector}' is not in the catalog.`, [{ field: 'connector', message: 'is not a known connector' }]);
    const type = dto.type ?? 'SYSTEM';
    if (type === 'CUSTOM' && !dto.configMetadata) throw Problems.validation([{ field: 'configMetadata', message: 'is required for a CUSTOM integration' }]);
    const storedMetadata = dto.configMetadata ? acceptConfigMetadata(dto.configMetadata) : null;
    const metadata = effectiveMetadata(storedMetadata, connector);
    const auth = resolveAuth(metadata, dto.authMethod, 'APPLICATION');
    const errors: FieldError[] = validateParameters(metadata.parametersMetadata, applyDefaults(metadata.parametersMetadata, dto.parameters ?? {}), { fieldPrefix: 'parameters', requireRequired: true });
    if (auth) {
      errors.push(...validateParameters(auth.parametersMetadata, dto.credentials ?? {}, { fieldPrefix: 'credentials', requireRequired: true }));
    } else if (dto.credentials && Object.keys(dto.credentials).length > 0) {
      errors.push({ field: 'credentials', message: 'needs an authMethod' });
    }
    if (errors.length) throw Problems.unprocessable('Some values do not fit this integration\'s configMetadata.', errors);
    const { plain, secret } = splitParameters(metadata.parametersMetadata, dto.parameters ?? {});
    return { type, storedMetadata, metadata, plainParameters: plain, secretParameters: secret };
  }

  private async encryptAll(tenantId: string, id: string, groups: Record<SecretGroup, Record<string, unknown>>): Promise<SecretGroups> {
    const out: SecretGroups = {};
    for (const group of Object.keys(groups) as SecretGroup[]) {
      const blobs: Record<string, string> = {};
      for (const [key, value] of Object.entries(groups[group])) {
        if (value === null || value === REDACTED) continue;
        blobs[key] = await this.crypto.encrypt({ tenantId, resourceType: 'integration', resourceId: id, field: `${group}.${key}` }, value);
      }
      out[group] = blobs;
    }
    return out;
  }
}

export function secretValues(d: { credentials: Record<string, unknown>; headers: Record<string, string>; parameters?: Record<string, unknown> }, secretParameterNames: string[] = []): unknown[] {
  return [...Object.values(d.credentials), ...Object.values(d.headers), ...secretParameterNames.map((n) => d.parameters?.[n])];
}

function stripRedacted(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== REDACTED && v !== null));
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

function dedupe(errors: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.field}\u0000${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

