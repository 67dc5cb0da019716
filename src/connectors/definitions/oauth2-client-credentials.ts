import { CheckError } from '../../common/outbound/check-error';
import { outboundRequest, type OutboundResponse } from '../../common/outbound/http-client';
import type { OutboundPolicy } from '../../common/outbound/outbound-policy';
import type { OutboundConnections } from '../../common/outbound/connection-pool';
import type { AuthMetadata } from '../connector.types';

export const TOKEN_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;
export type TokenAuthMethod = (typeof TOKEN_AUTH_METHODS)[number];

/** The OAuth2 endpoints and scopes one integration uses, however they were configured. */
export interface OAuth2Settings {
  tokenUrl: string | null;
  authorizationUrl: string | null;
  /** Space-separated, as sent in `scope`. */
  scopes: string | null;
  tokenAuthMethod: TokenAuthMethod;
}

/**
 * Each setting comes from the integration's parameter when set, else from the auth
 * method's `authSettings.parameters` (where presets keep per-method defaults such as
 * Microsoft Graph's `.default` scope for client credentials).
 */
export function resolveOAuth2Settings(parameters: Record<string, unknown>, auth: Pick<AuthMetadata, 'authSettings'>): OAuth2Settings {
  const defaults = auth.authSettings?.parameters ?? {};
  const pick = (name: string): string | null => nonEmpty(parameters[name]) ?? nonEmpty(defaults[name]);
  const method = pick('tokenAuthMethod');
  return {
    tokenUrl: pick('tokenUrl'),
    authorizationUrl: pick('authorizationUrl'),
    scopes: pick('scopes'),
    tokenAuthMethod: method === 'client_secret_post' ? 'client_secret_post' : 'client_secret_basic',
  };
}

export interface ClientCredentialsRequest {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** Space-separated scopes; omitted from the request when empty. */
  scopes?: string | null;
  tokenAuthMethod?: TokenAuthMethod;
  outbound: OutboundPolicy;
  /** Keep-alive connections to reuse: a client-credentials grant is safe to request twice. */
  connections?: OutboundConnections;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface ClientCredentialsToken {
  accessToken: string;
  tokenType: string;
  /** Seconds, as the token endpoint said; null when it did not say. */
  expiresIn: number | null;
  expiresAt: Date | null;
  /** Granted scopes: the reply's `scope`, else (RFC 6749 §5.1) the requested ones. */
  scopes: string[];
}

const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

/**
 * Runs the client-credentials grant (RFC 6749 §4.4): one form-encoded POST, client
 * authentication per `tokenAuthMethod`, no redirects followed (they would carry the
 * client secret elsewhere). Throws CheckError; messages hold at most the provider's
 * short error code.
 */
export async function fetchClientCredentialsToken(request: ClientCredentialsRequest): Promise<ClientCredentialsToken> {
  const tokenUrl = parseHttpUrl(request.tokenUrl);
  if (!tokenUrl) throw new CheckError('CONFIG_INVALID', 'tokenUrl is not a valid http(s) URL');
  if (!request.clientId || !request.clientSecret) {
    throw new CheckError('CONFIG_INVALID', 'credentials clientId and clientSecret are required');
  }
  const details = { tokenUrl: urlWithoutQuery(tokenUrl) };

  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  const scopes = request.scopes?.trim() ?? '';
  if (scopes) form.set('scope', scopes);
  const headers: Record<string, string> = {
    'Content-Type': 'application/x-www-form-urlencoded',
    Accept: 'application/json',
    'User-Agent': 'Switchboard/1',
  };
  if ((request.tokenAuthMethod ?? 'client_secret_basic') === 'client_secret_post') {
    form.set('client_id', request.clientId);
    form.set('client_secret', request.clientSecret);
  } else {
    const pair = `${formEncode(request.clientId)}:${formEncode(request.clientSecret)}`;
    headers.Authorization = `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
  }

  const response = await outboundRequest(request.outbound, {
    url: tokenUrl.toString(),
    method: 'POST',
    headers,
    body: form.toString(),
    timeoutMs: request.timeoutMs,
    signal: request.signal,
    maxRedirects: 0,
    maxResponseBytes: MAX_TOKEN_RESPONSE_BYTES,
    connections: request.connections,
  });

  const reply = parseTokenReply(response.body, contentType(response.headers));
  const errorCode = shortCode(reply.error);
  const ok = response.status >= 200 && response.status < 300;
  if (!ok || reply.error !== undefined) {
    const suffix = errorCode ? ` (${errorCode})` : '';
    const withStatus = { ...details, httpStatus: response.status };
    if (
      errorCode === 'invalid_client' ||
      errorCode === 'unauthorized_client' ||
      (!errorCode && (response.status === 401 || response.status === 403))
    ) {
      throw new CheckError('AUTH_FAILED', `token endpoint rejected the client credentials${suffix}`, withStatus);
    }
    if (errorCode === 'invalid_scope') {
      throw new CheckError('CONFIG_INVALID', `token endpoint rejected the requested scopes${suffix}`, withStatus);
    }
    throw new CheckError('UPSTREAM_ERROR', `token endpoint answered ${response.status}${suffix}`, withStatus);
  }

  const accessToken = typeof reply.access_token === 'string' ? reply.access_token : '';
  if (!accessToken) {
    throw new CheckError('UPSTREAM_ERROR', 'token endpoint answered without an access_token', {
      ...details,
      httpStatus: response.status,
    });
  }
  const expiresIn = Number(reply.expires_in);
  const hasExpiry = reply.expires_in !== undefined && reply.expires_in !== null && Number.isFinite(expiresIn);
  const granted = typeof reply.scope === 'string' ? reply.scope : scopes;
  return {
    accessToken,
    tokenType: typeof reply.token_type === 'string' && reply.token_type ? reply.token_type : 'Bearer',
    expiresIn: hasExpiry ? expiresIn : null,
    expiresAt: hasExpiry ? new Date(Date.now() + expiresIn * 1000) : null,
    scopes: granted.split(/[\s,]+/).filter(Boolean),
  };
}

/** application/x-www-form-urlencoded encoding, as RFC 6749 §2.3.1 asks of the Basic pair. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/** Token endpoints answer JSON; some (GitHub without Accept) answer a form. */
function parseTokenReply(body: Buffer, type: string): Record<string, unknown> {
  const text = body.toString('utf8');
  if (type.includes('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(text));
  }
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** A provider error code only if it looks like one (RFC 6749 error codes are short tokens). */
function shortCode(value: unknown): string | null {
  return typeof value === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(value) ? value : null;
}

function contentType(headers: OutboundResponse['headers']): string {
  const key = Object.keys(headers).find((name) => name.toLowerCase() === 'content-type');
  const value = key === undefined ? undefined : headers[key];
  return (Array.isArray(value) ? (value[0] ?? '') : (value ?? '')).toLowerCase();
}

function parseHttpUrl(value: string): URL | null {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}

function urlWithoutQuery(url: URL): string {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.protocol}//${url.hostname}:${port}${url.pathname}`;
}

function nonEmpty(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
}
