import { CheckError, type CheckErrorCode } from '../common/outbound/check-error';
import { outboundRequest, type OutboundResponse } from '../common/outbound/http-client';
import type { OutboundPolicy } from '../common/outbound/outbound-policy';
import type { TokenAuthMethod } from '../connectors/definitions/oauth2-client-credentials';

/** Where and as whom the service talks to an authorization server: always the integration's, never a connection's. */
export interface OAuth2Client {
  tokenUrl: string;
  clientId: string;
  /** Null for a public client (PKCE only): then client_id goes in the form. */
  clientSecret: string | null;
  tokenAuthMethod: TokenAuthMethod;
}

export interface TokenSet {
  accessToken: string;
  /** Null when the server did not send one (a refresh reply may keep the old one). */
  refreshToken: string | null;
  expiresAt: Date | null;
  scope: string | null;
}

/**
 * Why a token request failed. `oauth`: the server answered an RFC 6749 §5.2 error (its
 * code is kept, its description only tested, never stored: it is free text). `transient`:
 * network trouble, a timeout, 5xx or 429, worth retrying. `config`: nothing to retry
 * until someone changes the configuration (bad URL, blocked destination).
 */
export class TokenRequestError extends Error {
  constructor(
    readonly kind: 'oauth' | 'transient' | 'config',
    readonly code: CheckErrorCode,
    message: string,
    readonly oauthError: string | null = null,
    readonly oauthErrorDescription: string | null = null,
  ) {
    super(message);
    this.name = 'TokenRequestError';
  }
}

const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

export interface TokenRequestOptions {
  policy: OutboundPolicy;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5). */
export function exchangeAuthorizationCode(client: OAuth2Client, grant: { code: string; redirectUri: string; codeVerifier: string }, options: TokenRequestOptions): Promise<TokenSet> {
  return requestToken(client, { grant_type: 'authorization_code', code: grant.code, redirect_uri: grant.redirectUri, code_verifier: grant.codeVerifier }, options);
}

/** RFC 6749 §6. */
export function refreshAccessToken(client: OAuth2Client, refreshToken: string, options: TokenRequestOptions): Promise<TokenSet> {
  return requestToken(client, { grant_type: 'refresh_token', refresh_token: refreshToken }, options);
}

/** One form-encoded POST to the token endpoint, no redirects followed (they would carry the client secret elsewhere). */
async function requestToken(client: OAuth2Client, fields: Record<string, string>, options: TokenRequestOptions): Promise<TokenSet> {
  const form = new URLSearchParams(fields);
  const headers: Record<string, string> = {
    'Content-Type': 'application/x-www-form-urlencoded',
    Accept: 'application/json',
    'User-Agent': 'Switchboard/1',
  };
  if (client.clientSecret === null) {
    form.set('client_id', client.clientId);
  } else if (client.tokenAuthMethod === 'client_secret_post') {
    form.set('client_id', client.clientId);
    form.set('client_secret', client.clientSecret);
  } else {
    headers.Authorization = `Basic ${Buffer.from(`${formEncode(client.clientId)}:${formEncode(client.clientSecret)}`, 'utf8').toString('base64')}`;
  }

  let response: OutboundResponse;
  try {
    response = await outboundRequest(options.policy, {
      url: client.tokenUrl,
      method: 'POST',
      headers,
      body: form.toString(),
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      maxRedirects: 0,
      maxResponseBytes: MAX_TOKEN_RESPONSE_BYTES,
    });
  } catch (err) {
    if (err instanceof CheckError || (err as { name?: string })?.name === 'CheckError') {
      const e = err as CheckError;
      const kind = e.code === 'CONFIG_INVALID' || e.code === 'BLOCKED_DESTINATION' ? 'config' : 'transient';
      throw new TokenRequestError(kind, e.code, `token endpoint: ${e.message}`);
    }
    throw new TokenRequestError('transient', 'UPSTREAM_ERROR', 'token endpoint: the request failed');
  }

  const reply = parseReply(response);
  const errorCode = shortCode(reply.error);
  const ok = response.status >= 200 && response.status < 300;
  if (!ok || reply.error !== undefined) {
    if (response.status >= 500 || response.status === 429) {
      throw new TokenRequestError('transient', 'UPSTREAM_ERROR', `token endpoint answered ${response.status}${errorCode ? ` (${errorCode})` : ''}`);
    }
    if (errorCode) {
      const description = typeof reply.error_description === 'string' ? reply.error_description.slice(0, 500) : null;
      const code: CheckErrorCode = errorCode === 'invalid_scope' || errorCode === 'unsupported_grant_type' ? 'CONFIG_INVALID' : 'AUTH_FAILED';
      throw new TokenRequestError('oauth', code, `token endpoint refused the grant (${errorCode})`, errorCode, description);
    }
    const code: CheckErrorCode = response.status === 401 || response.status === 403 ? 'AUTH_FAILED' : 'UPSTREAM_ERROR';
    throw new TokenRequestError('oauth', code, `token endpoint answered ${response.status}`);
  }

  const accessToken = typeof reply.access_token === 'string' ? reply.access_token : '';
  if (!accessToken) throw new TokenRequestError('transient', 'UPSTREAM_ERROR', 'token endpoint answered without an access_token');
  const expiresIn = Number(reply.expires_in);
  const hasExpiry = reply.expires_in !== undefined && reply.expires_in !== null && reply.expires_in !== '' && Number.isFinite(expiresIn) && expiresIn >= 0;
  return {
    accessToken,
    refreshToken: typeof reply.refresh_token === 'string' && reply.refresh_token !== '' ? reply.refresh_token : null,
    expiresAt: hasExpiry ? new Date(Date.now() + expiresIn * 1000) : null,
    scope: typeof reply.scope === 'string' ? reply.scope : null,
  };
}

/** application/x-www-form-urlencoded encoding, as RFC 6749 §2.3.1 asks of the Basic pair. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/** Token endpoints answer JSON; some (GitHub without Accept) answer a form. */
function parseReply(response: OutboundResponse): Record<string, unknown> {
  const key = Object.keys(response.headers).find((name) => name.toLowerCase() === 'content-type');
  const raw = key === undefined ? undefined : response.headers[key];
  const type = (Array.isArray(raw) ? (raw[0] ?? '') : (raw ?? '')).toLowerCase();
  const text = response.body.toString('utf8');
  if (type.includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(text));
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** A provider error code only if it looks like one (RFC 6749 codes are short tokens): never free text. */
export function shortCode(value: unknown): string | null {
  return typeof value === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(value) ? value : null;
}
