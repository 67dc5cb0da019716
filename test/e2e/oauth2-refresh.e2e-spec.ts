import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { TokenRefreshScheduler } from '../../src/oauth2/token-refresh.scheduler';
import { OAuth2TestServer } from '../support/oauth2-server';
import { startTestApp, uniqueId } from '../support/test-app';
import { bearer, mintToken } from '../support/tokens';

const PUBLIC_URL = 'http://127.0.0.1:3000';
const ENV = { OUTBOUND_ALLOWED_HOSTS: '127.0.0.1', PUBLIC_URL, VERIFY_MAX_IN_FLIGHT_PER_TENANT: '100', VERIFY_MAX_PER_MINUTE_PER_TENANT: '100000' };

type Headers = Record<string, string>;

interface Setup {
  tenant: string;
  integration: string;
  viewer: Headers;
}

/** Two instances of the service on one database, as in production behind a load balancer. */
// Two app instances, real PostgreSQL and token endpoints: Jest's 5 s default is too tight on a busy machine.
jest.setTimeout(60_000);

describe('OAuth2 token refresh', () => {
  let appA: NestFastifyApplication;
  let appB: NestFastifyApplication;
  let db: DataSource;
  const servers: OAuth2TestServer[] = [];
  const platformAdmin = bearer(mintToken({ sub: 'root', roles: ['platform-admin'] }));

  async function newServer(): Promise<OAuth2TestServer> {
    const server = await OAuth2TestServer.start();
    servers.push(server);
    return server;
  }

  async function setup(oauth: OAuth2TestServer): Promise<Setup> {
    const tenant = uniqueId('refresh');
    expect((await appA.inject({ method: 'POST', url: '/v1/tenants', headers: platformAdmin, payload: { id: tenant, displayName: 'Refresh' } })).statusCode).toBe(201);
    const editor = bearer(mintToken({ sub: 'bob', tenant, roles: ['editor'] }));
    const integration = uniqueId('app');
    const created = await appA.inject({
      method: 'POST',
      url: `/v1/tenants/${tenant}/integrations`,
      headers: editor,
      payload: {
        id: integration,
        displayName: 'OAuth2 API',
        connector: 'http',
        authMethod: 'OAUTH2_AUTHORIZATION_CODE',
        credentials: { clientId: oauth.clientId, clientSecret: oauth.clientSecret },
        parameters: { baseUrl: oauth.url, testPath: '/api/me', tokenUrl: `${oauth.url}/token`, authorizationUrl: `${oauth.url}/authorize`, scopes: 'read' },
      },
    });
    expect(created.statusCode).toBe(201);
    return { tenant, integration, viewer: bearer(mintToken({ sub: 'alice', tenant, roles: ['viewer'] })) };
  }

  /** Runs the authorization-code flow; the access token the server issues lives `ttlSeconds`. */
  async function authorizedConnection(oauth: OAuth2TestServer, s: Setup, ttlSeconds: number): Promise<string> {
    const created = await appA.inject({
      method: 'POST',
      url: `/v1/tenants/${s.tenant}/integrations/${s.integration}/connections`,
      headers: s.viewer,
      payload: { name: 'Mine', authMethod: 'OAUTH2_AUTHORIZATION_CODE' },
    });
    expect(created.statusCode).toBe(201);
    const previousTtl = oauth.accessTokenTtl;
    oauth.accessTokenTtl = ttlSeconds;
    try {
      const back = await oauth.approve(created.json().authorizationUrl);
      const done = await appB.inject({ method: 'GET', url: `${back.pathname}${back.search}` });
      expect(done.statusCode).toBe(200);
    } finally {
      oauth.accessTokenTtl = previousTtl;
    }
    return created.json().id as string;
  }

  async function connectionRow(id: string): Promise<{ credentials_version: number; refresh_failures: number; next_refresh_at: Date | null; token_expires_at: Date | null; credential_keys: string[]; health_status: string; health_last_error: { code: string; message: string } | null }> {
    const [row] = await db.query(
      `SELECT credentials_version, refresh_failures, next_refresh_at, token_expires_at, health_status, health_last_error,
              ARRAY(SELECT jsonb_object_keys(secrets->'credentials') ORDER BY 1) AS credential_keys
         FROM connections WHERE id = $1`,
      [id],
    );
    return row;
  }

  function verify(target: NestFastifyApplication, s: Setup, id: string) {
    return target.inject({ method: 'POST', url: `/v1/tenants/${s.tenant}/connections/${id}:verify`, headers: s.viewer });
  }

  beforeAll(async () => {
    ({ app: appA } = await startTestApp(ENV));
    ({ app: appB } = await startTestApp(ENV));
    db = appA.get(DataSource);
  });

  afterAll(async () => {
    await appA.close();
    await appB.close();
    for (const server of servers) await server.close();
  });

  it('refresh race: 20 concurrent checks on two instances make exactly one refresh_token grant', async () => {
    const oauth = await newServer();
    oauth.tokenDelayMs = 150;
    const s = await setup(oauth);
    const id = await authorizedConnection(oauth, s, 2);
    const before = await connectionRow(id);
    expect(new Date(before.token_expires_at as Date).getTime() - Date.now()).toBeLessThanOrEqual(2000);

    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => verify(i % 2 === 0 ? appA : appB, s, id)));
    expect(replies.map((r) => r.statusCode)).toEqual(Array(20).fill(200));
    expect(replies.map((r) => r.json().status)).toEqual(Array(20).fill('healthy'));
    expect(oauth.grants.refresh_token).toBe(1);

    const after = await connectionRow(id);
    expect(after.credentials_version).toBe(before.credentials_version + 1);
    expect(new Date(after.token_expires_at as Date).getTime()).toBeGreaterThan(Date.now() + 3000_000);
    const audit = await db.query(`SELECT count(*)::int AS n FROM audit_events WHERE resource_id = $1 AND action = 'connection.token_refreshed'`, [id]);
    expect(audit[0].n).toBe(1);
  });

  it('marks the connection unhealthy with AUTH_FAILED naming invalid_grant when the refresh token is rejected', async () => {
    const oauth = await newServer();
    const s = await setup(oauth);
    const id = await authorizedConnection(oauth, s, 2);
    oauth.revokeRefreshTokens();
    const reply = await verify(appA, s, id);
    expect(reply.statusCode).toBe(200);
    expect(reply.json()).toMatchObject({ status: 'unhealthy', error: { code: 'AUTH_FAILED', message: expect.stringContaining('invalid_grant') } });
    const read = await appB.inject({ method: 'GET', url: `/v1/tenants/${s.tenant}/connections/${id}`, headers: s.viewer });
    expect(read.json().health).toMatchObject({ status: 'unhealthy', lastError: { code: 'AUTH_FAILED', message: expect.stringContaining('invalid_grant') } });
    const row = await connectionRow(id);
    expect(row.credential_keys).not.toContain('refreshToken');

    const [audit] = await db.query(`SELECT outcome, details FROM audit_events WHERE resource_id = $1 AND action = 'connection.token_refresh_failed'`, [id]);
    expect(audit).toMatchObject({ outcome: 'failure', details: { code: 'invalid_grant', possibleTokenLeak: true } });
    const events = await db.query(`SELECT type, data FROM events WHERE data->>'connectionId' = $1 AND type = 'connection.token_refresh_failed'`, [id]);
    expect(events).toHaveLength(1);
    expect(events[0].data).toMatchObject({ errorCode: 'invalid_grant' });

    // The dead refresh token is never presented again.
    const grants = oauth.grants.refresh_token;
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const again = await verify(appB, s, id);
    expect(again.json()).toMatchObject({ status: 'unhealthy', error: { code: 'AUTH_FAILED', message: expect.stringContaining('invalid_grant') } });
    expect(oauth.grants.refresh_token).toBe(grants);
  });

  it('flags no token leak for an invalid_grant that does not mention reuse', async () => {
    const oauth = await newServer();
    const s = await setup(oauth);
    const id = await authorizedConnection(oauth, s, 2);
    oauth.forcedRefreshReplies.push({ status: 400, body: { error: 'invalid_grant', error_description: 'The refresh token has expired' } });
    expect((await verify(appA, s, id)).json().error.code).toBe('AUTH_FAILED');
    const [audit] = await db.query(`SELECT details FROM audit_events WHERE resource_id = $1 AND action = 'connection.token_refresh_failed'`, [id]);
    expect(audit.details).toEqual({ code: 'invalid_grant' });
  });

  it('backs off after a transient failure without marking the connection dead, then refreshes', async () => {
    const oauth = await newServer();
    const s = await setup(oauth);
    const id = await authorizedConnection(oauth, s, 30);
    oauth.forcedRefreshReplies.push({ status: 503, body: { error: 'temporarily_unavailable' } });
    const first = await verify(appA, s, id);
    expect(first.json()).toMatchObject({ status: 'healthy' });
    let row = await connectionRow(id);
    expect(row.refresh_failures).toBe(1);
    expect(row.credential_keys).toContain('refreshToken');
    const delay = new Date(row.next_refresh_at as Date).getTime() - Date.now();
    expect(delay).toBeGreaterThan(5_000);
    expect(delay).toBeLessThanOrEqual(10_000);

    // Backing off: a check does not call the token endpoint again.
    expect((await verify(appB, s, id)).json().status).toBe('healthy');
    expect(oauth.grants.refresh_token).toBe(1);

    await db.query(`UPDATE connections SET next_refresh_at = now() - interval '1 second' WHERE id = $1`, [id]);
    expect((await verify(appB, s, id)).json().status).toBe('healthy');
    expect(oauth.grants.refresh_token).toBe(2);
    row = await connectionRow(id);
    expect(row).toMatchObject({ refresh_failures: 0, next_refresh_at: null });
    const audit = await db.query(`SELECT action FROM audit_events WHERE resource_id = $1 AND action LIKE 'connection.token_%' ORDER BY seq`, [id]);
    expect(audit.map((a: { action: string }) => a.action)).toEqual(['connection.token_refresh_failed', 'connection.token_refreshed']);
  });

  it('scheduler: runOnce on two instances at once refreshes each due connection exactly once', async () => {
    const oauth = await newServer();
    oauth.tokenDelayMs = 50;
    const s = await setup(oauth);
    const due = [await authorizedConnection(oauth, s, 120), await authorizedConnection(oauth, s, 200), await authorizedConnection(oauth, s, 2)];
    const notDue = await authorizedConnection(oauth, s, 3600);
    const versions = new Map<string, number>();
    for (const id of [...due, notDue]) versions.set(id, (await connectionRow(id)).credentials_version);

    const [a, b] = await Promise.all([appA.get(TokenRefreshScheduler).runOnce(), appB.get(TokenRefreshScheduler).runOnce()]);
    expect(oauth.grants.refresh_token).toBe(3);
    for (const id of due) {
      const row = await connectionRow(id);
      expect(row.credentials_version).toBe((versions.get(id) as number) + 1);
      expect(row.next_refresh_at).toBeNull();
      expect(new Date(row.token_expires_at as Date).getTime()).toBeGreaterThan(Date.now() + 3000_000);
    }
    expect((await connectionRow(notDue)).credentials_version).toBe(versions.get(notDue));
    expect(a.refreshed + b.refreshed).toBeGreaterThanOrEqual(3);

    const [c, d] = await Promise.all([appA.get(TokenRefreshScheduler).runOnce(), appB.get(TokenRefreshScheduler).runOnce()]);
    expect(oauth.grants.refresh_token).toBe(3);
    expect(c.claimed + d.claimed).toBe(0);
    for (const id of due) expect((await verify(appA, s, id)).json().status).toBe('healthy');
    expect(oauth.grants.refresh_token).toBe(3);
  });

  it('a check racing the scheduler still makes one token call between them', async () => {
    const oauth = await newServer();
    oauth.tokenDelayMs = 150;
    const s = await setup(oauth);
    const id = await authorizedConnection(oauth, s, 2);
    const [run, ...checks] = await Promise.all([appA.get(TokenRefreshScheduler).runOnce(), verify(appB, s, id), verify(appA, s, id), verify(appB, s, id)]);
    expect(checks.map((r) => r.json().status)).toEqual(['healthy', 'healthy', 'healthy']);
    expect(oauth.grants.refresh_token).toBe(1);
    expect(run.failed).toBe(0);
  });
});
