import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { CRYPTO, type TenantCrypto } from '../common/crypto/crypto.tokens';
import { assertIfMatch, newEtag } from '../common/http/etag';
import { isForeignKeyViolation, isUniqueViolation, mergePatch, sameJson } from '../common/http/merge-patch';
import { pageScope, PageTokens } from '../common/http/pagination';
import { dedupeFieldErrors, ProblemException, Problems, type FieldError } from '../common/http/problem';
import type { RequestContext } from '../common/http/request-context';
import { hasAnySecret, mergedPreview, mergeSecretGroup, redactKeys, REDACTED, stripRedacted, type SecretGroup, type SecretGroups } from '../common/secrets/secret-fields';
import { findConnector } from '../connectors/catalog';
import { normalizeConfigMetadata } from '../connectors/config-metadata.dto';
import type { AuthMetadata, ConfigMetadata, ConnectorDefinition } from '../connectors/connector.types';
import { applyDefaults, validateParameters } from '../connectors/parameter-validation';
import { EventsService, newEventId } from '../events/events.service';
import { TenantsService } from '../tenants/tenants.service';
import { CheckRunner, type CheckResult } from '../verification/check-runner.service';
import type { CreateIntegrationDto, IntegrationListView, IntegrationView, ListIntegrationsQueryDto, UpdateIntegrationDto } from './dto/integration.dto';
import { acceptConfigMetadata, effectiveMetadata, isSecretUnavailable, resolveAuth, SECRET_UNAVAILABLE, secretUnavailable, splitParameters, validateMergedValues } from './integration-config';
import { IntegrationsRepository, type IntegrationRow, type IntegrationViewRow } from './integrations.repository';

/** Parameters that say where credentials go, for every connector. */
const COMMON_DESTINATIONS = ['baseUrl', 'host', 'port', 'tokenUrl', 'authorizationUrl'];

export function destinationParameters(connector: ConnectorDefinition | undefined): string[] {
  return [...new Set([...COMMON_DESTINATIONS, ...(connector?.destinationParameters ?? [])])];
}

const iso = (at: Date | string): string => (typeof at === 'string' ? at : at.toISOString());
const notFound = (tenantId: string, id: string) => Problems.notFound(`Integration '${id}' does not exist in tenant '${tenantId}'.`);

export function toIntegrationView(row: IntegrationViewRow, withMetadata: boolean): IntegrationView {
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
      checkedAt: row.health_checked_at ? iso(row.health_checked_at) : null,
      latencyMs: row.health_latency_ms,
      lastError: row.health_last_error,
    },
    etag: row.etag,
    createdAt: iso(row.created_at),
    modifiedAt: iso(row.modified_at),
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
    // The tenant is not looked up first: the row's foreign key makes a create in a missing tenant
    // fail, and only then is it looked up, so a missing tenant is still a 404 before anything else.
    try {
      return await this.insertNew(ctx, tenantId, dto);
    } catch (error) {
      if (isUniqueViolation(error)) throw Problems.conflict(`An integration with id '${dto.id}' already exists in tenant '${tenantId}'.`);
      await this.assertTenantAfterFailure(tenantId, error);
      throw error;
    }
  }

  /**
   * After a failed request: the 404 for a missing tenant if that is why; otherwise returns and the
   * caller rethrows. Only a client error (a problem below 500) or a foreign-key violation can come
   * from a missing tenant; anything else (the database unreachable) is rethrown without a lookup.
   */
  private async assertTenantAfterFailure(tenantId: string, error: unknown): Promise<void> {
    const clientError = error instanceof ProblemException && error.problem.status < 500;
    if (!clientError && !isForeignKeyViolation(error)) return;
    let exists: boolean;
    try {
      exists = await this.tenants.exists(tenantId);
    } catch {
      throw error;
    }
    if (!exists) throw Problems.notFound(`Tenant '${tenantId}' does not exist.`);
  }

  private async insertNew(ctx: RequestContext, tenantId: string, dto: CreateIntegrationDto): Promise<IntegrationView> {
    const prepared = this.prepareCreate(dto);
    const secrets = await this.encryptAll(tenantId, dto.id, {
      credentials: dto.credentials ?? {},
      headers: dto.headers ?? {},
      parameters: prepared.secretParameters,
    });
    const insert = (m?: EntityManager) =>
      this.integrations.insertCreated(
        tenantId,
        dto.id,
        dto.connector,
        prepared.type,
        {
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
        },
        { eventId: newEventId(), actor: ctx.actor, requestId: ctx.requestId },
        newEventId(),
        m,
      );
    const { idempotency } = ctx;
    if (!idempotency) return toIntegrationView(await insert(), true);
    // With an Idempotency-Key, the key is completed in the transaction that creates the row.
    return this.dataSource.transaction(async (m) => {
      const view = toIntegrationView(await insert(m), true);
      await idempotency.store(m, view);
      return view;
    });
  }

  async list(tenantId: string, query: ListIntegrationsQueryDto): Promise<IntegrationListView> {
    // The tenant is looked up only when the page is empty or the request fails: same answers, one
    // round trip less on every non-empty page.
    let result: IntegrationListView;
    try {
      result = await this.listPage(tenantId, query);
    } catch (error) {
      await this.assertTenantAfterFailure(tenantId, error);
      throw error;
    }
    if (result.integrations.length === 0) await this.tenants.assertExists(tenantId);
    return result;
  }

  private async listPage(tenantId: string, query: ListIntegrationsQueryDto): Promise<IntegrationListView> {
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
    const row = await this.integrations.findViewById(tenantId, id);
    if (!row) throw notFound(tenantId, id);
    return toIntegrationView(row, true);
  }

  async findOr404(tenantId: string, id: string): Promise<IntegrationRow> {
    const row = await this.integrations.findById(tenantId, id);
    if (!row) throw notFound(tenantId, id);
    return row;
  }

  async update(ctx: RequestContext, tenantId: string, id: string, dto: UpdateIntegrationDto, ifMatch: string | undefined): Promise<IntegrationView> {
    assertHeaderNames(dto.headers);
    // Secret values are sealed before the row lock is taken: encrypting reads the tenant's data key
    // through the pool, and transactions that each hold a connection while waiting for a second one
    // starve the pool under concurrent writes.
    for (let attempt = 1; ; attempt += 1) {
      const snapshot = await this.findOr404(tenantId, id);
      const sealed = await this.sealPatchValues(tenantId, id, dto, snapshot);
      try {
        if (attempt === 1) {
          // Optimistic first: planned on the snapshot and written only if the row is still that
          // snapshot, in one statement (two round trips in all). If another write came in between,
          // the change is planned again on the locked row, where If-Match is judged anew.
          const row = await this.applyUpdate(ctx, tenantId, id, dto, ifMatch, sealed, snapshot);
          if (row) return toIntegrationView(row, true);
          continue;
        }
        const row = await this.dataSource.transaction(async (m) => {
          const current = await this.integrations.lockById(m, tenantId, id);
          if (!current) throw notFound(tenantId, id);
          return this.applyUpdate(ctx, tenantId, id, dto, ifMatch, sealed, current, m);
        });
        if (!row) throw new Error('the locked row changed under its lock');
        return toIntegrationView(row, true);
      } catch (error) {
        if (!(error instanceof UnsealedValueError)) throw error;
        // Only a concurrent change of a value this request moves into the secrets gets here.
        if (attempt >= 5) throw Problems.conflict(`Integration '${id}' kept changing while this request was applied; retry.`);
      }
    }
  }

  /** Encrypts every value this PATCH may store as a secret (a superset: unused blobs are discarded). */
  private async sealPatchValues(tenantId: string, id: string, dto: UpdateIntegrationDto, snapshot: IntegrationRow): Promise<SealedValues> {
    const sealed = new SealedValues();
    const seal = async (group: SecretGroup, values: Record<string, unknown> | null | undefined) => {
      for (const [key, value] of Object.entries(values ?? {})) {
        if (value === null || value === undefined || value === REDACTED) continue;
        sealed.add(group, key, value, await this.crypto.encrypt({ tenantId, resourceType: 'integration', resourceId: id, field: `${group}.${key}` }, value));
      }
    };
    await seal('credentials', dto.credentials);
    await seal('headers', dto.headers);
    await seal('parameters', dto.parameters);
    if (dto.configMetadata) {
      // Stored plain values the new metadata marks secret are encrypted too.
      const secretNames = new Set(normalizeConfigMetadata(dto.configMetadata).parametersMetadata.filter((p) => p.secret).map((p) => p.name));
      await seal('parameters', Object.fromEntries(Object.entries(snapshot.parameters).filter(([k]) => secretNames.has(k) && !Object.hasOwn(dto.parameters ?? {}, k))));
    }
    return sealed;
  }

  /**
   * Plans the PATCH on `current` (validation, merge rules, destination rule) and writes it, with
   * its audit and outbox events, if the row is still `current`: null when it is not. With `m`,
   * `current` was read under the row lock in that transaction.
   */
  private async applyUpdate(
    ctx: RequestContext,
    tenantId: string,
    id: string,
    dto: UpdateIntegrationDto,
    ifMatch: string | undefined,
    sealed: SealedValues,
    current: IntegrationRow,
    m?: EntityManager,
  ): Promise<IntegrationRow | null> {
    assertIfMatch(ifMatch, current.etag);
    const connector = findConnector(current.connector);
    const previousMetadata = effectiveMetadata(current.config_metadata, connector);

    // configMetadata is replaced whole; null drops a SYSTEM integration's override (back to the catalog's).
    let storedMetadata = current.config_metadata;
    const metadataReplaced = dto.configMetadata !== undefined;
    if (dto.configMetadata === null) {
      if (current.type === 'CUSTOM') throw Problems.validation([{ field: 'configMetadata', message: 'is required for a CUSTOM integration' }]);
      storedMetadata = null;
    } else if (dto.configMetadata !== undefined) {
      storedMetadata = acceptConfigMetadata(dto.configMetadata);
    }
    const metadata = effectiveMetadata(storedMetadata, connector);
    const authMethod = dto.authMethod === null ? null : (dto.authMethod ?? current.auth_method);
    const auth = resolveAuth(metadata, authMethod, 'APPLICATION');

    // Parameters: plain ones merge per key; secret ones follow the secret merge rules.
    const secretNames = new Set(metadata.parametersMetadata.filter((p) => p.secret).map((p) => p.name));
    const patchParams = dto.parameters ?? {};
    const plainPatch: Record<string, unknown> = {};
    const secretPatch: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(patchParams)) defineKey(secretNames.has(k) ? secretPatch : plainPatch, k, v);
    const errors: FieldError[] = [];

    // New metadata may change which parameters are secret. A plain value that becomes secret is
    // encrypted (never dropped); a stored secret never becomes readable: it must be sent again or removed.
    const storedSecretParams: Record<string, string> = { ...(current.secrets.parameters ?? {}) };
    for (const name of Object.keys(storedSecretParams)) {
      if (secretNames.has(name)) continue;
      if (Object.hasOwn(plainPatch, name)) delete storedSecretParams[name];
      else errors.push({ field: `parameters.${name}`, message: 'is stored as a secret but the configMetadata no longer marks it secret: send it again, or null to remove it' });
    }
    for (const name of secretNames) {
      if (Object.hasOwn(current.parameters, name) && !Object.hasOwn(secretPatch, name)) defineKey(secretPatch, name, current.parameters[name]);
    }
    const plainParameters = mergePatch(current.parameters, plainPatch);
    for (const name of secretNames) delete plainParameters[name];

    // Only supplied values are checked, unless the metadata changed: then every kept value must fit it too.
    const plainMetadata = metadata.parametersMetadata.filter((p) => !p.secret);
    const plainToCheck = metadataReplaced ? plainParameters : Object.fromEntries(Object.entries(plainPatch).filter(([, v]) => v !== null));
    errors.push(...validateParameters(plainMetadata, plainToCheck, { fieldPrefix: 'parameters', requireRequired: false }));
    for (const p of plainMetadata) {
      if (p.required && (plainParameters[p.name] === undefined || plainParameters[p.name] === null) && (p.defaultValue === null || p.defaultValue === undefined)) {
        errors.push({ field: `parameters.${p.name}`, message: 'is required' });
      }
    }
    const secretParamPreview = mergedPreview(Object.keys(storedSecretParams), secretPatch);
    errors.push(...validateMergedValues(metadata.parametersMetadata.filter((p) => p.secret), stripRedacted(secretPatch), Object.keys(secretParamPreview), 'parameters', true));

    // Credentials belong to an auth method: stored ones the (new) method does not declare are dropped.
    const credentialNames = new Set((auth?.parametersMetadata ?? []).map((p) => p.name));
    const storedCredentials = Object.fromEntries(Object.entries(current.secrets.credentials ?? {}).filter(([k]) => credentialNames.has(k)));
    const credentialPreview = mergedPreview(Object.keys(storedCredentials), dto.credentials);
    if (auth) {
      errors.push(...validateMergedValues(auth.parametersMetadata, stripRedacted(dto.credentials ?? {}), Object.keys(credentialPreview), 'credentials', true));
    } else if (Object.keys(stripRedacted(dto.credentials ?? {})).length > 0) {
      errors.push({ field: 'credentials', message: 'needs an authMethod' });
    }
    if (errors.length) throw Problems.unprocessable('Some values do not fit this integration\'s configMetadata.', dedupeFieldErrors(errors));

    // Destination rule: stored secrets only ever go where they were saved for. Compared on effective
    // values (defaults included), so new metadata defaults cannot move them either.
    const before = applyDefaults(previousMetadata.parametersMetadata, current.parameters);
    const after = applyDefaults(metadata.parametersMetadata, plainParameters);
    const destinationChanged = destinationParameters(connector).some(
      (name) => !sameJson(after[name], before[name]) || (secretNames.has(name) && Object.hasOwn(secretPatch, name) && secretPatch[name] !== null && secretPatch[name] !== REDACTED),
    );
    const encrypt = (group: SecretGroup) => async (key: string, value: unknown) => sealed.take(group, key, value);
    const credentials = await mergeSecretGroup(storedCredentials, dto.credentials, encrypt('credentials'));
    const headers = await mergeSecretGroup(current.secrets.headers, dto.headers, encrypt('headers'));
    const secretParameters = await mergeSecretGroup(storedSecretParams, secretPatch, encrypt('parameters'));
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

    return this.integrations.updateIfUnchanged(
      tenantId,
      id,
      current,
      {
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
      },
      { eventId: newEventId(), actor: ctx.actor, requestId: ctx.requestId, details: destinationChanged ? { destinationChanged: true } : {} },
      { eventId: newEventId(), data: { integrationId: id, destinationChanged } },
      m,
    );
  }

  async remove(ctx: RequestContext, tenantId: string, id: string, ifMatch: string | undefined): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const current = await this.integrations.lockById(m, tenantId, id);
      if (!current) throw notFound(tenantId, id);
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
      let decrypted: DecryptedIntegration;
      try {
        decrypted = await this.decrypt(row, connector, metadata);
      } catch (error) {
        if (error instanceof ProblemException && error.problem.type === SECRET_UNAVAILABLE) {
          await this.dataSource.transaction((m) =>
            this.audit.record(m, {
              tenantId,
              actor: ctx.actor,
              action: 'integration.verified',
              resourceType: 'integration',
              resourceId: id,
              outcome: 'failure',
              requestId: ctx.requestId,
              details: { status: 'not_checked', code: 'SECRET_UNAVAILABLE' },
            }),
          );
        }
        throw error;
      }
      result = await this.checks.run(
        connector,
        { parameters: decrypted.parameters, auth, credentials: decrypted.credentials, headers: decrypted.headers, knownHostKey: row.host_key },
        secretValues(decrypted, metadata.parametersMetadata.filter((p) => p.secret).map((p) => p.name)),
      );
    } finally {
      release();
    }
    const hostKey = typeof result.details.hostKeyFingerprint === 'string' && result.status === 'healthy' ? result.details.hostKeyFingerprint : null;
    await this.integrations.recordVerification(
      tenantId,
      id,
      { status: result.status, checkedAt: new Date(result.checkedAt), latencyMs: result.latencyMs, lastError: result.error, hostKey, destinationVersion: row.destination_version },
      { eventId: newEventId(), actor: ctx.actor, requestId: ctx.requestId },
      newEventId(),
    );
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
    let credentials: Record<string, unknown>, headers: Record<string, unknown>, secretParameters: Record<string, unknown>;
    try {
      [credentials, headers, secretParameters] = await Promise.all([open('credentials'), open('headers'), open('parameters')]);
    } catch (error) {
      // A blob copied from another row or tenant, tampered with, or under a removed key: a clear 422, never a 500.
      if (isSecretUnavailable(error)) throw secretUnavailable(error.field);
      throw error;
    }
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
    assertHeaderNames(dto.headers);
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
    const { plain, secret } = splitParameters(metadata.parametersMetadata, dto.parameters ?? {});
    // On create there is nothing stored to keep: the placeholder is not a value.
    for (const [group, values] of [['credentials', dto.credentials], ['headers', dto.headers], ['parameters', secret]] as const) {
      for (const [key, value] of Object.entries(values ?? {})) {
        if (value === REDACTED) errors.push({ field: `${group}.${key}`, message: 'is the "***REDACTED***" placeholder, not a value: nothing is stored to keep' });
      }
    }
    if (errors.length) throw Problems.unprocessable('Some values do not fit this integration\'s configMetadata.', dedupeFieldErrors(errors));
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

class UnsealedValueError extends Error {}

/** Blobs sealed ahead of a transaction, each usable only for the exact value it was made from. */
class SealedValues {
  private readonly entries = new Map<string, { value: unknown; blob: string }>();

  add(group: SecretGroup, key: string, value: unknown, blob: string): void {
    this.entries.set(`${group}\u0000${key}`, { value, blob });
  }

  take(group: SecretGroup, key: string, value: unknown): string {
    const entry = this.entries.get(`${group}\u0000${key}`);
    if (!entry || !sameJson(entry.value, value)) throw new UnsealedValueError();
    return entry.blob;
  }
}

/** Own data property, so a key named __proto__ stays a key. */
function defineKey(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Header names are not secret but must be HTTP tokens; a bad one is malformed on its face (400), and is not echoed. */
function assertHeaderNames(headers: Record<string, unknown> | undefined): void {
  const bad = Object.keys(headers ?? {}).filter((name) => !HEADER_NAME.test(name));
  if (bad.length > 0) throw Problems.validation([{ field: 'headers', message: 'contains a name that is not a valid HTTP header name' }]);
}

