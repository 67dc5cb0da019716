import type { CheckContext, ConnectorDefinition } from '../../src/connectors/connector.types';
import {
  awsSesConnector,
  clickupConnector,
  githubConnector,
  gitlabConnector,
  googleDriveConnector,
  HTTP_FAMILY_CONNECTORS,
  jiraConnector,
  mcpConnector,
  microsoftTeamsConnector,
  sharepointConnector,
  slackConnector,
} from '../../src/connectors/definitions/presets';
import { signSigV4 } from '../../src/connectors/definitions/sigv4';
import { checkContext, FakeUpstream, type RecordedRequest } from './support/fake-upstream';

describe('HTTP presets', () => {
  let fake: FakeUpstream;

  beforeEach(async () => {
    fake = await FakeUpstream.start();
  });

  afterEach(async () => {
    await fake.close();
  });

  /** A check of `connector` whose every destination points at the fake. */
  function against(
    connector: ConnectorDefinition,
    authId: string,
    credentials: Record<string, unknown>,
    parameters: Record<string, unknown> = {},
  ): CheckContext {
    const destinations = Object.fromEntries(
      connector.destinationParameters
        .filter((name) => name !== 'region')
        .map((name) => [name, name === 'baseUrl' ? fake.url : `${fake.url}/${name}`]),
    );
    return checkContext(connector, authId, { credentials, parameters: { ...destinations, ...parameters } });
  }

  function only(path: string): RecordedRequest {
    expect(fake.requests.map((r) => r.path)).toEqual([path]);
    return fake.requests[0];
  }

  describe('catalog', () => {
    it('lists the http connector and the ten presets, each key once', () => {
      expect(HTTP_FAMILY_CONNECTORS.map((c) => c.key)).toEqual([
        'http',
        'github',
        'gitlab',
        'jira',
        'slack',
        'clickup',
        'microsoft-teams',
        'sharepoint',
        'google-drive',
        'aws-ses',
        'mcp',
      ]);
    });

    it('gives every connector an overridable baseUrl that counts as a destination', () => {
      for (const connector of HTTP_FAMILY_CONNECTORS) {
        const names = connector.configMetadata.parametersMetadata.map((p) => p.name);
        expect(new Set(names).size).toBe(names.length);
        expect(names).toContain('baseUrl');
        expect(connector.destinationParameters).toContain('baseUrl');
        expect(connector.verifiable).toBe(true);
        for (const method of connector.configMetadata.authMetadata) {
          if (method.type === 'OAUTH2_AUTHORIZATION_CODE' || method.type === 'OAUTH2_CLIENT_CREDENTIALS') {
            expect(connector.destinationParameters).toEqual(expect.arrayContaining(['tokenUrl']));
          }
        }
      }
    });

    it('keeps the vendors\' real URLs as metadata defaults only', () => {
      const defaults = (connector: ConnectorDefinition) =>
        Object.fromEntries(connector.configMetadata.parametersMetadata.map((p) => [p.name, p.defaultValue]));
      expect(defaults(githubConnector).baseUrl).toBe('https://api.github.com');
      expect(defaults(gitlabConnector).baseUrl).toBe('https://gitlab.com');
      expect(defaults(slackConnector).baseUrl).toBe('https://slack.com/api');
      expect(defaults(clickupConnector).baseUrl).toBe('https://api.clickup.com');
      expect(defaults(microsoftTeamsConnector).baseUrl).toBe('https://graph.microsoft.com/v1.0');
      expect(defaults(sharepointConnector).baseUrl).toBe('https://graph.microsoft.com/v1.0');
      expect(defaults(googleDriveConnector).baseUrl).toBe('https://www.googleapis.com');
      expect(defaults(awsSesConnector).region).toBe('us-east-1');
      expect(jiraConnector.configMetadata.parametersMetadata.find((p) => p.name === 'baseUrl')).toMatchObject({
        required: true,
        defaultValue: null,
      });
      expect(mcpConnector.configMetadata.parametersMetadata.find((p) => p.name === 'baseUrl')?.required).toBe(true);
    });

    it('names the preset auth methods with their types', () => {
      const methods = (connector: ConnectorDefinition) =>
        Object.fromEntries(connector.configMetadata.authMetadata.map((a) => [a.id, a.type]));
      expect(methods(githubConnector)).toEqual({ pat: 'BEARER', oauth2: 'OAUTH2_AUTHORIZATION_CODE' });
      expect(methods(gitlabConnector)).toEqual({ pat: 'BEARER' });
      expect(methods(jiraConnector)).toEqual({ api_token: 'BASIC' });
      expect(methods(slackConnector)).toEqual({ bot_token: 'BEARER' });
      expect(methods(clickupConnector)).toEqual({ api_token: 'API_KEY' });
      expect(methods(microsoftTeamsConnector)).toEqual({
        oauth2: 'OAUTH2_AUTHORIZATION_CODE',
        client_credentials: 'OAUTH2_CLIENT_CREDENTIALS',
      });
      expect(methods(googleDriveConnector)).toEqual({ oauth2: 'OAUTH2_AUTHORIZATION_CODE' });
      expect(methods(awsSesConnector)).toEqual({ access_key: 'API_KEY' });
      expect(methods(mcpConnector)).toEqual({ BEARER: 'BEARER', API_KEY: 'API_KEY', NONE: 'NONE' });
      expect(githubConnector.configMetadata.authMetadata[1].authSettings?.parameters).toMatchObject({
        authorizationUrl: 'https://github.com/login/oauth/authorize',
        tokenUrl: 'https://github.com/login/oauth/access_token',
      });
    });
  });

  describe('github', () => {
    it('calls GET /user with the PAT as Bearer and reports login and scopes', async () => {
      fake.on('GET', '/user', {
        headers: { 'X-OAuth-Scopes': 'repo, read:org' },
        body: { login: 'octocat', id: 1, email: 'octo@example.com' },
      });
      const outcome = await githubConnector.check(against(githubConnector, 'pat', { token: 'ghp_abc' }));

      expect(outcome).toEqual({
        status: 'healthy',
        error: null,
        details: { httpStatus: 200, url: `${fake.url}/user`, login: 'octocat', scopes: ['repo', 'read:org'] },
      });
      const request = only('/user');
      expect(request.method).toBe('GET');
      expect(request.headers.authorization).toBe('Bearer ghp_abc');
      expect(request.headers.accept).toBe('application/vnd.github+json');
      expect(request.headers['user-agent']).toBeTruthy();
    });

    it('maps GitHub\'s 401 "Bad credentials" to AUTH_FAILED', async () => {
      fake.on('GET', '/user', { status: 401, body: { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' } });
      const outcome = await githubConnector.check(against(githubConnector, 'pat', { token: 'ghp_bad' }));

      expect(outcome.error?.code).toBe('AUTH_FAILED');
    });

    it('checks an authorized OAuth2 connection with its access token', async () => {
      fake.on('GET', '/user', { body: { login: 'octocat' } });
      const outcome = await githubConnector.check(
        against(githubConnector, 'oauth2', { accessToken: 'gho_user', refreshToken: 'ghr_user' }),
      );

      expect(outcome.status).toBe('healthy');
      expect(only('/user').headers.authorization).toBe('Bearer gho_user');
    });
  });

  describe('gitlab', () => {
    it('calls GET /api/v4/user with Bearer and reports the username', async () => {
      fake.on('GET', '/api/v4/user', { body: { id: 7, username: 'tanuki', email: 'tanuki@example.com' } });
      const outcome = await gitlabConnector.check(against(gitlabConnector, 'pat', { token: 'glpat-xyz' }));

      expect(outcome.details).toEqual({ httpStatus: 200, url: `${fake.url}/api/v4/user`, username: 'tanuki' });
      expect(only('/api/v4/user').headers.authorization).toBe('Bearer glpat-xyz');
    });

    it('maps GitLab\'s 401 to AUTH_FAILED', async () => {
      fake.on('GET', '/api/v4/user', { status: 401, body: { message: '401 Unauthorized' } });
      const outcome = await gitlabConnector.check(against(gitlabConnector, 'pat', { token: 'bad' }));

      expect(outcome.error?.code).toBe('AUTH_FAILED');
    });
  });

  describe('jira', () => {
    it('calls /rest/api/3/myself with Basic email:apiToken and reports only the accountId', async () => {
      fake.on('GET', '/rest/api/3/myself', {
        body: { accountId: '5b10ac8d82e05b22cc7d4ef5', emailAddress: 'me@example.com', displayName: 'Me' },
      });
      const outcome = await jiraConnector.check(
        against(jiraConnector, 'api_token', { email: 'me@example.com', apiToken: 'ATATT3x' }),
      );

      expect(outcome.details).toEqual({
        httpStatus: 200,
        url: `${fake.url}/rest/api/3/myself`,
        accountId: '5b10ac8d82e05b22cc7d4ef5',
      });
      const header = only('/rest/api/3/myself').headers.authorization!;
      expect(Buffer.from(header.replace(/^Basic /, ''), 'base64').toString()).toBe('me@example.com:ATATT3x');
    });

    it('answers CONFIG_INVALID when no site URL is configured', async () => {
      const outcome = await jiraConnector.check(
        checkContext(jiraConnector, 'api_token', { credentials: { email: 'me@example.com', apiToken: 't' } }),
      );

      expect(outcome.error).toEqual({ code: 'CONFIG_INVALID', message: 'baseUrl is required' });
    });
  });

  describe('slack', () => {
    it('POSTs auth.test with the bot token and reports team, user and scopes', async () => {
      fake.on('POST', '/auth.test', {
        headers: { 'x-oauth-scopes': 'chat:write,channels:read' },
        body: { ok: true, url: 'https://acme.slack.com/', team: 'Acme', user: 'switchboard-bot', team_id: 'T1', user_id: 'U1' },
      });
      const outcome = await slackConnector.check(against(slackConnector, 'bot_token', { token: 'xoxb-1-2' }));

      expect(outcome).toEqual({
        status: 'healthy',
        error: null,
        details: {
          httpStatus: 200,
          url: `${fake.url}/auth.test`,
          team: 'Acme',
          user: 'switchboard-bot',
          scopes: ['chat:write', 'channels:read'],
        },
      });
      const request = only('/auth.test');
      expect(request.method).toBe('POST');
      expect(request.headers.authorization).toBe('Bearer xoxb-1-2');
    });

    it('maps Slack\'s 200 {ok:false, error:"invalid_auth"} to AUTH_FAILED', async () => {
      fake.on('POST', '/auth.test', { body: { ok: false, error: 'invalid_auth' } });
      const outcome = await slackConnector.check(against(slackConnector, 'bot_token', { token: 'xoxb-bad' }));

      expect(outcome.error).toEqual({ code: 'AUTH_FAILED', message: 'slack answered invalid_auth' });
    });

    it('maps another Slack error to UPSTREAM_ERROR and drops an error value that is not a short code', async () => {
      fake.on('POST', '/auth.test', { body: { ok: false, error: 'ratelimited' } });
      const ratelimited = await slackConnector.check(against(slackConnector, 'bot_token', { token: 'xoxb-1' }));
      fake.on('POST', '/auth.test', { body: { ok: false, error: 'token xoxb-1 is odd' } });
      const odd = await slackConnector.check(against(slackConnector, 'bot_token', { token: 'xoxb-1' }));

      expect(ratelimited.error).toEqual({ code: 'UPSTREAM_ERROR', message: 'slack answered ratelimited' });
      expect(odd.error).toEqual({ code: 'UPSTREAM_ERROR', message: 'slack answered ok: false' });
    });
  });

  describe('clickup', () => {
    it('sends the raw token in Authorization to /api/v2/user', async () => {
      fake.on('GET', '/api/v2/user', { body: { user: { id: 123, username: 'cu', email: 'cu@example.com' } } });
      const outcome = await clickupConnector.check(against(clickupConnector, 'api_token', { apiToken: 'pk_42_ABC' }));

      expect(outcome.details).toEqual({ httpStatus: 200, url: `${fake.url}/api/v2/user`, userId: '123' });
      expect(only('/api/v2/user').headers.authorization).toBe('pk_42_ABC');
    });

    it('maps ClickUp\'s 401 {"err":"Token invalid"} to AUTH_FAILED', async () => {
      fake.on('GET', '/api/v2/user', { status: 401, body: { err: 'Token invalid', ECODE: 'OAUTH_025' } });
      const outcome = await clickupConnector.check(against(clickupConnector, 'api_token', { apiToken: 'pk_bad' }));

      expect(outcome.error?.code).toBe('AUTH_FAILED');
    });
  });

  describe.each([microsoftTeamsConnector, sharepointConnector])('$key (Microsoft Graph)', (connector) => {
    it('checks a delegated connection with GET /me', async () => {
      fake.on('GET', '/me', { body: { id: 'user-guid', userPrincipalName: 'me@contoso.com' } });
      const outcome = await connector.check(against(connector, 'oauth2', { accessToken: 'eyJ.delegated' }));

      expect(outcome.details).toEqual({ httpStatus: 200, url: `${fake.url}/me`, userId: 'user-guid' });
      expect(only('/me').headers.authorization).toBe('Bearer eyJ.delegated');
    });

    it('checks client credentials with a .default token from the token endpoint, then GET /organization', async () => {
      fake.on('POST', '/tokenUrl', { body: { token_type: 'Bearer', expires_in: 3599, access_token: 'eyJ.app' } });
      fake.on('GET', '/organization', { body: { value: [{ id: 'tenant-guid', displayName: 'Contoso' }] } });
      const outcome = await connector.check(
        against(connector, 'client_credentials', { clientId: 'app-id', clientSecret: 'app-secret' }),
      );

      expect(outcome).toEqual({
        status: 'healthy',
        error: null,
        details: {
          httpStatus: 200,
          url: `${fake.url}/organization`,
          tokenType: 'Bearer',
          scopes: ['https://graph.microsoft.com/.default'],
          organizationId: 'tenant-guid',
        },
      });
      const [token] = fake.requestsTo('/tokenUrl');
      expect(Object.fromEntries(new URLSearchParams(token.body))).toEqual({
        grant_type: 'client_credentials',
        scope: 'https://graph.microsoft.com/.default',
        client_id: 'app-id',
        client_secret: 'app-secret',
      });
      expect(fake.requestsTo('/organization')[0].headers.authorization).toBe('Bearer eyJ.app');
      expect(fake.requestsTo('/me')).toHaveLength(0);
    });

    it('maps Entra\'s 401 invalid_client to AUTH_FAILED without the secret', async () => {
      fake.on('POST', '/tokenUrl', {
        status: 401,
        body: { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' },
      });
      const outcome = await connector.check(
        against(connector, 'client_credentials', { clientId: 'app-id', clientSecret: 'app-secret' }),
      );

      expect(outcome.error?.code).toBe('AUTH_FAILED');
      expect(JSON.stringify(outcome)).not.toContain('app-secret');
      expect(JSON.stringify(outcome)).not.toContain('AADSTS');
    });
  });

  describe('google-drive', () => {
    it('calls /drive/v3/about?fields=user with the access token and reports the permissionId', async () => {
      fake.on('GET', '/drive/v3/about', {
        body: { user: { kind: 'drive#user', displayName: 'Ada', emailAddress: 'ada@example.com', permissionId: '0123' } },
      });
      const outcome = await googleDriveConnector.check(against(googleDriveConnector, 'oauth2', { accessToken: 'ya29.x' }));

      expect(outcome.details).toEqual({ httpStatus: 200, url: `${fake.url}/drive/v3/about`, permissionId: '0123' });
      const request = only('/drive/v3/about');
      expect(request.query).toEqual({ fields: 'user' });
      expect(request.headers.authorization).toBe('Bearer ya29.x');
    });

    it('answers CONFIG_INVALID for a connection that was never authorized', async () => {
      const outcome = await googleDriveConnector.check(against(googleDriveConnector, 'oauth2', {}));

      expect(outcome.error).toEqual({ code: 'CONFIG_INVALID', message: 'connection is not authorized yet' });
      expect(fake.requests).toHaveLength(0);
    });
  });

  describe('aws-ses', () => {
    const KEYS = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

    it('reproduces AWS\'s documented SigV4 signature (IAM ListUsers example)', () => {
      const signed = signSigV4(
        {
          method: 'GET',
          url: 'https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8' },
        },
        { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: KEYS.secretAccessKey },
        { region: 'us-east-1', service: 'iam', now: new Date('2015-08-30T12:36:00Z') },
      );

      expect(signed.authorization).toBe(
        'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, ' +
          'SignedHeaders=content-type;host;x-amz-date, ' +
          'Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7',
      );
    });

    it('sends a SigV4-signed GET /v2/email/account that verifies against what arrived, and reports sendingEnabled', async () => {
      fake.on('GET', '/v2/email/account', {
        body: { SendingEnabled: true, ProductionAccessEnabled: false, EnforcementStatus: 'HEALTHY' },
      });
      const outcome = await awsSesConnector.check(against(awsSesConnector, 'access_key', KEYS, { region: 'eu-west-1' }));

      expect(outcome.details).toEqual({
        httpStatus: 200,
        url: `${fake.url}/v2/email/account`,
        sendingEnabled: true,
        productionAccessEnabled: false,
      });
      const request = only('/v2/email/account');
      const amzDate = String(request.headers['x-amz-date']);
      expect(amzDate).toMatch(/^\d{8}T\d{6}Z$/);
      const authorization = String(request.headers.authorization);
      expect(authorization).toContain(`Credential=${KEYS.accessKeyId}/${amzDate.slice(0, 8)}/eu-west-1/ses/aws4_request`);
      expect(authorization).toContain('SignedHeaders=host;x-amz-date,');
      expect(authorization).not.toContain(KEYS.secretAccessKey);

      const when = new Date(
        `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
      );
      const expected = signSigV4(
        { method: request.method, url: `http://${String(request.headers.host)}${request.path}` },
        KEYS,
        { region: 'eu-west-1', service: 'ses', now: when },
      );
      expect(authorization).toBe(expected.authorization);
    });

    it('signs and sends the session token of temporary credentials', async () => {
      fake.on('GET', '/v2/email/account', { body: { SendingEnabled: true } });
      await awsSesConnector.check(against(awsSesConnector, 'access_key', { ...KEYS, sessionToken: 'FwoGZXIvYXdzEXAMPLE' }));

      const request = only('/v2/email/account');
      expect(request.headers['x-amz-security-token']).toBe('FwoGZXIvYXdzEXAMPLE');
      expect(String(request.headers.authorization)).toContain('SignedHeaders=host;x-amz-date;x-amz-security-token,');
      expect(String(request.headers.authorization)).toContain('/us-east-1/ses/aws4_request');
    });

    it('maps SES\'s 403 UnrecognizedClientException to AUTH_FAILED', async () => {
      fake.on('GET', '/v2/email/account', {
        status: 403,
        headers: { 'x-amzn-ErrorType': 'UnrecognizedClientException' },
        body: { message: 'The security token included in the request is invalid.' },
      });
      const outcome = await awsSesConnector.check(against(awsSesConnector, 'access_key', KEYS));

      expect(outcome.error?.code).toBe('AUTH_FAILED');
      expect(JSON.stringify(outcome)).not.toContain(KEYS.secretAccessKey);
    });

    it('refuses a region that could reshape the endpoint host, before any call', async () => {
      const outcome = await awsSesConnector.check(
        checkContext(awsSesConnector, 'access_key', { credentials: KEYS, parameters: { region: 'evil.example/x#' } }),
      );

      expect(outcome.error).toEqual({ code: 'CONFIG_INVALID', message: 'region is not a valid AWS region name' });
    });
  });

  describe('mcp', () => {
    const SERVER_RESULT = {
      protocolVersion: '2025-06-18',
      capabilities: { tools: {} },
      serverInfo: { name: 'acme-mcp', version: '1.4.2' },
    };

    it('runs initialize over JSON-RPC and reports server name, version and protocol', async () => {
      fake.on('POST', '/mcp', { body: { jsonrpc: '2.0', id: 1, result: SERVER_RESULT } });
      const outcome = await mcpConnector.check(
        against(mcpConnector, 'BEARER', { token: 'mcp-token' }, { baseUrl: `${fake.url}/mcp` }),
      );

      expect(outcome).toEqual({
        status: 'healthy',
        error: null,
        details: {
          httpStatus: 200,
          url: `${fake.url}/mcp`,
          serverName: 'acme-mcp',
          serverVersion: '1.4.2',
          protocolVersion: '2025-06-18',
        },
      });
      const request = only('/mcp');
      expect(request.method).toBe('POST');
      expect(request.headers.authorization).toBe('Bearer mcp-token');
      expect(request.headers.accept).toBe('application/json, text/event-stream');
      expect(request.headers['content-type']).toBe('application/json');
      expect(JSON.parse(request.body)).toEqual({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'switchboard', version: '1' } },
      });
    });

    it('reads the initialize result from an SSE reply', async () => {
      fake.on('POST', '/mcp', {
        headers: { 'Content-Type': 'text/event-stream', 'Mcp-Session-Id': 'sess-1' },
        body: `event: message\nid: 1\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 1, result: SERVER_RESULT })}\n\n`,
      });
      const outcome = await mcpConnector.check(against(mcpConnector, 'NONE', {}, { baseUrl: `${fake.url}/mcp` }));

      expect(outcome.status).toBe('healthy');
      expect(outcome.details).toMatchObject({ serverName: 'acme-mcp', serverVersion: '1.4.2' });
      expect(only('/mcp').headers.authorization).toBeUndefined();
    });

    it('sends an API key in the configured header', async () => {
      fake.on('POST', '/mcp', { body: { jsonrpc: '2.0', id: 1, result: SERVER_RESULT } });
      await mcpConnector.check(
        against(mcpConnector, 'API_KEY', { apiKey: 'mcp-key' }, { baseUrl: `${fake.url}/mcp`, headerName: 'X-MCP-Key' }),
      );

      expect(only('/mcp').headers['x-mcp-key']).toBe('mcp-key');
    });

    it('maps 401 to AUTH_FAILED', async () => {
      fake.on('POST', '/mcp', { status: 401, headers: { 'WWW-Authenticate': 'Bearer resource_metadata="x"' } });
      const outcome = await mcpConnector.check(against(mcpConnector, 'BEARER', { token: 'bad' }, { baseUrl: `${fake.url}/mcp` }));

      expect(outcome.error?.code).toBe('AUTH_FAILED');
    });

    it('maps a JSON-RPC error or a reply without serverInfo to UPSTREAM_ERROR', async () => {
      fake.on('POST', '/mcp', { body: { jsonrpc: '2.0', id: 1, error: { code: -32602, message: 'Unsupported protocol version' } } });
      const rpcError = await mcpConnector.check(against(mcpConnector, 'NONE', {}, { baseUrl: `${fake.url}/mcp` }));
      fake.on('POST', '/mcp', { body: '<html>not an MCP server</html>', headers: { 'Content-Type': 'text/html' } });
      const notMcp = await mcpConnector.check(against(mcpConnector, 'NONE', {}, { baseUrl: `${fake.url}/mcp` }));

      expect(rpcError.error).toEqual({ code: 'UPSTREAM_ERROR', message: 'MCP server answered JSON-RPC error -32602' });
      expect(notMcp.error).toEqual({ code: 'UPSTREAM_ERROR', message: 'MCP server did not answer initialize' });
    });
  });
});
