import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { closedPortUrl, FakeUpstream } from '../connectors/support/fake-upstream';
import { startTestApp } from '../support/test-app';
import { expectNoTrace, TenantClient, type IntegrationBody } from './verification-support';

const API_KEY = 'sk_e2e_7c1d9f0a3b5e';
const TOKEN = 'tok_e2e_b2f84a61d03c';
const PASSWORD = 'pw_e2e_5e8a1c7d9b20';
const EXTRA_HEADER_VALUE = 'xh_e2e_0d4c6b8a2e1f';
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('verification through the API: http connector and presets', () => {
  let app: NestFastifyApplication;
  let fake: FakeUpstream;
  let client: TenantClient;

  const http = (auth: Pick<IntegrationBody, 'authMethod' | 'credentials'> & { parameters?: Record<string, unknown>; headers?: Record<string, string> }): IntegrationBody => ({
    connector: 'http',
    ...auth,
    parameters: { baseUrl: fake.url, ...auth.parameters },
  });

  beforeAll(async () => {
    ({ app } = await startTestApp());
  });

  afterAll(async () => {
    await app.close();
  });

  beforeEach(async () => {
    fake = await FakeUpstream.start();
    client = await TenantClient.create(app);
  });

  afterEach(async () => {
    await fake.close();
  });

  describe('credentials arrive as configured', () => {
    it('sends the API key in X-API-Key by default, and the extra headers, and reports healthy with httpStatus', async () => {
      fake.on('GET', '/status', { body: { ok: true } });
      const result = await client.createAndVerify(
        http({ authMethod: 'API_KEY', credentials: { apiKey: API_KEY }, parameters: { testPath: '/status' }, headers: { 'X-Extra-Auth': EXTRA_HEADER_VALUE } }),
      );

      expect(result).toMatchObject({ status: 'healthy', error: null, details: { httpStatus: 200, url: `${fake.url}/status` } });
      expect(result.checkedAt).toMatch(ISO);
      expect(typeof result.latencyMs).toBe('number');
      const [request] = fake.requestsTo('/status');
      expect(request.headers['x-api-key']).toBe(API_KEY);
      expect(request.headers['x-extra-auth']).toBe(EXTRA_HEADER_VALUE);
    });

    it('sends the API key in the header named by headerName', async () => {
      fake.on('GET', '/', { body: {} });
      const result = await client.createAndVerify(http({ authMethod: 'API_KEY', credentials: { apiKey: API_KEY }, parameters: { headerName: 'X-Vendor-Key' } }));

      expect(result.status).toBe('healthy');
      expect(fake.requests[0].headers['x-vendor-key']).toBe(API_KEY);
      expect(fake.requests[0].headers['x-api-key']).toBeUndefined();
    });

    it('sends the API key in the query parameter named by queryParam, and then in no header, without showing the query in details', async () => {
      fake.on('GET', '/', { body: {} });
      const { reply, raw } = await client.testConfig(http({ authMethod: 'API_KEY', credentials: { apiKey: API_KEY }, parameters: { queryParam: 'api_key' } }));

      expect(reply.status).toBe('healthy');
      expect(fake.requests[0].query).toEqual({ api_key: API_KEY });
      expect(fake.requests[0].headers['x-api-key']).toBeUndefined();
      expect(Object.values(fake.requests[0].headers)).not.toContain(API_KEY);
      expectNoTrace(raw.body, [API_KEY], 'the :testConfig reply');
    });

    it('sends a BEARER token as Authorization: Bearer', async () => {
      fake.on('GET', '/', { body: {} });
      const result = await client.createAndVerify(http({ authMethod: 'BEARER', credentials: { token: TOKEN } }));

      expect(result.status).toBe('healthy');
      expect(fake.requests[0].headers.authorization).toBe(`Bearer ${TOKEN}`);
    });

    it('sends BASIC credentials as Authorization: Basic base64(username:password)', async () => {
      fake.on('GET', '/', { body: {} });
      const result = await client.createAndVerify(http({ authMethod: 'BASIC', credentials: { username: 'svc-user', password: PASSWORD } }));

      expect(result.status).toBe('healthy');
      const header = fake.requests[0].headers.authorization ?? '';
      expect(header).toMatch(/^Basic /);
      expect(Buffer.from(header.slice('Basic '.length), 'base64').toString('utf8')).toBe(`svc-user:${PASSWORD}`);
    });

    it('uses testMethod POST with an empty body', async () => {
      fake.on('POST', '/ping', { body: {} });
      const result = await client.createAndVerify(http({ authMethod: 'BEARER', credentials: { token: TOKEN }, parameters: { testPath: '/ping', testMethod: 'POST' } }));

      expect(result.status).toBe('healthy');
      expect(fake.requestsTo('/ping')[0]).toMatchObject({ method: 'POST', body: '' });
    });
  });

  describe('outcomes', () => {
    it('maps 401 to AUTH_FAILED', async () => {
      fake.on('GET', '/', { status: 401, body: { error: 'unauthorized' } });
      const result = await client.createAndVerify(http({ authMethod: 'API_KEY', credentials: { apiKey: API_KEY } }));

      expect(result).toMatchObject({ status: 'unhealthy', error: { code: 'AUTH_FAILED' }, details: { httpStatus: 401 } });
    });

    it('maps 403 to AUTH_FAILED', async () => {
      fake.on('GET', '/', { status: 403 });
      const result = await client.createAndVerify(http({ authMethod: 'BEARER', credentials: { token: TOKEN } }));

      expect(result.error?.code).toBe('AUTH_FAILED');
    });

    it('maps 500 to UPSTREAM_ERROR', async () => {
      fake.on('GET', '/', { status: 500, body: 'boom' });
      const result = await client.createAndVerify(http({ authMethod: 'API_KEY', credentials: { apiKey: API_KEY } }));

      expect(result).toMatchObject({ status: 'unhealthy', error: { code: 'UPSTREAM_ERROR', message: 'upstream answered 500' }, details: { httpStatus: 500 } });
    });

    it('maps a closed port to UNREACHABLE', async () => {
      const result = await client.createAndVerify({ connector: 'http', parameters: { baseUrl: await closedPortUrl() }, authMethod: 'API_KEY', credentials: { apiKey: API_KEY } });

      expect(result).toMatchObject({ status: 'unhealthy', error: { code: 'UNREACHABLE' } });
    });
  });

  describe('health and audit', () => {
    it('stores the outcome as health (status, checkedAt, latencyMs, lastError) and writes integration.verified', async () => {
      fake.on('GET', '/', { status: 401 });
      const id = await client.createIntegration(http({ authMethod: 'API_KEY', credentials: { apiKey: API_KEY } }));
      const before = (await client.getIntegrationRaw(id)).json<{ health: unknown }>();
      expect(before.health).toEqual({ status: 'unknown', checkedAt: null, latencyMs: null, lastError: null });

      const { reply: failed } = await client.verify(id);
      const afterFailure = (await client.getIntegrationRaw(id)).json<{ health: Record<string, unknown> }>();
      expect(afterFailure.health).toEqual({ status: 'unhealthy', checkedAt: failed.checkedAt, latencyMs: failed.latencyMs, lastError: failed.error });
      expect(failed.error?.code).toBe('AUTH_FAILED');

      fake.on('GET', '/', { body: {} });
      const { reply: healed } = await client.verify(id);
      const afterSuccess = (await client.getIntegrationRaw(id)).json<{ health: Record<string, unknown> }>();
      expect(afterSuccess.health).toEqual({ status: 'healthy', checkedAt: healed.checkedAt, latencyMs: healed.latencyMs, lastError: null });

      const verified = (await client.auditEvents()).filter((e) => e.action === 'integration.verified' && e.resourceId === id);
      expect(verified.map((e) => e.outcome)).toEqual(['success', 'failure']);
      expect(verified[0]).toMatchObject({ actor: 'alice', resourceType: 'integration', requestId: expect.any(String) });
    });

    it('emits integration.health_changed only on a real change, keeps the etag, and leaves later statements durably committed', async () => {
      const db = app.get(DataSource);
      const id = await client.createIntegration(http({ authMethod: 'API_KEY', credentials: { apiKey: API_KEY } }));
      const etag = (await client.getIntegrationRaw(id)).headers.etag;
      const outcomes: string[] = [];
      for (const status of [200, 200, 401, 401, 200]) {
        fake.on('GET', '/', { status, body: {} });
        outcomes.push((await client.verify(id)).reply.status);
      }
      expect(outcomes).toEqual(['healthy', 'healthy', 'unhealthy', 'unhealthy', 'healthy']);
      const changes: { data: Record<string, unknown> }[] = await db.query(
        `SELECT data FROM events WHERE tenant_id = $1 AND type = 'integration.health_changed' ORDER BY seq`,
        [client.tenant],
      );
      expect(changes.map((c) => c.data)).toEqual([
        { integrationId: id, previousStatus: 'unknown', status: 'healthy', errorCode: null },
        { integrationId: id, previousStatus: 'healthy', status: 'unhealthy', errorCode: 'AUTH_FAILED' },
        { integrationId: id, previousStatus: 'unhealthy', status: 'healthy', errorCode: null },
      ]);
      expect((await client.auditEvents()).filter((e) => e.action === 'integration.verified' && e.resourceId === id)).toHaveLength(5);
      expect((await client.getIntegrationRaw(id)).headers.etag).toBe(etag);
      // The write commits asynchronously for its own transaction only: every pooled session is back to the default.
      const settings = await Promise.all(Array.from({ length: 10 }, () => db.query(`SHOW synchronous_commit`)));
      expect(new Set(settings.map(([row]: { synchronous_commit: string }[]) => row.synchronous_commit))).toEqual(new Set(['on']));
    });

    it(':testConfig checks for real, stores no integration and writes integration.tested', async () => {
      fake.on('GET', '/', { body: {} });
      const { reply } = await client.testConfig({ id: 'never-stored', ...http({ authMethod: 'API_KEY', credentials: { apiKey: API_KEY } }) });

      expect(reply.status).toBe('healthy');
      expect(fake.requests).toHaveLength(1);
      expect((await client.getIntegrationRaw('never-stored')).statusCode).toBe(404);
      const list = await app.inject({ method: 'GET', url: `/v1/tenants/${client.tenant}/integrations`, headers: client.headers('viewer') });
      expect(list.json<{ integrations: unknown[] }>().integrations).toEqual([]);
      const tested = (await client.auditEvents()).filter((e) => e.action === 'integration.tested');
      expect(tested).toEqual([expect.objectContaining({ resourceId: 'never-stored', outcome: 'success' })]);
    });

    it(':testConfig answers 422 for a body the catalog rejects, without calling out', async () => {
      const res = await client.testConfigRaw({ connector: 'http', parameters: {}, authMethod: 'API_KEY', credentials: { apiKey: API_KEY } });

      expect(res.statusCode).toBe(422);
      expect(fake.requests).toHaveLength(0);
    });
  });

  describe('an upstream that echoes the secret', () => {
    const encoded = (s: string) => Buffer.from(s, 'utf8').toString('base64');

    const expectNoTraceAnywhere = async (id: string, replyBody: string, secrets: string[]) => {
      expectNoTrace(replyBody, secrets, 'the check reply');
      expectNoTrace((await client.getIntegrationRaw(id)).body, secrets, 'GET integration');
      expectNoTrace((await client.auditRaw()).body, secrets, 'the audit log');
    };

    it('leaves no trace of an API key echoed raw and base64 in a 500 body', async () => {
      fake.on('GET', '/', (request) => ({
        status: 500,
        body: `invalid key ${String(request.headers['x-api-key'])} (${encoded(String(request.headers['x-api-key']))})`,
      }));
      const id = await client.createIntegration(http({ authMethod: 'API_KEY', credentials: { apiKey: API_KEY } }));
      const { reply, raw } = await client.verify(id);

      expect(reply.error?.code).toBe('UPSTREAM_ERROR');
      expect(fake.requests[0].headers['x-api-key']).toBe(API_KEY);
      const stored = (await client.getIntegrationRaw(id)).json<{ health: { lastError: { code: string } } }>();
      expect(stored.health.lastError.code).toBe('UPSTREAM_ERROR');
      await expectNoTraceAnywhere(id, raw.body, [API_KEY]);
    });

    it('leaves no trace of an API key echoed in response headers of a 401', async () => {
      fake.on('GET', '/', (request) => ({
        status: 401,
        headers: { 'X-Echo': String(request.headers['x-api-key']), 'WWW-Authenticate': `Basic realm="${encoded(API_KEY)}"` },
        body: { error: `key ${String(request.headers['x-api-key'])} rejected` },
      }));
      const id = await client.createIntegration(http({ authMethod: 'API_KEY', credentials: { apiKey: API_KEY } }));
      const { reply, raw } = await client.verify(id);

      expect(reply.error?.code).toBe('AUTH_FAILED');
      await expectNoTraceAnywhere(id, raw.body, [API_KEY]);
    });

    it('leaves no trace of a query-parameter API key, a bearer token or a secret header echoed back', async () => {
      fake.on('GET', '/', (request) => ({
        status: 500,
        headers: { 'X-Seen': `${request.query.key} ${String(request.headers['x-extra-auth'])}` },
        body: JSON.stringify({ query: request.query, headers: request.headers }),
      }));
      const id = await client.createIntegration(
        http({ authMethod: 'API_KEY', credentials: { apiKey: API_KEY }, parameters: { queryParam: 'key' }, headers: { 'X-Extra-Auth': EXTRA_HEADER_VALUE } }),
      );
      const { raw } = await client.verify(id);
      await expectNoTraceAnywhere(id, raw.body, [API_KEY, EXTRA_HEADER_VALUE]);

      const bearerId = await client.createIntegration(http({ authMethod: 'BEARER', credentials: { token: TOKEN } }));
      const bearerCheck = await client.verify(bearerId);
      await expectNoTraceAnywhere(bearerId, bearerCheck.raw.body, [TOKEN]);
    });
  });

  describe('OAuth2 client credentials', () => {
    const CLIENT_SECRET = 'cs_e2e_9a8b7c6d5e4f';
    const ACCESS_TOKEN = 'at_e2e_1f2e3d4c5b6a';

    it('exchanges the client credentials at tokenUrl (client_secret_basic), then calls the API with the access token', async () => {
      fake.on('POST', '/oauth/token', { body: { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 3600, scope: 'read write' } });
      fake.on('GET', '/me', (request) => ({ status: request.headers.authorization === `Bearer ${ACCESS_TOKEN}` ? 200 : 401, body: {} }));
      const result = await client.createAndVerify(
        http({
          authMethod: 'OAUTH2_CLIENT_CREDENTIALS',
          credentials: { clientId: 'svc-client', clientSecret: CLIENT_SECRET },
          parameters: { tokenUrl: `${fake.url}/oauth/token`, scopes: 'read write', testPath: '/me' },
        }),
      );

      expect(result).toMatchObject({ status: 'healthy', error: null, details: { httpStatus: 200, tokenType: 'Bearer', scopes: ['read', 'write'] } });
      const [tokenRequest] = fake.requestsTo('/oauth/token');
      expect(tokenRequest.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(Object.fromEntries(new URLSearchParams(tokenRequest.body))).toEqual({ grant_type: 'client_credentials', scope: 'read write' });
      expect(Buffer.from(String(tokenRequest.headers.authorization).slice('Basic '.length), 'base64').toString('utf8')).toBe(`svc-client:${CLIENT_SECRET}`);
      expect(fake.requestsTo('/me')).toHaveLength(1);
      expect(JSON.stringify(result)).not.toContain(ACCESS_TOKEN);
    });

    it('sends the client credentials in the form with tokenAuthMethod client_secret_post', async () => {
      fake.on('POST', '/oauth/token', { body: { access_token: ACCESS_TOKEN, token_type: 'Bearer' } });
      fake.on('GET', '/', { body: {} });
      const { reply } = await client.testConfig(
        http({
          authMethod: 'OAUTH2_CLIENT_CREDENTIALS',
          credentials: { clientId: 'svc-client', clientSecret: CLIENT_SECRET },
          parameters: { tokenUrl: `${fake.url}/oauth/token`, tokenAuthMethod: 'client_secret_post' },
        }),
      );

      expect(reply.status).toBe('healthy');
      const [tokenRequest] = fake.requestsTo('/oauth/token');
      expect(tokenRequest.headers.authorization).toBeUndefined();
      expect(Object.fromEntries(new URLSearchParams(tokenRequest.body))).toEqual({ grant_type: 'client_credentials', client_id: 'svc-client', client_secret: CLIENT_SECRET });
    });

    it('reports AUTH_FAILED when the token endpoint answers invalid_client, and never calls the API', async () => {
      fake.on('POST', '/oauth/token', { status: 401, body: { error: 'invalid_client', error_description: `bad secret ${CLIENT_SECRET}` } });
      fake.on('GET', '/', { body: {} });
      const id = await client.createIntegration(
        http({ authMethod: 'OAUTH2_CLIENT_CREDENTIALS', credentials: { clientId: 'svc-client', clientSecret: CLIENT_SECRET }, parameters: { tokenUrl: `${fake.url}/oauth/token` } }),
      );
      const { reply, raw } = await client.verify(id);

      expect(reply).toMatchObject({ status: 'unhealthy', error: { code: 'AUTH_FAILED', message: expect.stringContaining('invalid_client') } });
      expect(fake.requestsTo('/')).toHaveLength(0);
      expectNoTrace(raw.body, [CLIENT_SECRET], 'the check reply');
      expectNoTrace((await client.getIntegrationRaw(id)).body, [CLIENT_SECRET], 'GET integration');
    });
  });

  describe('presets with baseUrl overridden to a local fake', () => {
    it('github: GET /user with Bearer, reporting the login', async () => {
      fake.on('GET', '/user', { headers: { 'X-OAuth-Scopes': 'repo, read:org' }, body: { login: 'octo-e2e', id: 1 } });
      const result = await client.createAndVerify({ connector: 'github', parameters: { baseUrl: fake.url }, authMethod: 'pat', credentials: { token: TOKEN } });

      expect(result).toMatchObject({ status: 'healthy', error: null, details: { httpStatus: 200, login: 'octo-e2e', scopes: ['repo', 'read:org'] } });
      const [request] = fake.requestsTo('/user');
      expect(request.method).toBe('GET');
      expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(request.headers.accept).toBe('application/vnd.github+json');
    });

    it('github: a bad token is AUTH_FAILED', async () => {
      fake.on('GET', '/user', { status: 401, body: { message: 'Bad credentials' } });
      const result = await client.createAndVerify({ connector: 'github', parameters: { baseUrl: fake.url }, authMethod: 'pat', credentials: { token: TOKEN } });

      expect(result.error?.code).toBe('AUTH_FAILED');
    });

    it('slack: auth.test answering ok:false invalid_auth inside a 200 is AUTH_FAILED', async () => {
      fake.on('POST', '/auth.test', { body: { ok: false, error: 'invalid_auth' } });
      const result = await client.createAndVerify({ connector: 'slack', parameters: { baseUrl: fake.url }, authMethod: 'bot_token', credentials: { token: 'xoxb-e2e-1' } });

      expect(result).toMatchObject({ status: 'unhealthy', error: { code: 'AUTH_FAILED', message: 'slack answered invalid_auth' }, details: { httpStatus: 200 } });
      expect(fake.requestsTo('/auth.test')[0].headers.authorization).toBe('Bearer xoxb-e2e-1');
    });

    it('scrubs a token a vendor echoes into a reported fact or an error code', async () => {
      const echoed = 'ghp_e2eEchoedToken42';
      fake.on('GET', '/user', (request) => ({ body: { login: String(request.headers.authorization).replace('Bearer ', '') } }));
      const github = await client.createAndVerify({ connector: 'github', parameters: { baseUrl: fake.url }, authMethod: 'pat', credentials: { token: echoed } });
      expect(github.status).toBe('healthy');
      expectNoTrace(JSON.stringify(github), [echoed], 'the github reply');

      const slackToken = 'xoxb-e2e-echoed-3';
      fake.on('POST', '/auth.test', (request) => ({ body: { ok: false, error: String(request.headers.authorization).replace('Bearer ', '') } }));
      const slack = await client.createAndVerify({ connector: 'slack', parameters: { baseUrl: fake.url }, authMethod: 'bot_token', credentials: { token: slackToken } });
      expect(slack.error?.code).toBe('UPSTREAM_ERROR');
      expectNoTrace(JSON.stringify(slack), [slackToken], 'the slack reply');
      expectNoTrace((await client.getIntegrationRaw(slack.id)).body, [slackToken], 'GET integration');
    });

    it('slack: auth.test ok:true is healthy with team and user', async () => {
      fake.on('POST', '/auth.test', { body: { ok: true, team: 'Acme', user: 'bot' } });
      const { reply } = await client.testConfig({ connector: 'slack', parameters: { baseUrl: fake.url }, authMethod: 'bot_token', credentials: { token: 'xoxb-e2e-2' } });

      expect(reply).toMatchObject({ status: 'healthy', details: { team: 'Acme', user: 'bot' } });
    });
  });

  describe('who may verify', () => {
    it('refuses a viewer with 403 on :verifyConfig and :testConfig, without calling out', async () => {
      fake.on('GET', '/', { body: {} });
      const id = await client.createIntegration(http({ authMethod: 'API_KEY', credentials: { apiKey: API_KEY } }));

      expect((await client.verifyRaw(id, 'viewer')).statusCode).toBe(403);
      expect((await client.testConfigRaw(http({ authMethod: 'API_KEY', credentials: { apiKey: API_KEY } }), 'viewer')).statusCode).toBe(403);
      expect(fake.requests).toHaveLength(0);
      expect((await client.verifyRaw(id, 'admin')).statusCode).toBe(200);
    });

    it('answers 404 for an integration that does not exist', async () => {
      const res = await client.verifyRaw('no-such-integration');
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toContain('application/problem+json');
    });

    it('answers 422 for an auth method with configTestSupported false (CUSTOM integration), without calling out', async () => {
      fake.on('GET', '/', { body: {} });
      const configMetadata = {
        parametersMetadata: [{ name: 'baseUrl', index: 0, type: 'Url', displayName: 'Base URL', required: true }],
        authMetadata: [
          {
            id: 'manual-key',
            displayName: 'Key checked by hand',
            type: 'API_KEY',
            configTestSupported: false,
            supportedLevels: ['APPLICATION'],
            parametersMetadata: [{ name: 'apiKey', index: 0, type: 'String', displayName: 'API key', required: true, secret: true }],
          },
        ],
      };
      const body: IntegrationBody = { connector: 'http', type: 'CUSTOM', configMetadata, parameters: { baseUrl: fake.url }, authMethod: 'manual-key', credentials: { apiKey: API_KEY } };
      const id = await client.createIntegration(body);

      const verify = await client.verifyRaw(id);
      expect(verify.statusCode).toBe(422);
      expect(verify.headers['content-type']).toContain('application/problem+json');
      expect(verify.json()).toMatchObject({ status: 422, errors: [{ field: 'authMethod' }] });
      expect((await client.testConfigRaw(body)).statusCode).toBe(422);
      expect(fake.requests).toHaveLength(0);
      const stored = (await client.getIntegrationRaw(id)).json<{ health: { status: string } }>();
      expect(stored.health.status).toBe('unknown');
    });
  });
});

describe('verification through the API: deadline', () => {
  let app: NestFastifyApplication;
  let fake: FakeUpstream;
  let client: TenantClient;

  beforeAll(async () => {
    ({ app } = await startTestApp({ VERIFY_TIMEOUT_MS: '500' }));
    fake = await FakeUpstream.start();
    client = await TenantClient.create(app);
  });

  afterAll(async () => {
    await fake.close();
    await app.close();
  });

  it('answers TIMEOUT within 2 s against an upstream that takes 10 s, and stores it', async () => {
    fake.on('GET', '/slow', { delayMs: 10_000, body: {} });
    const id = await client.createIntegration({ connector: 'http', parameters: { baseUrl: fake.url, testPath: '/slow' }, authMethod: 'API_KEY', credentials: { apiKey: API_KEY } });

    const started = Date.now();
    const { reply } = await client.verify(id);
    const elapsed = Date.now() - started;

    expect(reply).toMatchObject({ status: 'unhealthy', error: { code: 'TIMEOUT' } });
    expect(elapsed).toBeLessThan(2000);
    expect(fake.requestsTo('/slow')).toHaveLength(1);
    const stored = (await client.getIntegrationRaw(id)).json<{ health: { status: string; lastError: { code: string } } }>();
    expect(stored.health).toMatchObject({ status: 'unhealthy', lastError: { code: 'TIMEOUT' } });
  });
});
