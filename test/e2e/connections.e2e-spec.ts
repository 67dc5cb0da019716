import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { FakeUpstream } from '../connectors/support/fake-upstream';
import { startTestApp, uniqueId } from '../support/test-app';
import { bearer, mintToken } from '../support/tokens';

const REDACTED = '***REDACTED***';
const CANARY_CREDENTIAL = 'canary-cred-7f3a9e21c4';
const CANARY_HEADER = 'canary-header-5b8d2c11e0';
const CANARY_INTEGRATION = 'canary-integration-0c4e8a77';

type Headers = Record<string, string>;

interface Tenant {
  id: string;
  viewer: Headers;
  viewer2: Headers;
  editor: Headers;
  admin: Headers;
}

// Two app instances, real PostgreSQL and token endpoints: Jest's 5 s default is too tight on a busy machine.
jest.setTimeout(60_000);

describe('connections', () => {
  let app: NestFastifyApplication;
  let db: DataSource;
  let upstream: FakeUpstream;
  let other: FakeUpstream;
  const platformAdmin = bearer(mintToken({ sub: 'root', roles: ['platform-admin'] }));
  /** Every reply body this suite saw: the canaries must be in none of them. */
  const bodies: string[] = [];

  async function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, headers: Headers, payload?: unknown, extra: Headers = {}) {
    const response = await app.inject({ method, url, headers: { ...headers, ...extra }, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });
    bodies.push(response.body);
    return response;
  }

  async function newTenant(): Promise<Tenant> {
    const id = uniqueId('conn');
    const created = await call('POST', '/v1/tenants', platformAdmin, { id, displayName: 'Connections test' });
    expect(created.statusCode).toBe(201);
    return {
      id,
      viewer: bearer(mintToken({ sub: 'alice', tenant: id, roles: ['viewer'] })),
      viewer2: bearer(mintToken({ sub: 'dave', tenant: id, roles: ['viewer'] })),
      editor: bearer(mintToken({ sub: 'bob', tenant: id, roles: ['editor'] })),
      admin: bearer(mintToken({ sub: 'carol', tenant: id, roles: ['admin'] })),
    };
  }

  async function newIntegration(t: Tenant, overrides: Record<string, unknown> = {}): Promise<string> {
    const id = uniqueId('api');
    const created = await call('POST', `/v1/tenants/${t.id}/integrations`, t.editor, {
      id,
      displayName: 'API',
      connector: 'http',
      parameters: { baseUrl: upstream.url, testPath: '/check' },
      authMethod: 'API_KEY',
      credentials: { apiKey: CANARY_INTEGRATION },
      headers: { 'X-Integration': CANARY_INTEGRATION },
      ...overrides,
    });
    expect(created.statusCode).toBe(201);
    return id;
  }

  function connectionBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return { name: 'My account', authMethod: 'API_KEY', credentials: { apiKey: 'conn-good-key' }, ...overrides };
  }

  async function newConnection(t: Tenant, integration: string, who: Headers, overrides: Record<string, unknown> = {}) {
    const created = await call('POST', `/v1/tenants/${t.id}/integrations/${integration}/connections`, who, connectionBody(overrides));
    expect(created.statusCode).toBe(201);
    return created.json<{ id: string; etag: string }>();
  }

  beforeAll(async () => {
    ({ app } = await startTestApp({ PUBLIC_URL: 'http://127.0.0.1:3000', VERIFY_MAX_IN_FLIGHT_PER_TENANT: '50', VERIFY_MAX_PER_MINUTE_PER_TENANT: '10000' }));
    db = app.get(DataSource);
    upstream = await FakeUpstream.start();
    other = await FakeUpstream.start();
    for (const fake of [upstream, other]) {
      fake.on('GET', '/check', (r) => (r.headers['x-api-key'] === 'conn-good-key' || r.headers['x-api-key'] === CANARY_INTEGRATION ? { status: 200, body: {} } : { status: 401, body: { echoed: r.headers['x-api-key'] } }));
    }
  });

  afterAll(async () => {
    for (const body of bodies) {
      expect(body).not.toContain(CANARY_CREDENTIAL);
      expect(body).not.toContain(CANARY_HEADER);
      expect(body).not.toContain(CANARY_INTEGRATION);
    }
    await app.close();
    await upstream.close();
    await other.close();
  });

  it('creates a personal connection for any member, with secrets redacted and health unknown', async () => {
    const t = await newTenant();
    const integration = await newIntegration(t);
    const created = await call('POST', `/v1/tenants/${t.id}/integrations/${integration}/connections`, t.viewer, {
      name: 'Alice',
      description: 'mine',
      authMethod: 'API_KEY',
      credentials: { apiKey: CANARY_CREDENTIAL },
      headers: { 'X-Canary': CANARY_HEADER },
      parameters: { testPath: '/check' },
      servers: [{ url: other.url, description: 'staging' }],
      metadata: { team: 'a' },
    });
    expect(created.statusCode).toBe(201);
    const body = created.json();
    expect(body).toMatchObject({
      object: 'connection',
      tenantId: t.id,
      integrationId: integration,
      ownerId: 'alice',
      name: 'Alice',
      description: 'mine',
      accessScope: 'personal',
      isSharedServiceAccount: false,
      integrationVersion: 'latest',
      authMethod: 'API_KEY',
      credentials: { apiKey: REDACTED },
      headers: { 'X-Canary': REDACTED },
      parameters: { testPath: '/check' },
      servers: [{ url: other.url, description: 'staging' }],
      metadata: { team: 'a' },
      enabled: true,
      health: { status: 'unknown', checkedAt: null, latencyMs: null, lastError: null },
    });
    expect(body.id).toMatch(/^conn_[0-9a-f]{24}$/);
    expect(created.headers.etag).toBe(`"${body.etag}"`);
    const [stored] = await db.query(`SELECT secrets::text AS secrets FROM connections WHERE tenant_id = $1 AND id = $2`, [t.id, body.id]);
    expect(stored.secrets).not.toContain(CANARY_CREDENTIAL);
    expect(stored.secrets).toContain('sb1.');
  });

  it('hides a personal connection from everyone but its owner, admins and platform-admins included', async () => {
    const t = await newTenant();
    const integration = await newIntegration(t);
    const { id } = await newConnection(t, integration, t.viewer);
    const url = `/v1/tenants/${t.id}/connections/${id}`;

    expect((await call('GET', url, t.viewer)).statusCode).toBe(200);
    for (const who of [t.viewer2, t.editor, t.admin, platformAdmin]) {
      expect((await call('GET', url, who)).statusCode).toBe(404);
      expect((await call('PATCH', url, who, { name: 'taken' })).statusCode).toBe(404);
      expect((await call('POST', `${url}:verify`, who)).statusCode).toBe(404);
      expect((await call('DELETE', url, who)).statusCode).toBe(404);
      const listed = await call('GET', `/v1/tenants/${t.id}/connections`, who);
      expect(listed.statusCode).toBe(200);
      expect(listed.json().connections.map((c: { id: string }) => c.id)).not.toContain(id);
    }
    const foreign = bearer(mintToken({ sub: 'alice', tenant: uniqueId('elsewhere'), roles: ['admin'] }));
    expect((await call('GET', url, foreign)).statusCode).toBe(403);

    const mine = await call('GET', `/v1/tenants/${t.id}/connections`, t.viewer);
    expect(mine.json().connections.map((c: { id: string }) => c.id)).toEqual([id]);
    const renamed = await call('PATCH', url, t.viewer, { name: 'Renamed' });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json().name).toBe('Renamed');
    expect((await call('POST', `${url}:verify`, t.viewer)).json().status).toBe('healthy');
    expect((await call('DELETE', url, t.viewer)).statusCode).toBe(204);
    expect((await call('GET', url, t.viewer)).statusCode).toBe(404);
  });

  it('lets every member read an organizational connection and only editors and admins change it', async () => {
    const t = await newTenant();
    const integration = await newIntegration(t);
    const refused = await call('POST', `/v1/tenants/${t.id}/integrations/${integration}/connections`, t.viewer, connectionBody({ accessScope: 'organizational' }));
    expect(refused.statusCode).toBe(403);
    expect(refused.headers['content-type']).toContain('application/problem+json');

    const { id } = await newConnection(t, integration, t.editor, { accessScope: 'organizational' });
    const url = `/v1/tenants/${t.id}/connections/${id}`;
    for (const who of [t.viewer, t.viewer2, t.editor, t.admin, platformAdmin]) {
      expect((await call('GET', url, who)).statusCode).toBe(200);
      const listed = await call('GET', `/v1/tenants/${t.id}/connections?accessScope=organizational`, who);
      expect(listed.json().connections.map((c: { id: string }) => c.id)).toContain(id);
    }
    expect((await call('PATCH', url, t.viewer, { name: 'viewer edit' })).statusCode).toBe(403);
    expect((await call('POST', `${url}:verify`, t.viewer)).statusCode).toBe(403);
    expect((await call('DELETE', url, t.viewer)).statusCode).toBe(403);
    expect((await call('PATCH', url, t.editor, { name: 'editor edit' })).statusCode).toBe(200);
    const byAdmin = await call('PATCH', url, t.admin, { name: 'admin edit' });
    expect(byAdmin.statusCode).toBe(200);
    expect(byAdmin.json()).toMatchObject({ name: 'admin edit', ownerId: 'bob' });
    expect((await call('DELETE', url, t.admin)).statusCode).toBe(204);
  });

  it('allows isSharedServiceAccount only on organizational connections', async () => {
    const t = await newTenant();
    const integration = await newIntegration(t);
    const personal = await call('POST', `/v1/tenants/${t.id}/integrations/${integration}/connections`, t.editor, connectionBody({ isSharedServiceAccount: true }));
    expect(personal.statusCode).toBe(422);
    expect(personal.json().errors).toEqual([{ field: 'isSharedServiceAccount', message: 'requires accessScope organizational' }]);
    const shared = await call('POST', `/v1/tenants/${t.id}/integrations/${integration}/connections`, t.editor, connectionBody({ accessScope: 'organizational', isSharedServiceAccount: true }));
    expect(shared.statusCode).toBe(201);
    expect(shared.json()).toMatchObject({ accessScope: 'organizational', isSharedServiceAccount: true });
    const demoted = await call('PATCH', `/v1/tenants/${t.id}/connections/${shared.json().id}`, t.editor, { accessScope: 'personal' });
    expect(demoted.statusCode).toBe(200);
    expect(demoted.json()).toMatchObject({ accessScope: 'personal', isSharedServiceAccount: false });
  });

  it('accepts only auth methods that support the USER level', async () => {
    const t = await newTenant();
    const field = (name: string, extra: Record<string, unknown> = {}) => ({ name, index: 0, type: 'String', displayName: name, required: true, secret: true, ...extra });
    const authEntry = (id: string, type: string, levels: string[], credential: string) => ({
      id,
      displayName: id,
      type,
      supportedLevels: levels,
      configTestSupported: true,
      parametersMetadata: [field(credential)],
    });
    const integration = await newIntegration(t, {
      type: 'CUSTOM',
      configMetadata: {
        parametersMetadata: [
          { name: 'baseUrl', index: 0, type: 'Url', displayName: 'Base URL', required: true, secret: false },
          { name: 'testPath', index: 1, type: 'String', displayName: 'Test path', required: false, secret: false },
        ],
        authMetadata: [authEntry('app-key', 'API_KEY', ['APPLICATION'], 'apiKey'), authEntry('user-token', 'BEARER', ['USER'], 'token')],
      },
      authMethod: 'app-key',
      credentials: { apiKey: CANARY_INTEGRATION },
      headers: {},
    });
    const url = `/v1/tenants/${t.id}/integrations/${integration}/connections`;
    const appLevel = await call('POST', url, t.viewer, { name: 'x', authMethod: 'app-key', credentials: { apiKey: 'k' } });
    expect(appLevel.statusCode).toBe(422);
    expect(appLevel.json().errors).toEqual([{ field: 'authMethod', message: 'does not support USER' }]);
    const unknown = await call('POST', url, t.viewer, { name: 'x', authMethod: 'nope' });
    expect(unknown.statusCode).toBe(422);
    const missing = await call('POST', url, t.viewer, { name: 'x', authMethod: 'user-token', credentials: {} });
    expect(missing.statusCode).toBe(422);
    expect(missing.json().errors).toEqual([{ field: 'credentials.token', message: 'is required' }]);
    const ok = await call('POST', url, t.viewer, { name: 'x', authMethod: 'user-token', credentials: { token: 'user' } });
    expect(ok.statusCode).toBe(201);
  });

  it('validates the body: 400 for malformed input, 422 for parameters the metadata rejects', async () => {
    const t = await newTenant();
    const integration = await newIntegration(t);
    const url = `/v1/tenants/${t.id}/integrations/${integration}/connections`;
    const cases: Array<[Record<string, unknown>, number]> = [
      [{ authMethod: 'API_KEY' }, 400],
      [{ name: '' }, 400],
      [{ name: 'x'.repeat(101) }, 400],
      [{ name: 'x', description: 'd'.repeat(501) }, 400],
      [{ name: 'x', accessScope: 'public' }, 400],
      [{ name: 'x', servers: [{ url: 'ftp://files.example' }] }, 400],
      [{ name: 'x', servers: Array.from({ length: 11 }, () => ({ url: upstream.url })) }, 400],
      [{ name: 'x', unknown: true }, 400],
      [{ name: 'x', parameters: { testMethod: 'DELETE' } }, 422],
      [{ name: 'x', parameters: { nope: 1 } }, 422],
      [{ name: 'x', credentials: { apiKey: 'k' } }, 422],
      [{ name: 'x', integrationVersion: 'not-the-etag' }, 422],
    ];
    for (const [payload, status] of cases) {
      const response = await call('POST', url, t.viewer, payload);
      expect({ payload, status: response.statusCode }).toEqual({ payload, status });
      expect(response.headers['content-type']).toContain('application/problem+json');
    }
    expect((await call('POST', `/v1/tenants/${t.id}/integrations/missing/connections`, t.viewer, { name: 'x' })).statusCode).toBe(404);
    const etag = (await call('GET', `/v1/tenants/${t.id}/integrations/${integration}`, t.viewer)).json().etag;
    const pinned = await call('POST', url, t.viewer, { name: 'x', integrationVersion: etag });
    expect(pinned.statusCode).toBe(201);
    expect(pinned.json().integrationVersion).toBe(etag);
  });

  it('merges secrets, parameters and metadata per key on PATCH, replaces servers whole and honours If-Match', async () => {
    const t = await newTenant();
    const integration = await newIntegration(t);
    const created = await newConnection(t, integration, t.viewer, { headers: { 'X-One': CANARY_HEADER, 'X-Two': 'two' }, metadata: { a: 1, b: 2 }, parameters: { testPath: '/check' } });
    const url = `/v1/tenants/${t.id}/connections/${created.id}`;
    expect((await call('PATCH', url, t.viewer, { name: 'n' }, { 'if-match': '"stale"' })).statusCode).toBe(412);
    const patched = await call('PATCH', url, t.viewer, { headers: { 'X-One': REDACTED, 'X-Two': null, 'X-Three': 'three' }, metadata: { a: null, c: 3 }, parameters: { headerName: 'X-API-Key' } }, { 'if-match': `"${created.etag}"` });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({
      headers: { 'X-One': REDACTED, 'X-Three': REDACTED },
      metadata: { b: 2, c: 3 },
      parameters: { testPath: '/check', headerName: 'X-API-Key' },
      credentials: { apiKey: REDACTED },
    });
    expect(patched.json().headers).not.toHaveProperty('X-Two');
    expect(patched.json().etag).not.toBe(created.etag);
    const withServers = await call('PATCH', url, t.viewer, { servers: [{ url: other.url }], credentials: { apiKey: 'conn-good-key' } });
    expect(withServers.json().servers).toEqual([{ url: other.url, description: '' }]);
    const cleared = await call('PATCH', url, t.viewer, { servers: [], credentials: { apiKey: 'conn-good-key' } });
    expect(cleared.json().servers).toEqual([]);
  });

  it('refuses a destination change that does not send the credentials again', async () => {
    const t = await newTenant();
    const integration = await newIntegration(t);
    const { id } = await newConnection(t, integration, t.viewer);
    const url = `/v1/tenants/${t.id}/connections/${id}`;
    const kept = await call('PATCH', url, t.viewer, { servers: [{ url: other.url }], credentials: { apiKey: REDACTED } });
    expect(kept.statusCode).toBe(422);
    expect(kept.json().errors).toEqual([{ field: 'credentials.apiKey', message: 'must be sent again when the destination changes' }]);
    expect((await call('PATCH', url, t.viewer, { parameters: { baseUrl: other.url } })).statusCode).toBe(422);
    expect((await call('PATCH', url, t.viewer, { servers: [{ url: other.url }], credentials: { apiKey: 'conn-good-key' } })).statusCode).toBe(200);
  });

  it('lists with filters and keyset pages bound to the caller and the filters', async () => {
    const t = await newTenant();
    const first = await newIntegration(t);
    const second = await newIntegration(t);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await newConnection(t, first, t.editor, { accessScope: 'organizational', name: `org ${i}` })).id);
    await newConnection(t, second, t.editor, { accessScope: 'organizational' });
    const mine = (await newConnection(t, first, t.viewer)).id;

    const page1 = await call('GET', `/v1/tenants/${t.id}/connections?integration=${first}&pageSize=2`, t.viewer);
    expect(page1.statusCode).toBe(200);
    expect(page1.json().connections.map((c: { id: string }) => c.id)).toEqual(ids.slice(0, 2));
    const token = page1.json().nextPageToken as string;
    const page2 = await call('GET', `/v1/tenants/${t.id}/connections?integration=${first}&pageSize=2&pageToken=${encodeURIComponent(token)}`, t.viewer);
    expect(page2.json().connections.map((c: { id: string }) => c.id)).toEqual([ids[2], mine]);
    expect(page2.json().nextPageToken).toBeNull();
    expect((await call('GET', `/v1/tenants/${t.id}/connections?integration=${first}&pageSize=2&pageToken=${encodeURIComponent(token)}`, t.viewer2)).statusCode).toBe(400);
    expect((await call('GET', `/v1/tenants/${t.id}/connections?pageSize=2&pageToken=${encodeURIComponent(token)}`, t.viewer)).statusCode).toBe(400);
    expect((await call('GET', `/v1/tenants/${t.id}/connections?pageSize=0`, t.viewer)).statusCode).toBe(400);
    const personal = await call('GET', `/v1/tenants/${t.id}/connections?accessScope=personal`, t.editor);
    expect(personal.json().connections).toEqual([]);
  });

  it('replays a create with the same Idempotency-Key', async () => {
    const t = await newTenant();
    const integration = await newIntegration(t);
    const url = `/v1/tenants/${t.id}/integrations/${integration}/connections`;
    const key = { 'idempotency-key': uniqueId('key') };
    const first = await call('POST', url, t.viewer, connectionBody(), key);
    const again = await call('POST', url, t.viewer, connectionBody(), key);
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.json().id).toBe(first.json().id);
    expect(again.headers['idempotency-replayed']).toBe('true');
    expect((await call('POST', url, t.viewer, connectionBody({ name: 'other' }), key)).statusCode).toBe(422);
  });

  it('deletes the connections of a deleted integration', async () => {
    const t = await newTenant();
    const integration = await newIntegration(t);
    const { id } = await newConnection(t, integration, t.editor, { accessScope: 'organizational' });
    expect((await call('DELETE', `/v1/tenants/${t.id}/integrations/${integration}`, t.editor)).statusCode).toBe(204);
    expect((await call('GET', `/v1/tenants/${t.id}/connections/${id}`, t.editor)).statusCode).toBe(404);
    const [{ n }] = await db.query(`SELECT count(*)::int AS n FROM connections WHERE tenant_id = $1`, [t.id]);
    expect(n).toBe(0);
  });

  it('verifies with the connection\'s credentials against its own server, without the integration\'s headers', async () => {
    const t = await newTenant();
    const integration = await newIntegration(t);
    const { id } = await newConnection(t, integration, t.viewer, { servers: [{ url: other.url }], headers: { 'X-Conn': CANARY_HEADER } });
    const before = upstream.requests.length;
    const verified = await call('POST', `/v1/tenants/${t.id}/connections/${id}:verify`, t.viewer);
    expect(verified.statusCode).toBe(200);
    expect(verified.json()).toMatchObject({ status: 'healthy', error: null, details: { httpStatus: 200 } });
    expect(upstream.requests.length).toBe(before);
    const seen = other.requests[other.requests.length - 1];
    expect(seen.path).toBe('/check');
    expect(seen.headers['x-api-key']).toBe('conn-good-key');
    expect(seen.headers['x-conn']).toBe(CANARY_HEADER);
    expect(seen.headers['x-integration']).toBeUndefined();

    const read = await call('GET', `/v1/tenants/${t.id}/connections/${id}`, t.viewer);
    expect(read.json().health).toMatchObject({ status: 'healthy', lastError: null });
    expect(read.json().health.checkedAt).toEqual(expect.any(String));

    const audit = await call('GET', `/v1/tenants/${t.id}/audit-events`, t.admin);
    const actions = audit.json().auditEvents.map((e: { action: string }) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['connection.created', 'connection.verified']));
    const events = await db.query(`SELECT type, data FROM events WHERE tenant_id = $1 ORDER BY seq`, [t.id]);
    expect(events.map((e: { type: string }) => e.type)).toEqual(expect.arrayContaining(['connection.created', 'connection.health_changed']));
  });

  it('sends the integration\'s headers along when the connection calls the integration\'s own destination', async () => {
    const t = await newTenant();
    const integration = await newIntegration(t);
    const { id } = await newConnection(t, integration, t.viewer, { headers: { 'X-Conn': 'conn-header' } });
    const verified = await call('POST', `/v1/tenants/${t.id}/connections/${id}:verify`, t.viewer);
    expect(verified.json().status).toBe('healthy');
    const seen = upstream.requests[upstream.requests.length - 1];
    expect(seen.headers['x-api-key']).toBe('conn-good-key');
    expect(seen.headers['x-integration']).toBe(CANARY_INTEGRATION);
    expect(seen.headers['x-conn']).toBe('conn-header');
  });

  it('reports a rejected credential as AUTH_FAILED without echoing it, and emits health_changed only on a real change', async () => {
    const t = await newTenant();
    const integration = await newIntegration(t);
    const { id } = await newConnection(t, integration, t.viewer, { credentials: { apiKey: CANARY_CREDENTIAL } });
    const url = `/v1/tenants/${t.id}/connections/${id}:verify`;
    const first = await call('POST', url, t.viewer);
    expect(first.json()).toMatchObject({ status: 'unhealthy', error: { code: 'AUTH_FAILED' } });
    await call('POST', url, t.viewer);
    const changes = await db.query(`SELECT count(*)::int AS n FROM events WHERE tenant_id = $1 AND type = 'connection.health_changed'`, [t.id]);
    expect(changes[0].n).toBe(1);
    const [{ last }] = await db.query(`SELECT health_last_error::text AS last FROM connections WHERE tenant_id = $1 AND id = $2`, [t.id, id]);
    expect(last).not.toContain(CANARY_CREDENTIAL);
  });

  it('answers CONFIG_INVALID without calling anything after the integration\'s destination changed, until the credentials are sent again', async () => {
    const t = await newTenant();
    const integration = await newIntegration(t);
    const { id } = await newConnection(t, integration, t.viewer);
    const moved = await call('PATCH', `/v1/tenants/${t.id}/integrations/${integration}`, t.editor, { parameters: { baseUrl: other.url }, credentials: { apiKey: CANARY_INTEGRATION }, headers: { 'X-Integration': CANARY_INTEGRATION } });
    expect(moved.statusCode).toBe(200);
    const before = upstream.requests.length + other.requests.length;
    const verified = await call('POST', `/v1/tenants/${t.id}/connections/${id}:verify`, t.viewer);
    expect(verified.statusCode).toBe(200);
    expect(verified.json()).toMatchObject({ status: 'unhealthy', error: { code: 'CONFIG_INVALID', message: 'destination changed; send the credentials again' } });
    expect(upstream.requests.length + other.requests.length).toBe(before);
    expect((await call('GET', `/v1/tenants/${t.id}/connections/${id}`, t.viewer)).json().health.lastError.code).toBe('CONFIG_INVALID');

    const resent = await call('PATCH', `/v1/tenants/${t.id}/connections/${id}`, t.viewer, { credentials: { apiKey: 'conn-good-key' } });
    expect(resent.statusCode).toBe(200);
    const again = await call('POST', `/v1/tenants/${t.id}/connections/${id}:verify`, t.viewer);
    expect(again.json()).toMatchObject({ status: 'healthy' });
    expect(other.requests[other.requests.length - 1].headers['x-api-key']).toBe('conn-good-key');
  });

  it('records audit events for create, update, delete and verify, with no secret', async () => {
    const t = await newTenant();
    const integration = await newIntegration(t);
    const { id } = await newConnection(t, integration, t.viewer, { credentials: { apiKey: CANARY_CREDENTIAL } });
    await call('PATCH', `/v1/tenants/${t.id}/connections/${id}`, t.viewer, { name: 'again' });
    await call('POST', `/v1/tenants/${t.id}/connections/${id}:verify`, t.viewer);
    await call('DELETE', `/v1/tenants/${t.id}/connections/${id}`, t.viewer);
    const rows = await db.query(`SELECT action, actor, details::text AS details FROM audit_events WHERE tenant_id = $1 AND resource_id = $2 ORDER BY seq`, [t.id, id]);
    expect(rows.map((r: { action: string }) => r.action)).toEqual(['connection.created', 'connection.updated', 'connection.verified', 'connection.deleted']);
    expect(rows.every((r: { actor: string }) => r.actor === 'alice')).toBe(true);
    for (const r of rows) expect(r.details).not.toContain(CANARY_CREDENTIAL);
    const events = await db.query(`SELECT type FROM events WHERE tenant_id = $1 AND data->>'connectionId' = $2 ORDER BY seq`, [t.id, id]);
    expect(events.map((e: { type: string }) => e.type)).toEqual(['connection.created', 'connection.updated', 'connection.health_changed', 'connection.deleted']);
  });

  it('documents the routes in the OpenAPI spec, with every secret field write-only', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/tenants/{tenant}/integrations/{integration}/connections',
        '/v1/tenants/{tenant}/connections',
        '/v1/tenants/{tenant}/connections/{connection}',
        '/v1/tenants/{tenant}/connections/{connectionAction}',
        '/v1/oauth2/callback',
      ]),
    );
    for (const schema of ['CreateConnectionDto', 'UpdateConnectionDto']) {
      expect(doc.components.schemas[schema].properties.credentials.writeOnly).toBe(true);
      expect(doc.components.schemas[schema].properties.headers.writeOnly).toBe(true);
    }
    expect(doc.paths['/v1/oauth2/callback'].get.security ?? []).toEqual([]);
  });

  describe('with MAX_CONNECTIONS_PER_INTEGRATION=3', () => {
    let limited: NestFastifyApplication;
    beforeAll(async () => {
      ({ app: limited } = await startTestApp({ MAX_CONNECTIONS_PER_INTEGRATION: '3' }));
    });
    afterAll(async () => {
      await limited.close();
    });

    it('answers 409 to the fourth create', async () => {
      const t = await newTenant();
      const integration = await newIntegration(t);
      const url = `/v1/tenants/${t.id}/integrations/${integration}/connections`;
      for (let i = 0; i < 3; i++) {
        expect((await limited.inject({ method: 'POST', url, headers: t.viewer, payload: connectionBody() })).statusCode).toBe(201);
      }
      const fourth = await limited.inject({ method: 'POST', url, headers: t.editor, payload: connectionBody() });
      expect(fourth.statusCode).toBe(409);
      expect(fourth.headers['content-type']).toContain('application/problem+json');
      expect(fourth.json()).toMatchObject({ status: 409, type: expect.stringContaining('connection-limit-reached') });
    });

    it('never lets concurrent creates exceed the limit', async () => {
      const t = await newTenant();
      const integration = await newIntegration(t);
      const url = `/v1/tenants/${t.id}/integrations/${integration}/connections`;
      const replies = await Promise.all(Array.from({ length: 8 }, () => limited.inject({ method: 'POST', url, headers: t.viewer, payload: connectionBody() })));
      const statuses = replies.map((r) => r.statusCode).sort();
      expect(statuses).toEqual([201, 201, 201, 409, 409, 409, 409, 409]);
    });
  });
});
