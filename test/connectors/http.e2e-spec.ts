import { httpConnector } from '../../src/connectors/definitions/http.connector';
import { fetchClientCredentialsToken, resolveOAuth2Settings } from '../../src/connectors/definitions/oauth2-client-credentials';
import type { CheckContext } from '../../src/connectors/connector.types';
import { checkContext, closedPortUrl, FakeUpstream, loopbackOnlyPolicy } from './support/fake-upstream';

const API_KEY = 'sk_live_4f9d2c7e1b8a';

function http(authId: string, overrides: Partial<Omit<CheckContext, 'auth'>>): CheckContext {
  return checkContext(httpConnector, authId, overrides);
}

function basicPair(header: string | undefined): string {
  expect(header).toMatch(/^Basic /);
  return Buffer.from(header!.slice('Basic '.length), 'base64').toString('utf8');
}

describe('http connector', () => {
  let fake: FakeUpstream;

  beforeEach(async () => {
    fake = await FakeUpstream.start();
    fake.on('GET', '/', { body: { ok: true } });
  });

  afterEach(async () => {
    await fake.close();
  });

  describe('catalog entry', () => {
    it('describes the parameters, auth methods and destinations API.md promises', () => {
      const { parametersMetadata, authMetadata } = httpConnector.configMetadata;
      const byName = Object.fromEntries(parametersMetadata.map((p) => [p.name, p]));
      expect(Object.keys(byName)).toEqual([
        'baseUrl',
        'testPath',
        'testMethod',
        'headerName',
        'queryParam',
        'tokenUrl',
        'authorizationUrl',
        'scopes',
        'tokenAuthMethod',
      ]);
      expect(byName.baseUrl).toMatchObject({ type: 'Url', required: true });
      expect(byName.testPath.defaultValue).toBe('/');
      expect(byName.testMethod.options?.map((o) => o.value)).toEqual(['GET', 'HEAD', 'POST']);
      expect(byName.headerName.defaultValue).toBe('X-API-Key');
      expect(byName.tokenAuthMethod.defaultValue).toBe('client_secret_basic');
      expect(authMetadata.map((a) => a.id)).toEqual([
        'API_KEY',
        'BEARER',
        'BASIC',
        'OAUTH2_CLIENT_CREDENTIALS',
        'OAUTH2_AUTHORIZATION_CODE',
      ]);
      for (const method of authMetadata) expect(method.id).toBe(method.type);
      const secrets = (id: string) =>
        Object.fromEntries(authMetadata.find((a) => a.id === id)!.parametersMetadata.map((p) => [p.name, p.secret]));
      expect(secrets('BASIC')).toEqual({ username: false, password: true });
      expect(secrets('OAUTH2_CLIENT_CREDENTIALS')).toEqual({ clientId: false, clientSecret: true });
      expect(secrets('OAUTH2_AUTHORIZATION_CODE')).toEqual({ clientId: false, clientSecret: true });
      expect(httpConnector.destinationParameters).toEqual(['baseUrl', 'tokenUrl', 'authorizationUrl']);
    });
  });

  describe('auth arrives as configured', () => {
    it('sends the API key in X-API-Key by default and reports status and URL', async () => {
      const outcome = await httpConnector.check(
        http('API_KEY', { parameters: { baseUrl: fake.url }, credentials: { apiKey: API_KEY } }),
      );

      expect(outcome).toEqual({
        status: 'healthy',
        error: null,
        details: { httpStatus: 200, url: `${fake.url}/` },
      });
      expect(fake.requests).toHaveLength(1);
      expect(fake.requests[0]).toMatchObject({ method: 'GET', path: '/' });
      expect(fake.requests[0].headers['x-api-key']).toBe(API_KEY);
    });

    it('sends the API key in the header named by headerName and in no other', async () => {
      await httpConnector.check(
        http('API_KEY', { parameters: { baseUrl: fake.url, headerName: 'X-Vendor-Token' }, credentials: { apiKey: API_KEY } }),
      );

      const { headers } = fake.requests[0];
      expect(headers['x-vendor-token']).toBe(API_KEY);
      expect(headers['x-api-key']).toBeUndefined();
    });

    it('sends the API key only in the query parameter when queryParam is set, and keeps it out of details', async () => {
      fake.on('GET', '/v1/ping', { body: {} });
      const outcome = await httpConnector.check(
        http('API_KEY', {
          parameters: { baseUrl: fake.url, testPath: '/v1/ping?verbose=1', queryParam: 'api_key' },
          credentials: { apiKey: API_KEY },
        }),
      );

      expect(outcome.status).toBe('healthy');
      const request = fake.requests[0];
      expect(request.query).toEqual({ verbose: '1', api_key: API_KEY });
      expect(JSON.stringify(request.headers)).not.toContain(API_KEY);
      expect(outcome.details.url).toBe(`${fake.url}/v1/ping`);
      expect(JSON.stringify(outcome)).not.toContain(API_KEY);
    });

    it('sends a bearer token as Authorization: Bearer', async () => {
      await httpConnector.check(http('BEARER', { parameters: { baseUrl: fake.url }, credentials: { token: 'tok-123' } }));

      expect(fake.requests[0].headers.authorization).toBe('Bearer tok-123');
    });

    it('sends HTTP Basic as base64(username:password)', async () => {
      await httpConnector.check(
        http('BASIC', { parameters: { baseUrl: fake.url }, credentials: { username: 'ops', password: 'p@ss:w0rd' } }),
      );

      expect(basicPair(fake.requests[0].headers.authorization)).toBe('ops:p@ss:w0rd');
    });

    it('sends the extra headers next to the auth header', async () => {
      await httpConnector.check(
        http('BEARER', {
          parameters: { baseUrl: fake.url },
          credentials: { token: 'tok-123' },
          headers: { 'X-Tenant-Route': 'eu-1', 'X-Extra-Auth': 'extra-secret' },
        }),
      );

      const { headers } = fake.requests[0];
      expect(headers['x-tenant-route']).toBe('eu-1');
      expect(headers['x-extra-auth']).toBe('extra-secret');
      expect(headers.authorization).toBe('Bearer tok-123');
    });

    it('lets the auth method win over an extra header of the same name', async () => {
      await httpConnector.check(
        http('BEARER', {
          parameters: { baseUrl: fake.url },
          credentials: { token: 'tok-123' },
          headers: { authorization: 'Bearer something-else' },
        }),
      );

      expect(fake.requests[0].headers.authorization).toBe('Bearer tok-123');
    });

    it('calls testPath under the base URL path with testMethod', async () => {
      fake.on('HEAD', '/api/v2/health', { status: 204 });
      const outcome = await httpConnector.check(
        http('BEARER', {
          parameters: { baseUrl: `${fake.url}/api/`, testPath: '/v2/health', testMethod: 'HEAD' },
          credentials: { token: 't' },
        }),
      );

      expect(outcome).toMatchObject({ status: 'healthy', details: { httpStatus: 204, url: `${fake.url}/api/v2/health` } });
      expect(fake.requests[0]).toMatchObject({ method: 'HEAD', path: '/api/v2/health' });
    });

    it('sends a POST test call with an empty body', async () => {
      fake.on('POST', '/ping', { body: { pong: true } });
      const outcome = await httpConnector.check(
        http('BEARER', { parameters: { baseUrl: fake.url, testPath: 'ping', testMethod: 'POST' }, credentials: { token: 't' } }),
      );

      expect(outcome.status).toBe('healthy');
      expect(fake.requests[0]).toMatchObject({ method: 'POST', path: '/ping', body: '' });
    });

    it('uses the connection server URL instead of baseUrl', async () => {
      const unused = await closedPortUrl();
      const outcome = await httpConnector.check(
        http('BEARER', { parameters: { baseUrl: unused }, serverUrl: fake.url, credentials: { token: 't' } }),
      );

      expect(outcome.status).toBe('healthy');
      expect(fake.requests).toHaveLength(1);
    });

    it('keeps an absolute-looking testPath on the configured host', async () => {
      fake.on('GET', '/http://169.254.169.254/latest', { body: {} });
      const outcome = await httpConnector.check(
        http('BEARER', { parameters: { baseUrl: fake.url, testPath: 'http://169.254.169.254/latest' }, credentials: { token: 't' } }),
      );

      expect(outcome.status).toBe('healthy');
      expect(fake.requests[0].path).toBe('/http://169.254.169.254/latest');
    });
  });

  describe('upstream answers', () => {
    it.each([401, 403])('maps %i to AUTH_FAILED', async (status) => {
      fake.on('GET', '/', { status, body: { message: 'Bad credentials' } });
      const outcome = await httpConnector.check(
        http('API_KEY', { parameters: { baseUrl: fake.url }, credentials: { apiKey: API_KEY } }),
      );

      expect(outcome.status).toBe('unhealthy');
      expect(outcome.error?.code).toBe('AUTH_FAILED');
      expect(outcome.details).toMatchObject({ httpStatus: status });
    });

    it('maps a 500 that echoes the API key to UPSTREAM_ERROR without a trace of the key', async () => {
      fake.on('GET', '/', (request) => ({
        status: 500,
        body: `internal error for key ${String(request.headers['x-api-key'])}`,
        headers: { 'Content-Type': 'text/plain', 'X-Debug-Key': String(request.headers['x-api-key']) },
      }));
      const outcome = await httpConnector.check(
        http('API_KEY', { parameters: { baseUrl: fake.url }, credentials: { apiKey: API_KEY } }),
      );

      expect(outcome.error).toEqual({ code: 'UPSTREAM_ERROR', message: 'upstream answered 500' });
      expect(outcome.details).toMatchObject({ httpStatus: 500 });
      expect(JSON.stringify(outcome)).not.toContain(API_KEY);
    });

    it('reports UNREACHABLE for a closed port', async () => {
      const outcome = await httpConnector.check(
        http('API_KEY', { parameters: { baseUrl: await closedPortUrl() }, credentials: { apiKey: API_KEY } }),
      );

      expect(outcome.status).toBe('unhealthy');
      expect(outcome.error?.code).toBe('UNREACHABLE');
    });

    it('reports TIMEOUT within the budget when the upstream takes 10 s', async () => {
      fake.on('GET', '/', { delayMs: 10_000, body: {} });
      const started = Date.now();
      const outcome = await httpConnector.check(
        http('API_KEY', { parameters: { baseUrl: fake.url }, credentials: { apiKey: API_KEY }, timeoutMs: 500 }),
      );

      expect(outcome.error?.code).toBe('TIMEOUT');
      expect(Date.now() - started).toBeLessThan(2500);
    });

    it('reports BLOCKED_DESTINATION for a private address the policy does not allow', async () => {
      const outcome = await httpConnector.check(
        http('API_KEY', { parameters: { baseUrl: 'http://10.0.0.1:9/' }, credentials: { apiKey: API_KEY } }),
      );

      expect(outcome.error?.code).toBe('BLOCKED_DESTINATION');
    });
  });

  describe('configuration mistakes are reported before any call', () => {
    it('answers CONFIG_INVALID when a credential is missing', async () => {
      const outcome = await httpConnector.check(http('BASIC', { parameters: { baseUrl: fake.url }, credentials: { username: 'u' } }));

      expect(outcome.error).toEqual({ code: 'CONFIG_INVALID', message: 'credential password is required' });
      expect(fake.requests).toHaveLength(0);
    });

    it('refuses a credential that would break the header, without echoing it', async () => {
      const outcome = await httpConnector.check(
        http('BEARER', { parameters: { baseUrl: fake.url }, credentials: { token: 'abc\r\nX-Injected: 1' } }),
      );

      expect(outcome.error?.code).toBe('CONFIG_INVALID');
      expect(JSON.stringify(outcome)).not.toContain('X-Injected');
      expect(fake.requests).toHaveLength(0);
    });

    it('answers CONFIG_INVALID for a base URL that is not http(s)', async () => {
      const outcome = await httpConnector.check(
        http('BEARER', { parameters: { baseUrl: 'file:///etc/passwd' }, credentials: { token: 't' } }),
      );

      expect(outcome.error?.code).toBe('CONFIG_INVALID');
    });

    it('answers CONFIG_INVALID for a testMethod outside GET/HEAD/POST', async () => {
      const outcome = await httpConnector.check(
        http('BEARER', { parameters: { baseUrl: fake.url, testMethod: 'DELETE' }, credentials: { token: 't' } }),
      );

      expect(outcome.error?.code).toBe('CONFIG_INVALID');
      expect(fake.requests).toHaveLength(0);
    });
  });

  describe('OAuth2 client credentials', () => {
    const CLIENT_ID = 'switchboard app';
    const CLIENT_SECRET = 's3cr3t:with/odd+chars';

    beforeEach(() => {
      fake.on('POST', '/oauth/token', { body: { access_token: 'at-789', token_type: 'Bearer', expires_in: 3600, scope: 'read write' } });
      fake.on('GET', '/me', { body: { id: 1 } });
    });

    function clientCredentials(parameters: Record<string, unknown>): CheckContext {
      return http('OAUTH2_CLIENT_CREDENTIALS', {
        parameters: { baseUrl: fake.url, testPath: '/me', tokenUrl: `${fake.url}/oauth/token`, ...parameters },
        credentials: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
      });
    }

    it('authenticates with client_secret_basic, form-encodes the grant and calls the API with the token', async () => {
      const outcome = await httpConnector.check(clientCredentials({ scopes: 'read write' }));

      expect(outcome).toEqual({
        status: 'healthy',
        error: null,
        details: { httpStatus: 200, url: `${fake.url}/me`, tokenType: 'Bearer', scopes: ['read', 'write'] },
      });
      const [token] = fake.requestsTo('/oauth/token');
      expect(token.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(Object.fromEntries(new URLSearchParams(token.body))).toEqual({ grant_type: 'client_credentials', scope: 'read write' });
      expect(basicPair(token.headers.authorization)).toBe('switchboard+app:s3cr3t%3Awith%2Fodd%2Bchars');
      expect(fake.requestsTo('/me')[0].headers.authorization).toBe('Bearer at-789');
    });

    it('authenticates with client_secret_post in the form body and no Authorization header', async () => {
      const outcome = await httpConnector.check(clientCredentials({ tokenAuthMethod: 'client_secret_post' }));

      expect(outcome.status).toBe('healthy');
      const [token] = fake.requestsTo('/oauth/token');
      expect(token.headers.authorization).toBeUndefined();
      expect(Object.fromEntries(new URLSearchParams(token.body))).toEqual({
        grant_type: 'client_credentials',
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
      });
    });

    it.each([400, 401])('maps a %i invalid_client from the token endpoint to AUTH_FAILED and stops there', async (status) => {
      fake.on('POST', '/oauth/token', {
        status,
        body: { error: 'invalid_client', error_description: `client ${CLIENT_SECRET} unknown` },
      });
      const outcome = await httpConnector.check(clientCredentials({}));

      expect(outcome.error).toEqual({ code: 'AUTH_FAILED', message: 'token endpoint rejected the client credentials (invalid_client)' });
      expect(fake.requestsTo('/me')).toHaveLength(0);
      expect(JSON.stringify(outcome)).not.toContain(CLIENT_SECRET);
    });

    it('maps a token reply without access_token to UPSTREAM_ERROR', async () => {
      fake.on('POST', '/oauth/token', { body: { token_type: 'Bearer' } });
      const outcome = await httpConnector.check(clientCredentials({}));

      expect(outcome.error?.code).toBe('UPSTREAM_ERROR');
      expect(fake.requestsTo('/me')).toHaveLength(0);
    });

    it('answers CONFIG_INVALID without tokenUrl', async () => {
      const outcome = await httpConnector.check(clientCredentials({ tokenUrl: '' }));

      expect(outcome.error).toEqual({ code: 'CONFIG_INVALID', message: 'tokenUrl is required for OAuth2 client credentials' });
      expect(fake.requests).toHaveLength(0);
    });

    it('reports AUTH_FAILED when the API rejects the fresh token', async () => {
      fake.on('GET', '/me', { status: 401 });
      const outcome = await httpConnector.check(clientCredentials({}));

      expect(outcome.error?.code).toBe('AUTH_FAILED');
      expect(outcome.details).toMatchObject({ httpStatus: 401, tokenType: 'Bearer' });
    });

    it('exports the token call for the token cache, with expiry and a form-encoded reply understood', async () => {
      fake.on('POST', '/oauth/token', {
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'access_token=form-token&token_type=bearer&expires_in=120',
      });
      const before = Date.now();
      const token = await fetchClientCredentialsToken({
        tokenUrl: `${fake.url}/oauth/token`,
        clientId: 'id',
        clientSecret: 'secret',
        scopes: 'a b',
        outbound: loopbackOnlyPolicy(),
        timeoutMs: 2000,
      });

      expect(token).toMatchObject({ accessToken: 'form-token', tokenType: 'bearer', expiresIn: 120, scopes: ['a', 'b'] });
      expect(token.expiresAt!.getTime()).toBeGreaterThanOrEqual(before + 120_000);
    });

    it('resolves OAuth2 settings from parameters first, then the auth method defaults', () => {
      const settings = resolveOAuth2Settings(
        { tokenUrl: 'https://idp.example/token', scopes: '' },
        { authSettings: { parameters: { tokenUrl: 'https://default.example/token', scopes: 'x y', tokenAuthMethod: 'client_secret_post' } } },
      );

      expect(settings).toEqual({
        tokenUrl: 'https://idp.example/token',
        authorizationUrl: null,
        scopes: 'x y',
        tokenAuthMethod: 'client_secret_post',
      });
    });
  });

  describe('OAuth2 authorization code', () => {
    it('calls the API with the connection access token as Bearer', async () => {
      const outcome = await httpConnector.check(
        http('OAUTH2_AUTHORIZATION_CODE', {
          parameters: { baseUrl: fake.url },
          credentials: { accessToken: 'user-at', refreshToken: 'user-rt', expiresAt: '2099-01-01T00:00:00.000Z' },
        }),
      );

      expect(outcome.status).toBe('healthy');
      expect(fake.requests[0].headers.authorization).toBe('Bearer user-at');
    });

    it('answers CONFIG_INVALID "connection is not authorized yet" without an access token', async () => {
      const outcome = await httpConnector.check(
        http('OAUTH2_AUTHORIZATION_CODE', { parameters: { baseUrl: fake.url }, credentials: { clientId: 'id', clientSecret: 's' } }),
      );

      expect(outcome.error).toEqual({ code: 'CONFIG_INVALID', message: 'connection is not authorized yet' });
      expect(fake.requests).toHaveLength(0);
    });
  });
});
