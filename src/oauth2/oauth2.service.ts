import { createHash, randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { CRYPTO, type TenantCrypto } from '../common/crypto/crypto.tokens';
import { newEtag } from '../common/http/etag';
import { ProblemException, Problems } from '../common/http/problem';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { findConnector } from '../connectors/catalog';
import type { AuthMetadata } from '../connectors/connector.types';
import { resolveOAuth2Settings } from '../connectors/definitions/oauth2-client-credentials';
import { ConnectionHealth } from '../connections/connection-health';
import { ConnectionSecrets } from '../connections/connection-secrets';
import { ConnectionsRepository, type ConnectionRow, type HealthError } from '../connections/connections.repository';
import { EventsService } from '../events/events.service';
import { effectiveMetadata } from '../integrations/integration-config';
import { IntegrationsRepository, type IntegrationRow } from '../integrations/integrations.repository';
import { IntegrationsService } from '../integrations/integrations.service';
import { CheckRunner } from '../verification/check-runner.service';
import { OAuth2StatesRepository } from './oauth2-states.repository';
import { exchangeAuthorizationCode, shortCode, TokenRequestError, type OAuth2Client, type TokenRequestOptions, type TokenSet } from './token-client';

/** RFC 6749 §10.12: a state is bound to tenant, connection and user, and lives this long. */
export const STATE_TTL_SECONDS = 600;
/** A token call holds a connection row lock (refresh), so it is kept well under the database's idle-in-transaction limit. */
const MAX_TOKEN_CALL_MS = 10_000;
export const CALLBACK_PATH = '/v1/oauth2/callback';

export interface AuthorizationStart {
  authorizationUrl: string;
  expiresAt: Date;
}

/** The OAuth2 endpoints and client of one connection's auth method: always the integration's. */
export interface ResolvedOAuth2 {
  client: OAuth2Client;
  authorizationUrl: string | null;
  scopes: string | null;
}

export interface CallbackQuery {
  code?: unknown;
  state?: unknown;
  error?: unknown;
  error_description?: unknown;
}

/** The auth method types whose credentials are tokens obtained by the authorization-code flow. */
export function isAuthorizationCode(auth: Pick<AuthMetadata, 'type'> | null | undefined): boolean {
  return auth?.type === 'OAUTH2_AUTHORIZATION_CODE';
}

export function sha256(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/**
 * The authorization-code flow with PKCE (RFC 6749 §4.1, RFC 7636 S256): builds the consent
 * URL with a one-time state, and completes the flow on the callback.
 */
@Injectable()
export class OAuth2Service {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CRYPTO) private readonly crypto: TenantCrypto,
    private readonly states: OAuth2StatesRepository,
    private readonly connections: ConnectionsRepository,
    private readonly secrets: ConnectionSecrets,
    private readonly health: ConnectionHealth,
    private readonly integrations: IntegrationsService,
    private readonly integrationRows: IntegrationsRepository,
    private readonly checks: CheckRunner,
    private readonly audit: AuditService,
    private readonly events: EventsService,
  ) {}

  get redirectUri(): string {
    return `${this.config.publicUrl}${CALLBACK_PATH}`;
  }

  get returnUrl(): string | null {
    return this.config.oauth2ReturnUrl;
  }

  tokenRequestOptions(): TokenRequestOptions {
    return { policy: this.checks.policy, timeoutMs: Math.min(this.config.verify.timeoutMs, MAX_TOKEN_CALL_MS) };
  }

  /**
   * The client id and secret come from the integration's credentials and the endpoints from
   * its parameters: the client secret only ever goes to the token endpoint it was saved with,
   * so a connection cannot point it elsewhere. A connection may narrow `scopes`.
   */
  async resolve(integration: IntegrationRow, connection: Pick<ConnectionRow, 'auth_method' | 'parameters'>): Promise<ResolvedOAuth2> {
    const connector = findConnector(integration.connector);
    if (!connector) throw Problems.unprocessable(`Connector '${integration.connector}' is not in the catalog.`);
    const metadata = effectiveMetadata(integration.config_metadata, connector);
    const auth = metadata.authMetadata.find((a) => a.id === connection.auth_method);
    if (!auth || !isAuthorizationCode(auth)) throw Problems.unprocessable('This connection does not use an OAuth2 authorization-code auth method.', [{ field: 'authMethod', message: 'is not OAUTH2_AUTHORIZATION_CODE' }]);
    const decrypted = await this.integrations.decrypt(integration, connector, metadata);
    const scopesOverride = typeof connection.parameters.scopes === 'string' && connection.parameters.scopes.trim() !== '' ? connection.parameters.scopes : undefined;
    const settings = resolveOAuth2Settings({ ...decrypted.parameters, ...(scopesOverride ? { scopes: scopesOverride } : {}) }, auth);
    const clientId = decrypted.credentials.clientId;
    const clientSecret = decrypted.credentials.clientSecret;
    if (typeof clientId !== 'string' || clientId === '') {
      throw Problems.unprocessable(`Integration '${integration.id}' has no OAuth2 client: set credentials.clientId (and clientSecret) on it first.`, [{ field: 'authMethod', message: 'the integration has no clientId' }]);
    }
    if (!settings.tokenUrl) {
      throw Problems.unprocessable(`Integration '${integration.id}' has no tokenUrl.`, [{ field: 'authMethod', message: 'the integration has no tokenUrl' }]);
    }
    return {
      client: { tokenUrl: settings.tokenUrl, clientId, clientSecret: typeof clientSecret === 'string' && clientSecret !== '' ? clientSecret : null, tokenAuthMethod: settings.tokenAuthMethod },
      authorizationUrl: settings.authorizationUrl,
      scopes: settings.scopes,
    };
  }

  /** Makes a one-time state (stored hashed, with its PKCE verifier encrypted) and the consent URL; in the caller's transaction. */
  async startAuthorization(m: EntityManager, integration: IntegrationRow, connection: ConnectionRow, userId: string): Promise<AuthorizationStart> {
    const resolved = await this.resolve(integration, connection);
    if (!resolved.authorizationUrl) {
      throw Problems.unprocessable(`Integration '${integration.id}' has no authorizationUrl.`, [{ field: 'authMethod', message: 'the integration has no authorizationUrl' }]);
    }
    const state = randomBytes(32).toString('base64url');
    const verifier = randomBytes(48).toString('base64url');
    const challenge = createHash('sha256').update(verifier, 'ascii').digest('base64url');
    const stateHash = sha256(state);
    const expiresAt = new Date(Date.now() + STATE_TTL_SECONDS * 1000);
    await this.states.insert(m, {
      state_hash: stateHash,
      tenant_id: connection.tenant_id,
      connection_id: connection.id,
      user_id: userId,
      code_verifier: await this.crypto.encrypt({ tenantId: connection.tenant_id, resourceType: 'oauth2_state', resourceId: stateHash, field: 'codeVerifier' }, verifier),
      redirect_uri: this.redirectUri,
      expires_at: expiresAt,
    });
    const url = new URL(resolved.authorizationUrl);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', resolved.client.clientId);
    url.searchParams.set('redirect_uri', this.redirectUri);
    if (resolved.scopes) url.searchParams.set('scope', resolved.scopes);
    url.searchParams.set('state', state);
    url.searchParams.set('code_challenge', challenge);
    url.searchParams.set('code_challenge_method', 'S256');
    return { authorizationUrl: url.toString(), expiresAt };
  }

  /** GET /v1/oauth2/callback: consumes the state once, exchanges the code, stores the tokens. */
  async completeAuthorization(query: CallbackQuery, requestId: string): Promise<{ tenantId: string; connectionId: string }> {
    const state = typeof query.state === 'string' ? query.state : '';
    if (!/^[A-Za-z0-9_-]{16,128}$/.test(state)) {
      throw callbackProblem('The callback has no valid state parameter.');
    }
    const stateHash = sha256(state);
    const claimed = await this.states.consume(stateHash);
    if (!claimed) {
      const known = await this.states.findByHash(stateHash);
      if (known) {
        const reason = known.used_at ? 'state_reused' : 'state_expired';
        await this.dataSource.transaction((m) =>
          this.audit.record(m, { tenantId: known.tenant_id, actor: known.user_id, action: 'connection.authorized', resourceType: 'connection', resourceId: known.connection_id, outcome: 'failure', requestId, details: { reason } }),
        );
        throw callbackProblem(reason === 'state_reused' ? 'This authorization state was already used; start the authorization again.' : 'This authorization state has expired; start the authorization again.');
      }
      throw callbackProblem('This authorization state is unknown; start the authorization again.');
    }
    const ref = { tenantId: claimed.tenant_id, connectionId: claimed.connection_id, actor: claimed.user_id, requestId };

    if (query.error !== undefined) {
      const code = shortCode(query.error) ?? 'invalid_error_code';
      await this.recordFailure(ref, { code: 'AUTH_FAILED', message: `authorization failed: ${code}` }, { providerError: code });
      throw callbackProblem(`The provider did not authorize the connection (${code}).`);
    }
    const code = typeof query.code === 'string' && query.code.length > 0 && query.code.length <= 2048 ? query.code : null;
    if (!code) {
      await this.recordFailure(ref, { code: 'AUTH_FAILED', message: 'authorization failed: the callback carried no code' }, { providerError: null });
      throw callbackProblem('The callback has no authorization code.');
    }

    const connection = await this.connections.findById(claimed.tenant_id, claimed.connection_id);
    const integration = connection ? await this.integrationRows.findById(connection.tenant_id, connection.integration_id) : null;
    if (!connection || !integration) throw callbackProblem('The connection this authorization was for no longer exists.');

    let tokens: TokenSet;
    try {
      const resolved = await this.resolve(integration, connection);
      const verifier = await this.crypto.decrypt({ tenantId: claimed.tenant_id, resourceType: 'oauth2_state', resourceId: stateHash, field: 'codeVerifier' }, claimed.code_verifier);
      tokens = await exchangeAuthorizationCode(resolved.client, { code, redirectUri: claimed.redirect_uri, codeVerifier: String(verifier) }, this.tokenRequestOptions());
    } catch (error) {
      const failure = describeFailure(error);
      await this.recordFailure(ref, { code: failure.code, message: `authorization failed: ${failure.message}` }, { providerError: failure.oauthError });
      throw callbackProblem(`The authorization code could not be exchanged for tokens (${failure.oauthError ?? failure.code}).`);
    }

    await this.dataSource.transaction(async (m) => {
      const locked = await this.connections.lockById(m, claimed.tenant_id, claimed.connection_id);
      if (!locked) throw callbackProblem('The connection this authorization was for no longer exists.');
      const credentials: Record<string, unknown> = { accessToken: tokens.accessToken };
      if (tokens.refreshToken) credentials.refreshToken = tokens.refreshToken;
      if (tokens.expiresAt) credentials.expiresAt = tokens.expiresAt.toISOString();
      const blobs = await this.secrets.encryptGroup(locked.tenant_id, locked.id, 'credentials', credentials);
      await this.connections.storeTokens(m, locked.tenant_id, locked.id, {
        secrets: { ...locked.secrets, credentials: blobs },
        tokenExpiresAt: tokens.expiresAt,
        integrationDestinationVersion: integration.destination_version,
        etag: newEtag(),
      });
      await this.health.record(m, { tenantId: locked.tenant_id, connectionId: locked.id, integrationId: locked.integration_id }, { status: 'healthy', checkedAt: new Date(), latencyMs: null, lastError: null });
      await this.audit.record(m, { tenantId: locked.tenant_id, actor: ref.actor, action: 'connection.authorized', resourceType: 'connection', resourceId: locked.id, outcome: 'success', requestId, details: { refreshToken: tokens.refreshToken !== null } });
      await this.events.emit(m, locked.tenant_id, 'connection.authorization_completed', { connectionId: locked.id, integrationId: locked.integration_id });
    });
    return { tenantId: claimed.tenant_id, connectionId: claimed.connection_id };
  }

  /** A failed authorization is recorded on the connection the state named: unhealthy, with an audit event. */
  private async recordFailure(ref: { tenantId: string; connectionId: string; actor: string; requestId: string }, error: HealthError, details: Record<string, unknown>): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const connection = await this.connections.lockById(m, ref.tenantId, ref.connectionId);
      if (!connection) return;
      await this.health.record(m, { tenantId: ref.tenantId, connectionId: ref.connectionId, integrationId: connection.integration_id }, { status: 'unhealthy', checkedAt: new Date(), latencyMs: null, lastError: error });
      await this.audit.record(m, { tenantId: ref.tenantId, actor: ref.actor, action: 'connection.authorized', resourceType: 'connection', resourceId: ref.connectionId, outcome: 'failure', requestId: ref.requestId, details: { code: error.code, ...details } });
    });
  }
}

function describeFailure(error: unknown): { code: string; message: string; oauthError: string | null } {
  if (error instanceof TokenRequestError) return { code: error.code, message: error.message, oauthError: error.oauthError };
  if (error instanceof ProblemException) return { code: 'CONFIG_INVALID', message: 'the integration\'s OAuth2 client is not configured', oauthError: null };
  return { code: 'UPSTREAM_ERROR', message: 'the token exchange failed unexpectedly', oauthError: null };
}

function callbackProblem(detail: string): ProblemException {
  return new ProblemException({ status: 400, type: 'oauth2-callback-failed', title: 'Authorization failed', detail });
}
