import { CHECK_ERROR_CODES, CheckError, type CheckErrorCode } from '../../common/outbound/check-error';
import { outboundRequest, type OutboundResponse } from '../../common/outbound/http-client';
import type { AuthMetadata, CheckContext, CheckOutcome, ConnectorDefinition } from '../connector.types';
import { auth, param, params } from '../metadata-builders';
import { fetchClientCredentialsToken, resolveOAuth2Settings, TOKEN_AUTH_METHODS } from './oauth2-client-credentials';

type ParamInput = Parameters<typeof param>[1];

/** What the engine is about to send; a `sign` hook sees it whole. */
export interface HttpCheckRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

/** What came back from the test call, with helpers presets use to read it. */
export interface HttpCheckResponse {
  status: number;
  body: Buffer;
  /** A response header (case-insensitive), first value if repeated. */
  header(name: string): string | undefined;
  /** The body as a JSON object, or undefined when it is not one. */
  json(): Record<string, unknown> | undefined;
}

/** A preset's reading of a 2xx reply: extra details, and an error when the vendor says "no" inside a 200. */
export interface HttpCheckInspection {
  error?: CheckOutcome['error'];
  details?: Record<string, unknown>;
}

export interface HttpCheckOptions {
  /** Used when neither `ctx.serverUrl` nor the `baseUrl` parameter is set. May throw CheckError. */
  defaultBaseUrl?: (ctx: CheckContext) => string | null;
  /** Path (and query) appended to the base URL; default: the `testPath` parameter, else `/`. */
  path?: (ctx: CheckContext) => string;
  /** Default: the `testMethod` parameter, else GET. */
  method?: (ctx: CheckContext) => string;
  body?: (ctx: CheckContext) => { contentType: string; content: string } | null;
  /** Request headers of the vendor (Accept, API version); extra headers and auth override them. */
  headers?: Record<string, string>;
  /**
   * How an API_KEY credential is sent. Default: the credential `apiKey`, in the query
   * parameter named by `queryParam` when set, else in the header named by `headerName`.
   */
  apiKey?: { field?: string; header: string; prefix?: string };
  /** Credential names of a BASIC method; default `username` / `password`. */
  basic?: { usernameField: string; passwordField: string };
  /** Replaces the built-in auth: returns the headers that authenticate this exact request (SigV4). */
  sign?: (request: HttpCheckRequest, ctx: CheckContext) => Record<string, string>;
  /** Reads a 2xx reply; without it every 2xx is healthy. Null or undefined detail values are dropped. */
  inspect?: (response: HttpCheckResponse, ctx: CheckContext) => HttpCheckInspection;
  maxResponseBytes?: number;
}

const DEFAULT_HEADERS: Record<string, string> = {
  'User-Agent': 'Switchboard/1',
  Accept: 'application/json, */*;q=0.5',
};
const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
const TEST_METHODS = ['GET', 'HEAD', 'POST'];
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The HTTP check engine: one authenticated request to (server URL or base URL) + path,
 * 2xx healthy, 401/403 AUTH_FAILED, anything else UPSTREAM_ERROR. Never throws; never
 * puts an upstream body or a credential in a message.
 */
export function buildHttpCheck(options: HttpCheckOptions = {}): (ctx: CheckContext) => Promise<CheckOutcome> {
  return async (ctx) => {
    const deadline = Date.now() + ctx.timeoutMs;
    const details: Record<string, unknown> = {};
    try {
      const url = resolveUrl(ctx, options);
      details.url = urlForDetails(url);
      const method = (options.method?.(ctx) ?? stringParam(ctx, 'testMethod') ?? 'GET').toUpperCase();
      if (!options.method && !TEST_METHODS.includes(method)) {
        throw new CheckError('CONFIG_INVALID', 'testMethod must be one of GET, HEAD, POST');
      }
      const payload = options.body?.(ctx) ?? null;
      const request: HttpCheckRequest = {
        method,
        url,
        headers: mergeHeaders(DEFAULT_HEADERS, options.headers ?? {}, checkedExtraHeaders(ctx.headers)),
        body: payload?.content,
      };
      if (payload) setHeader(request.headers, 'Content-Type', payload.contentType);

      if (options.sign) {
        Object.assign(request.headers, checkedHeaders(options.sign(request, ctx)));
      } else {
        Object.assign(details, await applyAuth(request, ctx, options, remaining(deadline)));
      }

      const response = await outboundRequest(ctx.outbound, {
        url: request.url.toString(),
        method: request.method,
        headers: request.headers,
        body: request.body ?? (request.method === 'POST' ? '' : undefined),
        timeoutMs: remaining(deadline),
        signal: ctx.signal,
        maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
        connections: ctx.connections,
      });
      details.httpStatus = response.status;
      details.url = urlForDetails(new URL(response.url || request.url.toString()));

      if (response.status === 401 || response.status === 403) {
        return unhealthy('AUTH_FAILED', `upstream rejected the credentials (HTTP ${response.status})`, details);
      }
      if (response.status < 200 || response.status >= 300) {
        return unhealthy('UPSTREAM_ERROR', `upstream answered ${response.status}`, details);
      }
      const inspection = options.inspect?.(wrapResponse(response), ctx) ?? {};
      for (const [name, value] of Object.entries(inspection.details ?? {})) {
        if (value !== null && value !== undefined) details[name] = value;
      }
      if (inspection.error) return unhealthy(inspection.error.code, inspection.error.message, details);
      return { status: 'healthy', error: null, details };
    } catch (err) {
      if (isCheckError(err)) return unhealthy(err.code, err.message, { ...err.details, ...details });
      return unhealthy('UPSTREAM_ERROR', 'the check failed unexpectedly', details);
    }
  };
}

/** Adds the credentials of `ctx.auth` to the request; returns details about them (token type, scopes). */
async function applyAuth(
  request: HttpCheckRequest,
  ctx: CheckContext,
  options: HttpCheckOptions,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const type = ctx.auth.type;
  switch (type) {
    case 'NONE':
      return {};
    case 'API_KEY': {
      const field = options.apiKey?.field ?? 'apiKey';
      const key = requireCredential(ctx, field);
      if (options.apiKey) {
        setHeader(request.headers, options.apiKey.header, headerValue(`${options.apiKey.prefix ?? ''}${key}`, field));
        return {};
      }
      const queryParam = stringParam(ctx, 'queryParam');
      if (queryParam) {
        request.url.searchParams.set(queryParam, key);
        return {};
      }
      const headerName = stringParam(ctx, 'headerName') ?? 'X-API-Key';
      if (!HEADER_NAME.test(headerName)) throw new CheckError('CONFIG_INVALID', 'headerName is not a valid header name');
      setHeader(request.headers, headerName, headerValue(key, field));
      return {};
    }
    case 'BEARER':
      setHeader(request.headers, 'Authorization', `Bearer ${headerValue(requireCredential(ctx, 'token'), 'token')}`);
      return {};
    case 'BASIC': {
      const fields = options.basic ?? { usernameField: 'username', passwordField: 'password' };
      const pair = `${requireCredential(ctx, fields.usernameField)}:${requireCredential(ctx, fields.passwordField)}`;
      setHeader(request.headers, 'Authorization', `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`);
      return {};
    }
    case 'OAUTH2_AUTHORIZATION_CODE': {
      const accessToken = ctx.credentials.accessToken;
      if (typeof accessToken !== 'string' || accessToken === '') {
        throw new CheckError('CONFIG_INVALID', 'connection is not authorized yet');
      }
      setHeader(request.headers, 'Authorization', `Bearer ${headerValue(accessToken, 'accessToken')}`);
      return {};
    }
    case 'OAUTH2_CLIENT_CREDENTIALS': {
      const settings = resolveOAuth2Settings(ctx.parameters, ctx.auth);
      if (!settings.tokenUrl) throw new CheckError('CONFIG_INVALID', 'tokenUrl is required for OAuth2 client credentials');
      const token = await fetchClientCredentialsToken({
        tokenUrl: settings.tokenUrl,
        clientId: requireCredential(ctx, 'clientId'),
        clientSecret: requireCredential(ctx, 'clientSecret'),
        scopes: settings.scopes,
        tokenAuthMethod: settings.tokenAuthMethod,
        outbound: ctx.outbound,
        connections: ctx.connections,
        timeoutMs,
        signal: ctx.signal,
      });
      setHeader(request.headers, 'Authorization', `Bearer ${headerValue(token.accessToken, 'access_token')}`);
      return { tokenType: token.tokenType, scopes: token.scopes };
    }
    case 'USER_PASSWORD':
    case 'KEY_FILE':
    case 'CONNECTION_STRING':
      throw new CheckError('CONFIG_INVALID', `auth type ${type} is not supported by this connector`);
  }
}

function resolveUrl(ctx: CheckContext, options: HttpCheckOptions): URL {
  const base = nonEmpty(ctx.serverUrl) ?? stringParam(ctx, 'baseUrl') ?? options.defaultBaseUrl?.(ctx) ?? null;
  if (!base) throw new CheckError('CONFIG_INVALID', 'baseUrl is required');
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new CheckError('CONFIG_INVALID', 'baseUrl is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CheckError('CONFIG_INVALID', 'baseUrl must be an http(s) URL');
  }
  if (url.username || url.password) {
    throw new CheckError('CONFIG_INVALID', 'baseUrl must not carry credentials; use an auth method');
  }
  url.hash = '';
  return joinPath(url, options.path?.(ctx) ?? stringParam(ctx, 'testPath') ?? '/');
}

/**
 * Appends a path (and its query) to the base URL's path. The path never changes the
 * host: `https://evil.example/` as a test path is only a path here.
 */
export function joinPath(base: URL, path: string): URL {
  const url = new URL(base.toString());
  if (path === '') return url;
  const queryAt = path.indexOf('?');
  const pathPart = queryAt === -1 ? path : path.slice(0, queryAt);
  const query = queryAt === -1 ? '' : path.slice(queryAt + 1);
  const basePath = url.pathname.replace(/\/+$/, '');
  url.pathname = `${basePath}/${pathPart.replace(/^\/+/, '')}`;
  for (const [key, value] of new URLSearchParams(query)) url.searchParams.append(key, value);
  return url;
}

/** `scheme://host:port/path`: no credentials, no query (an API key may sit there), no fragment. */
export function urlForDetails(url: URL): string {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.protocol}//${url.hostname}:${port}${url.pathname}`;
}

/** A short vendor error code (Slack's `invalid_auth`), or null when the value is anything else. */
export function shortCode(value: unknown): string | null {
  return typeof value === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(value) ? value : null;
}

/** A non-secret string fact for details, cut to a sane length; null when absent. */
export function detailString(value: unknown, max = 200): string | null {
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' && value !== '' ? value.slice(0, max) : null;
}

/** A comma- or space-separated scope header (GitHub's `X-OAuth-Scopes`, Slack's `x-oauth-scopes`) as a list. */
export function scopeList(value: string | undefined): string[] | null {
  return value === undefined ? null : value.split(/[\s,]+/).filter(Boolean);
}

/** By shape too: a CheckError from another copy of the module (test runners' registries) is still one. */
function isCheckError(err: unknown): err is CheckError {
  if (err instanceof CheckError) return true;
  const candidate = err as Partial<CheckError> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    candidate.name === 'CheckError' &&
    CHECK_ERROR_CODES.includes(candidate.code as CheckErrorCode) &&
    typeof candidate.message === 'string'
  );
}

function unhealthy(code: CheckErrorCode, message: string, details: Record<string, unknown>): CheckOutcome {
  return { status: 'unhealthy', error: { code, message }, details };
}

function remaining(deadline: number): number {
  const left = deadline - Date.now();
  if (left <= 0) throw new CheckError('TIMEOUT', 'the check ran out of time');
  return left;
}

/** A required string credential; CONFIG_INVALID naming the field (never its value) when missing. */
export function requireCredential(ctx: CheckContext, field: string): string {
  const value = ctx.credentials[field];
  if (typeof value !== 'string' || value === '') {
    throw new CheckError('CONFIG_INVALID', `credential ${field} is required`);
  }
  return value;
}

/** Refuses values that would break the header framing; the message names the field, never the value. */
function headerValue(value: string, field: string): string {
  if (/[\r\n\0]/.test(value)) throw new CheckError('CONFIG_INVALID', `${field} contains characters not allowed in a header`);
  return value;
}

function checkedHeaders(headers: Record<string, string>): Record<string, string> {
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) throw new CheckError('CONFIG_INVALID', 'a header name is not valid');
    headerValue(String(value), `header ${name}`);
  }
  return headers;
}

function checkedExtraHeaders(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === null || value === undefined) continue;
    out[name] = String(value);
  }
  return checkedHeaders(out);
}

/** Case-insensitive merge: a later source replaces an earlier header of any spelling. */
function mergeHeaders(...sources: Record<string, string>[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const source of sources) {
    for (const [name, value] of Object.entries(source)) setHeader(out, name, value);
  }
  return out;
}

function setHeader(headers: Record<string, string>, name: string, value: string): void {
  for (const existing of Object.keys(headers)) {
    if (existing.toLowerCase() === name.toLowerCase()) delete headers[existing];
  }
  headers[name] = value;
}

function stringParam(ctx: CheckContext, name: string): string | null {
  return nonEmpty(ctx.parameters[name]);
}

function nonEmpty(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
}

function wrapResponse(response: OutboundResponse): HttpCheckResponse {
  let parsed: Record<string, unknown> | undefined | null = null;
  return {
    status: response.status,
    body: response.body,
    header: (name) => readHeader(response.headers, name),
    json: () => {
      if (parsed === null) parsed = parseJsonObject(response.body.toString('utf8'));
      return parsed;
    },
  };
}

export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function readHeader(headers: OutboundResponse['headers'], name: string): string | undefined {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  const value = key === undefined ? undefined : headers[key];
  return Array.isArray(value) ? value[0] : value;
}

/** The `baseUrl` parameter of a preset: its vendor default, overridable per integration. */
export function baseUrlParam(defaultValue: string | null, description?: string): ParamInput {
  return {
    name: 'baseUrl',
    type: 'Url',
    displayName: 'Base URL',
    description: description ?? 'API root; override it for a self-hosted server or a proxy.',
    required: defaultValue === null,
    defaultValue,
  };
}

/**
 * OAuth2 parameters of a preset. Endpoints default to the vendor's; `scopes` has no
 * parameter default because it differs per auth method (see each method's authSettings).
 */
export function oauth2Params(defaults: {
  tokenUrl: string;
  authorizationUrl?: string;
  tokenAuthMethod?: (typeof TOKEN_AUTH_METHODS)[number];
}): ParamInput[] {
  return [
    { name: 'tokenUrl', type: 'Url', displayName: 'Token URL', defaultValue: defaults.tokenUrl },
    ...(defaults.authorizationUrl
      ? [{ name: 'authorizationUrl', type: 'Url' as const, displayName: 'Authorization URL', defaultValue: defaults.authorizationUrl }]
      : []),
    {
      name: 'scopes',
      type: 'String',
      displayName: 'Scopes',
      description: 'Space-separated; when empty, the auth method\'s default scopes are used.',
    },
    tokenAuthMethodParam(defaults.tokenAuthMethod ?? 'client_secret_basic'),
  ];
}

function tokenAuthMethodParam(defaultValue: (typeof TOKEN_AUTH_METHODS)[number]): ParamInput {
  return {
    name: 'tokenAuthMethod',
    type: 'Options',
    displayName: 'Token endpoint client authentication',
    defaultValue,
    options: [
      { value: 'client_secret_basic', displayName: 'HTTP Basic (client_secret_basic)' },
      { value: 'client_secret_post', displayName: 'In the form body (client_secret_post)' },
    ],
  };
}

/** Credential fields of both OAuth2 methods on the integration: the client id is not a secret. */
export const OAUTH2_CLIENT_FIELDS: ParamInput[] = [
  { name: 'clientId', type: 'String', displayName: 'Client ID', secret: false },
  { name: 'clientSecret', type: 'String', displayName: 'Client secret' },
];

const httpAuthMethods: AuthMetadata[] = [
  auth({
    type: 'API_KEY',
    displayName: 'API key',
    description: 'Sent in the header named by headerName, or in the query parameter named by queryParam (then in no header).',
    credentials: [{ name: 'apiKey', type: 'String', displayName: 'API key' }],
  }),
  auth({
    type: 'BEARER',
    displayName: 'Bearer token',
    credentials: [{ name: 'token', type: 'String', displayName: 'Token' }],
  }),
  auth({
    type: 'BASIC',
    displayName: 'HTTP Basic',
    credentials: [
      { name: 'username', type: 'String', displayName: 'Username', secret: false },
      { name: 'password', type: 'String', displayName: 'Password' },
    ],
  }),
  auth({
    type: 'OAUTH2_CLIENT_CREDENTIALS',
    displayName: 'OAuth2 client credentials',
    description: 'Exchanges the client credentials at tokenUrl, then calls the API with the access token.',
    credentials: OAUTH2_CLIENT_FIELDS,
  }),
  auth({
    type: 'OAUTH2_AUTHORIZATION_CODE',
    displayName: 'OAuth2 authorization code',
    description: 'Client credentials on the integration; each connection holds its own accessToken, refreshToken and expiresAt.',
    credentials: OAUTH2_CLIENT_FIELDS,
  }),
];

export const httpConnector: ConnectorDefinition = {
  key: 'http',
  displayName: 'HTTP / REST API',
  description: 'Any REST API: API key in a header or the query, bearer token, HTTP Basic, or OAuth2.',
  category: 'protocol',
  verifiable: true,
  configMetadata: {
    parametersMetadata: params(
      { name: 'baseUrl', type: 'Url', displayName: 'Base URL', required: true },
      { name: 'testPath', type: 'String', displayName: 'Test path', defaultValue: '/', description: 'Path called by the check, relative to baseUrl.' },
      {
        name: 'testMethod',
        type: 'Options',
        displayName: 'Test method',
        defaultValue: 'GET',
        options: TEST_METHODS.map((value) => ({ value, displayName: value })),
      },
      { name: 'headerName', type: 'String', displayName: 'API key header', defaultValue: 'X-API-Key' },
      {
        name: 'queryParam',
        type: 'String',
        displayName: 'API key query parameter',
        description: 'When set, the API key goes in this query parameter and in no header.',
      },
      { name: 'tokenUrl', type: 'Url', displayName: 'Token URL' },
      { name: 'authorizationUrl', type: 'Url', displayName: 'Authorization URL' },
      { name: 'scopes', type: 'String', displayName: 'Scopes', description: 'Space-separated.' },
      tokenAuthMethodParam('client_secret_basic'),
    ),
    authMetadata: httpAuthMethods,
  },
  destinationParameters: ['baseUrl', 'tokenUrl', 'authorizationUrl'],
  check: buildHttpCheck(),
};
