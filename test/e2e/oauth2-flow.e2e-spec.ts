import { createHash } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { OAuth2TestServer } from '../support/oauth2-server';
import { startTestApp, uniqueId } from '../support/test-app';
import { bearer, mintToken } from '../support/tokens';

const REDACTED = '***REDACTED***';
const PUBLIC_URL = 'http://127.0.0.1:3000';
const CALLBACK = `${PUBLIC_URL}/v1/oauth2/callback`;

type Headers = Record<string, string>;

// Two app instances, real PostgreSQL and token endpoints: Jest's 5 s default is too tight on a busy machine.
jest.setTimeout(60_000);

describe('OAuth2 authorization code with PKCE', () => {
  let app: NestFastifyApplication;
  let db: DataSource;
  let oauth: OAuth2TestServer;
  const platformAdmin = bearer(mintToken({ sub: 'root', roles: ['platform-admin'] }));
  const bodies: string[] = [];

  async function setup(integrationOverrides: Record<string, unknown> = {}, target: NestFastifyApplication = app) {
    const tenant = uniqueId('oauth');
    expect((await target.inject({ method: 'POST', url: '/v1/tenants', headers: platformAdmin, payload: { id: tenant, displayName: 'OAuth2' } })).statusCode).toBe(201);
    const editor = bearer(mintToken({ sub: 'bob', tenant, roles: ['editor'] }));
    const viewer = bearer(mintToken({ sub: 'alice', tenant, roles: ['viewer'] }));
    const admin = bearer(mintToken({ sub: 'carol', tenant, roles: ['admin'] }));
    const integration = uniqueId('app');
    const created = await target.inject({
      method: 'POST',
      url: `/v1/tenants/${tenant}/integrations`,
      headers: editor,
      payload: {
        id: integration,
        displayName: 'OAuth2 API',
        connector: 'http',
        authMethod: 'OAUTH2_AUTHORIZATION_CODE',
        credentials: { clientId: oauth.clientId, clientSecret: oauth.clientSecret },
        ...integrationOverrides,
        parameters: {
          baseUrl: oauth.url,
          testPath: '/api/me',
          tokenUrl: `${oauth.url}/token`,
          authorizationUrl: `${oauth.url}/authorize`,
          scopes: 'read write',
          ...((integrationOverrides.parameters as Record<string, unknown>) ?? {}),
        },
      },
    });
    expect(created.statusCode).toBe(201);
    return { tenant, integration, editor, viewer, admin };
  }

  async function startConnection(ctx: { tenant: string; integration: string; viewer: Headers }, target: NestFastifyApplication = app) {
    const created = await target.inject({
      method: 'POST',
      url: `/v1/tenants/${ctx.tenant}/integrations/${ctx.integration}/connections`,
      headers: ctx.viewer,
      payload: { name: 'My account', authMethod: 'OAUTH2_AUTHORIZATION_CODE' },
    });
    bodies.push(created.body);
    expect(created.statusCode).toBe(201);
    return created.json<{ id: string; oauth2Required: boolean; authorizationUrl: string }>();
  }

  function callback(url: URL, target: NestFastifyApplication = app) {
    return target.inject({ method: 'GET', url: `${url.pathname}${url.search}` });
  }

  beforeAll(async () => {
    oauth = await OAuth2TestServer.start();
    ({ app } = await startTestApp({ OUTBOUND_ALLOWED_HOSTS: '127.0.0.1', PUBLIC_URL }));
    db = app.get(DataSource);
  });

  afterAll(async () => {
    for (const body of bodies) {
      expect(body).not.toContain(oauth.clientSecret);
      expect(body).not.toMatch(/\b(at|rt)-[0-9a-f]{24}\b/);
    }
    await app.close();
    await oauth.close();
  });

  it('runs the whole flow: consent URL with PKCE S256, callback, tokens stored encrypted and redacted, connection healthy', async () => {
    const ctx = await setup();
    const created = await startConnection(ctx);
    expect(created).toMatchObject({ oauth2Required: true, credentials: {}, health: { status: 'unknown' } });

    const url = new URL(created.authorizationUrl);
    expect(`${url.origin}${url.pathname}`).toBe(`${oauth.url}/authorize`);
    const q = Object.fromEntries(url.searchParams);
    expect(q).toEqual({
      response_type: 'code',
      client_id: oauth.clientId,
      redirect_uri: CALLBACK,
      scope: 'read write',
      state: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      code_challenge_method: 'S256',
    });
    const [state] = await db.query(`SELECT state_hash, tenant_id, connection_id, user_id, code_verifier, redirect_uri, expires_at FROM oauth2_states WHERE connection_id = $1`, [created.id]);
    expect(state).toMatchObject({ state_hash: createHash('sha256').update(q.state).digest('hex'), tenant_id: ctx.tenant, user_id: 'alice', redirect_uri: CALLBACK });
    expect(state.code_verifier).toMatch(/^sb1\./);
    const ttl = new Date(state.expires_at).getTime() - Date.now();
    expect(ttl).toBeGreaterThan(9 * 60_000);
    expect(ttl).toBeLessThanOrEqual(10 * 60_000);

    const grantsBefore = oauth.grants.authorization_code;
    const back = await oauth.approve(created.authorizationUrl);
    expect(`${back.origin}${back.pathname}`).toBe(CALLBACK);
    const done = await callback(back);
    bodies.push(done.body);
    expect(done.statusCode).toBe(200);
    expect(done.headers['content-type']).toContain('text/html');
    expect(done.body).toContain('Connected. You can close this window.');
    expect(oauth.grants.authorization_code).toBe(grantsBefore + 1);
    expect(oauth.clientAuthSeen[oauth.clientAuthSeen.length - 1]).toBe('basic');

    const read = await app.inject({ method: 'GET', url: `/v1/tenants/${ctx.tenant}/connections/${created.id}`, headers: ctx.viewer });
    bodies.push(read.body);
    expect(read.json()).toMatchObject({ credentials: { accessToken: REDACTED, refreshToken: REDACTED, expiresAt: REDACTED }, health: { status: 'healthy', lastError: null } });
    const [row] = await db.query(`SELECT secrets::text AS secrets, token_expires_at, credentials_version FROM connections WHERE id = $1`, [created.id]);
    expect(row.secrets).not.toMatch(/\b(at|rt)-[0-9a-f]{24}\b/);
    expect(new Date(row.token_expires_at).getTime()).toBeGreaterThan(Date.now() + 3000_000);

    const verified = await app.inject({ method: 'POST', url: `/v1/tenants/${ctx.tenant}/connections/${created.id}:verify`, headers: ctx.viewer });
    bodies.push(verified.body);
    expect(verified.json()).toMatchObject({ status: 'healthy', details: { httpStatus: 200 } });

    const audit = await db.query(`SELECT action, actor, outcome FROM audit_events WHERE tenant_id = $1 AND resource_id = $2 ORDER BY seq`, [ctx.tenant, created.id]);
    expect(audit.map((a: { action: string }) => a.action)).toEqual(['connection.created', 'connection.authorized', 'connection.verified']);
    expect(audit[1]).toMatchObject({ actor: 'alice', outcome: 'success' });
    const events = await db.query(`SELECT type FROM events WHERE tenant_id = $1 AND data->>'connectionId' = $2 ORDER BY seq`, [ctx.tenant, created.id]);
    expect(events.map((e: { type: string }) => e.type)).toEqual(['connection.created', 'connection.health_changed', 'connection.authorization_completed']);

    const replay = await callback(back);
    expect(replay.statusCode).toBe(400);
    expect(replay.headers['content-type']).toContain('application/problem+json');
    expect(replay.json()).toMatchObject({ status: 400, detail: expect.stringContaining('already used') });
    expect(oauth.grants.authorization_code).toBe(grantsBefore + 1);
  });

  it('refuses an expired state with 400 and never calls the token endpoint', async () => {
    const ctx = await setup();
    const created = await startConnection(ctx);
    const back = await oauth.approve(created.authorizationUrl);
    await db.query(`UPDATE oauth2_states SET expires_at = now() - interval '1 minute' WHERE connection_id = $1`, [created.id]);
    const grants = oauth.grants.authorization_code;
    const response = await callback(back);
    expect(response.statusCode).toBe(400);
    expect(response.json().detail).toContain('expired');
    expect(oauth.grants.authorization_code).toBe(grants);
    const [audit] = await db.query(`SELECT outcome, details FROM audit_events WHERE resource_id = $1 AND action = 'connection.authorized'`, [created.id]);
    expect(audit).toMatchObject({ outcome: 'failure', details: { reason: 'state_expired' } });
  });

  it('refuses an unknown or missing state with 400 problem+json', async () => {
    for (const query of ['?code=abc&state=' + 'x'.repeat(43), '?code=abc', '']) {
      const response = await app.inject({ method: 'GET', url: `/v1/oauth2/callback${query}` });
      expect(response.statusCode).toBe(400);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.json()).toMatchObject({ type: expect.any(String), title: expect.any(String), status: 400, detail: expect.any(String), instance: '/v1/oauth2/callback', requestId: expect.any(String) });
    }
  });

  it('records a provider error on the connection and answers 400', async () => {
    const ctx = await setup();
    const created = await startConnection(ctx);
    const denied = await callback(oauth.deny(created.authorizationUrl));
    expect(denied.statusCode).toBe(400);
    expect(denied.json().detail).toContain('access_denied');
    expect(denied.body).not.toContain('The user denied');
    const read = await app.inject({ method: 'GET', url: `/v1/tenants/${ctx.tenant}/connections/${created.id}`, headers: ctx.viewer });
    expect(read.json().health).toMatchObject({ status: 'unhealthy', lastError: { code: 'AUTH_FAILED', message: 'authorization failed: access_denied' } });
    const [audit] = await db.query(`SELECT outcome FROM audit_events WHERE resource_id = $1 AND action = 'connection.authorized'`, [created.id]);
    expect(audit.outcome).toBe('failure');
  });

  it('authenticates the client in the form when tokenAuthMethod is client_secret_post', async () => {
    const ctx = await setup({ parameters: { tokenAuthMethod: 'client_secret_post' } });
    const created = await startConnection(ctx);
    const done = await callback(await oauth.approve(created.authorizationUrl));
    expect(done.statusCode).toBe(200);
    expect(oauth.clientAuthSeen[oauth.clientAuthSeen.length - 1]).toBe('post');
  });

  it('records a failed code exchange on the connection (wrong client secret)', async () => {
    const ctx = await setup({ credentials: { clientId: oauth.clientId, clientSecret: 'not-the-secret' } });
    const created = await startConnection(ctx);
    const done = await callback(await oauth.approve(created.authorizationUrl));
    expect(done.statusCode).toBe(400);
    expect(done.json().detail).toContain('invalid_client');
    const read = await app.inject({ method: 'GET', url: `/v1/tenants/${ctx.tenant}/connections/${created.id}`, headers: ctx.viewer });
    expect(read.json().health).toMatchObject({ status: 'unhealthy', lastError: { code: 'AUTH_FAILED' } });
    expect(read.json().credentials).toEqual({});
  });

  it('does not start the flow when tokens are supplied, and starts it again on :authorize', async () => {
    const ctx = await setup();
    const created = await app.inject({
      method: 'POST',
      url: `/v1/tenants/${ctx.tenant}/integrations/${ctx.integration}/connections`,
      headers: ctx.viewer,
      payload: { name: 'Imported', authMethod: 'OAUTH2_AUTHORIZATION_CODE', credentials: { accessToken: 'imported-token', expiresAt: new Date(Date.now() + 3600_000).toISOString() } },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).not.toHaveProperty('oauth2Required');
    expect(created.json().credentials).toEqual({ accessToken: REDACTED, expiresAt: REDACTED });
    const again = await app.inject({ method: 'POST', url: `/v1/tenants/${ctx.tenant}/connections/${created.json().id}:authorize`, headers: ctx.viewer });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ oauth2Required: true, authorizationUrl: expect.stringContaining(`${oauth.url}/authorize?`) });
    expect((await callback(await oauth.approve(again.json().authorizationUrl))).statusCode).toBe(200);
  });

  it('refuses a connection that would send the integration\'s client secret to its own token endpoint', async () => {
    const ctx = await setup();
    const response = await app.inject({
      method: 'POST',
      url: `/v1/tenants/${ctx.tenant}/integrations/${ctx.integration}/connections`,
      headers: ctx.viewer,
      payload: { name: 'x', authMethod: 'OAUTH2_AUTHORIZATION_CODE', parameters: { tokenUrl: 'http://127.0.0.1:1/steal' } },
    });
    expect(response.statusCode).toBe(422);
    expect(response.json().errors[0].field).toBe('parameters.tokenUrl');
  });

  describe('with OAUTH2_RETURN_URL', () => {
    let redirecting: NestFastifyApplication;
    beforeAll(async () => {
      ({ app: redirecting } = await startTestApp({ PUBLIC_URL, OAUTH2_RETURN_URL: 'https://ui.example.test/connections/done' }));
    });
    afterAll(async () => {
      await redirecting.close();
    });

    it('redirects to it with the connection id and status', async () => {
      const ctx = await setup({}, redirecting);
      const created = await startConnection(ctx, redirecting);
      const done = await callback(await oauth.approve(created.authorizationUrl), redirecting);
      expect(done.statusCode).toBe(302);
      expect(done.headers.location).toBe(`https://ui.example.test/connections/done?connection=${created.id}&status=ok`);
    });
  });
});
