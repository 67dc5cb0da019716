import { Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { ProblemException } from '../common/http/problem';
import { ConnectionHealth } from '../connections/connection-health';
import { ConnectionSecrets } from '../connections/connection-secrets';
import { ConnectionsRepository, type ConnectionRow, type HealthError } from '../connections/connections.repository';
import { EventsService } from '../events/events.service';
import type { IntegrationRow } from '../integrations/integrations.repository';
import { OAuth2Service } from './oauth2.service';
import { refreshAccessToken, TokenRequestError, type TokenSet } from './token-client';

/** A token expiring within this margin is refreshed before it is used. */
export const REFRESH_MARGIN_MS = 60_000;

export type Freshness =
  | { ok: true; credentials: Record<string, unknown>; refreshed: boolean }
  | { ok: false; error: HealthError; credentials: Record<string, unknown> };

export interface RefreshActor {
  actor: string;
  requestId: string | null;
}

/** Providers word refresh-token reuse detection differently; any of these in error_description hints at a leaked token. */
const REUSE_HINT = /\b(re-?used|already (been )?used|reuse|replay(ed)?)\b/i;

function hasRefreshToken(row: Pick<ConnectionRow, 'secrets'>): boolean {
  return Object.hasOwn(row.secrets.credentials ?? {}, 'refreshToken');
}

export function needsRefresh(row: Pick<ConnectionRow, 'token_expires_at'>, now = Date.now()): boolean {
  return row.token_expires_at !== null && row.token_expires_at.getTime() - now <= REFRESH_MARGIN_MS;
}

/**
 * Refreshes authorization-code access tokens, single-flight across any number of
 * instances: the refresher locks the connection row (SELECT … FOR UPDATE), and whoever
 * gets the lock second sees a new credentials_version and uses the stored token
 * instead of calling the token endpoint again.
 */
@Injectable()
export class TokenRefresher {
  private readonly logger = new Logger(TokenRefresher.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly connections: ConnectionsRepository,
    private readonly secrets: ConnectionSecrets,
    private readonly health: ConnectionHealth,
    private readonly oauth2: OAuth2Service,
    private readonly audit: AuditService,
    private readonly events: EventsService,
  ) {}

  /** The credentials to call with: the stored ones, or fresh ones when the access token is about to expire. */
  async ensureFresh(connection: ConnectionRow, integration: IntegrationRow, who: RefreshActor): Promise<Freshness> {
    if (!needsRefresh(connection) || !hasRefreshToken(connection)) return this.useStored(connection, await this.secrets.decryptGroup(connection, 'credentials'), null);
    return this.dataSource.transaction(async (m) => {
      const locked = await this.connections.lockById(m, connection.tenant_id, connection.id);
      if (!locked) return { ok: false, error: { code: 'CONFIG_INVALID', message: 'the connection no longer exists' }, credentials: {} };
      if (locked.credentials_version !== connection.credentials_version || !needsRefresh(locked)) {
        // Someone refreshed (or re-authorized) while we waited for the lock.
        return this.useStored(locked, await this.secrets.decryptGroup(locked, 'credentials'), null);
      }
      if (locked.refresh_failures > 0 && locked.next_refresh_at !== null && locked.next_refresh_at.getTime() > Date.now()) {
        return this.useStored(locked, await this.secrets.decryptGroup(locked, 'credentials'), locked.health_last_error ?? { code: 'UPSTREAM_ERROR', message: 'token refresh is backing off after a failure' });
      }
      return this.refreshLocked(m, locked, integration, who);
    });
  }

  /**
   * Calls the token endpoint for a row the caller holds locked, and stores the outcome in the
   * caller's transaction: new tokens (credentials_version + 1), a dead refresh token
   * (invalid_grant), or a back-off after a transient failure.
   */
  async refreshLocked(m: EntityManager, locked: ConnectionRow, integration: IntegrationRow, who: RefreshActor): Promise<Freshness> {
    const stored = await this.secrets.decryptGroup(locked, 'credentials');
    const refreshToken = stored.refreshToken;
    if (typeof refreshToken !== 'string' || refreshToken === '') return this.useStored(locked, stored, null);
    const ref = { tenantId: locked.tenant_id, connectionId: locked.id, integrationId: locked.integration_id };

    let tokens: TokenSet;
    try {
      const resolved = await this.oauth2.resolve(integration, locked);
      tokens = await refreshAccessToken(resolved.client, refreshToken, this.oauth2.tokenRequestOptions());
    } catch (error) {
      if (error instanceof TokenRequestError && error.oauthError === 'invalid_grant') {
        const failure: HealthError = { code: 'AUTH_FAILED', message: 'token refresh failed (invalid_grant): the refresh token was rejected; authorize the connection again' };
        const possibleTokenLeak = error.oauthErrorDescription !== null && REUSE_HINT.test(error.oauthErrorDescription);
        const remaining = Object.fromEntries(Object.entries(locked.secrets.credentials ?? {}).filter(([key]) => key !== 'refreshToken'));
        await this.connections.dropRefreshToken(m, locked.tenant_id, locked.id, { ...locked.secrets, credentials: remaining });
        await this.health.record(m, ref, { status: 'unhealthy', checkedAt: new Date(), latencyMs: null, lastError: failure });
        await this.audit.record(m, {
          tenantId: locked.tenant_id,
          actor: who.actor,
          action: 'connection.token_refresh_failed',
          resourceType: 'connection',
          resourceId: locked.id,
          outcome: 'failure',
          requestId: who.requestId,
          details: { code: 'invalid_grant', ...(possibleTokenLeak ? { possibleTokenLeak: true } : {}) },
        });
        await this.events.emit(m, locked.tenant_id, 'connection.token_refresh_failed', { connectionId: locked.id, integrationId: locked.integration_id, errorCode: 'invalid_grant' });
        return { ok: false, error: failure, credentials: {} };
      }
      const failure: HealthError =
        error instanceof TokenRequestError
          ? { code: error.code, message: `token refresh failed: ${error.message}` }
          : error instanceof ProblemException
            ? { code: 'CONFIG_INVALID', message: 'token refresh failed: the integration\'s OAuth2 client is not configured' }
            : { code: 'UPSTREAM_ERROR', message: 'token refresh failed unexpectedly' };
      if (!(error instanceof TokenRequestError) && !(error instanceof ProblemException)) this.logger.warn({ errorName: error instanceof Error ? error.name : 'unknown' }, 'token refresh threw');
      const backoff = await this.connections.recordRefreshBackoff(m, locked.tenant_id, locked.id);
      await this.audit.record(m, {
        tenantId: locked.tenant_id,
        actor: who.actor,
        action: 'connection.token_refresh_failed',
        resourceType: 'connection',
        resourceId: locked.id,
        outcome: 'failure',
        requestId: who.requestId,
        details: { code: failure.code, transient: true, failures: backoff.failures, nextRefreshAt: backoff.nextRefreshAt.toISOString() },
      });
      return this.useStored(locked, stored, failure);
    }

    const credentials: Record<string, unknown> = { ...stored, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken ?? refreshToken };
    if (tokens.expiresAt) credentials.expiresAt = tokens.expiresAt.toISOString();
    else delete credentials.expiresAt;
    const blobs = await this.secrets.encryptGroup(locked.tenant_id, locked.id, 'credentials', credentials);
    await this.connections.storeTokens(m, locked.tenant_id, locked.id, { secrets: { ...locked.secrets, credentials: blobs }, tokenExpiresAt: tokens.expiresAt });
    await this.audit.record(m, {
      tenantId: locked.tenant_id,
      actor: who.actor,
      action: 'connection.token_refreshed',
      resourceType: 'connection',
      resourceId: locked.id,
      outcome: 'success',
      requestId: who.requestId,
      details: { refreshTokenRotated: tokens.refreshToken !== null && tokens.refreshToken !== refreshToken },
    });
    return { ok: true, credentials, refreshed: true };
  }

  /**
   * The stored token is still usable if it has not expired yet; otherwise the failure stands.
   * An expired token with no refresh token left keeps answering the error that killed it
   * (invalid_grant), so the connection says why it needs a new authorization.
   */
  private useStored(row: ConnectionRow, credentials: Record<string, unknown>, failure: HealthError | null): Freshness {
    const expired = row.token_expires_at !== null && row.token_expires_at.getTime() <= Date.now();
    if (!expired) return { ok: true, credentials, refreshed: false };
    if (failure) return { ok: false, error: failure, credentials };
    if (typeof credentials.refreshToken !== 'string') {
      const error = row.health_last_error?.code === 'AUTH_FAILED' ? row.health_last_error : { code: 'AUTH_FAILED', message: 'the access token expired and there is no refresh token: authorize the connection again' };
      return { ok: false, error, credentials };
    }
    return { ok: true, credentials, refreshed: false };
  }
}
