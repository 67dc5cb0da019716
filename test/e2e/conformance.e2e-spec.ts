import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { apiClient, createTenant, httpIntegration, type ApiReply } from '../support/integrations-fixtures';
import { startTestApp, uniqueId } from '../support/test-app';
import { mintToken } from '../support/tokens';

/**
 * Black-box conformance to /work/shared/API.md: each test names the contract
 * rule it proves. Only statements the other suites do not already pin down.
 */
jest.setTimeout(60_000);

const REDACTED = '***REDACTED***';
const TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const PROBLEM_KEYS = ['type', 'title', 'status', 'detail', 'instance', 'requestId'];

function expectProblem(res: ApiReply, status: number): void {
  expect({ status: res.status, body: res.json }).toMatchObject({ status });
  expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
  for (const key of PROBLEM_KEYS) expect(res.json).toHaveProperty(key);
  expect(res.json.status).toBe(status);
}

describe('API.md conformance', () => {
  let app: NestFastifyApplication;
  let api: ReturnType<typeof apiClient>;
  const root = mintToken({ roles: ['platform-admin'], sub: 'root' });

  beforeAll(async () => {
    ({ app } = await startTestApp({ MAX_CONNECTIONS_PER_INTEGRATION: '50' }));
    api = apiClient(app);
  });
  afterAll(async () => {
    await app.close();
  });

  describe('Connectors (the catalog)', () => {
    it('"GET /v1/connectors": list key `connectors` with nextPageToken, each entry exactly { key, displayName, description, category, configMetadata, verifiable }', async () => {
      const res = await api('GET', '/v1/connectors?pageSize=200', { token: root });
      expect(res.status).toBe(200);
      expect(Object.keys(res.json).sort()).toEqual(['connectors', 'nextPageToken']);
      expect(res.json.nextPageToken).toBeNull();
      const keys = res.json.connectors.map((c: any) => c.key);
      for (const k of ['http', 'postgresql', 'mysql', 'redis', 'sftp', 'github', 'gitlab', 'jira', 'slack', 'clickup', 'microsoft-teams', 'sharepoint', 'google-drive', 'aws-ses', 'mcp']) {
        expect(keys).toContain(k);
      }
      for (const c of res.json.connectors) {
        expect(Object.keys(c).sort()).toEqual(['category', 'configMetadata', 'description', 'displayName', 'key', 'verifiable']);
        expect(Array.isArray(c.configMetadata.parametersMetadata)).toBe(true);
        expect(Array.isArray(c.configMetadata.authMetadata)).toBe(true);
      }
    });

    it('"Lists: ?pageSize= (1..200, else 400)" on the catalog, and pages it with a token', async () => {
      for (const bad of ['0', '201', 'abc', '-1', '1.5']) {
        expectProblem(await api('GET', `/v1/connectors?pageSize=${bad}`, { token: root }), 400);
      }
      const first = await api('GET', '/v1/connectors?pageSize=2', { token: root });
      expect(first.status).toBe(200);
      expect(first.json.connectors).toHaveLength(2);
      expect(typeof first.json.nextPageToken).toBe('string');
      const second = await api('GET', `/v1/connectors?pageSize=2&pageToken=${encodeURIComponent(first.json.nextPageToken)}`, { token: root });
      expect(second.status).toBe(200);
      expect(second.json.connectors[0].key).not.toBe(first.json.connectors[0].key);
      expectProblem(await api('GET', '/v1/connectors?pageToken=forged', { token: root }), 400);
    });

    it('"GET /v1/connectors/{connector}" answers one entry with the ETag-free full shape, 404 for an unknown key', async () => {
      const res = await api('GET', '/v1/connectors/http', { token: root });
      expect(res.status).toBe(200);
      expect(Object.keys(res.json).sort()).toEqual(['category', 'configMetadata', 'description', 'displayName', 'key', 'verifiable']);
      expectProblem(await api('GET', '/v1/connectors/nope-nope', { token: root }), 404);
    });

    it('any member (a viewer) may read the catalog', async () => {
      const { viewer } = await createTenant(app);
      expect((await api('GET', '/v1/connectors', { token: viewer })).status).toBe(200);
    });

    const table: Record<string, { params: Record<string, unknown>; auth: Record<string, string[]> }> = {
      http: {
        params: { baseUrl: undefined, testPath: '/', testMethod: undefined, headerName: 'X-API-Key', queryParam: undefined, tokenUrl: undefined, authorizationUrl: undefined, scopes: undefined, tokenAuthMethod: 'client_secret_basic' },
        auth: { API_KEY: ['apiKey'], BEARER: ['token'], BASIC: ['username', 'password'], OAUTH2_CLIENT_CREDENTIALS: ['clientId', 'clientSecret'], OAUTH2_AUTHORIZATION_CODE: ['clientId', 'clientSecret'] },
      },
      postgresql: {
        params: { host: undefined, port: 5432, database: undefined, sslMode: undefined },
        auth: { USER_PASSWORD: ['username', 'password'], CONNECTION_STRING: ['connectionString'] },
      },
      mysql: {
        params: { host: undefined, port: 3306, database: undefined, sslMode: undefined },
        auth: { USER_PASSWORD: ['username', 'password'], CONNECTION_STRING: ['connectionString'] },
      },
      redis: {
        params: { host: undefined, port: 6379, db: 0, tls: undefined },
        auth: { USER_PASSWORD: ['username', 'password'], NONE: [] },
      },
      sftp: {
        params: { host: undefined, port: 22, path: '/' },
        auth: { USER_PASSWORD: ['username', 'password'], KEY_FILE: ['username', 'privateKey', 'passphrase'] },
      },
    };

    for (const [key, spec] of Object.entries(table)) {
      it(`"What the protocol connectors take": ${key} parameters, defaults, auth ids equal to their type, and credential names`, async () => {
        const res = await api('GET', `/v1/connectors/${key}`, { token: root });
        expect(res.status).toBe(200);
        const meta = res.json.configMetadata;
        const params = new Map<string, any>(meta.parametersMetadata.map((p: any) => [p.name, p]));
        for (const [name, def] of Object.entries(spec.params)) {
          expect({ name, present: params.has(name) }).toEqual({ name, present: true });
          if (def !== undefined) expect({ name, defaultValue: params.get(name).defaultValue }).toEqual({ name, defaultValue: def });
        }
        const auth = new Map<string, any>(meta.authMetadata.map((a: any) => [a.id, a]));
        for (const a of meta.authMetadata) expect(a.id).toBe(a.type);
        for (const [id, creds] of Object.entries(spec.auth)) {
          expect({ id, present: auth.has(id) }).toEqual({ id, present: true });
          const names = (auth.get(id).parametersMetadata ?? []).map((p: any) => p.name);
          expect({ id, names: [...names].sort() }).toEqual({ id, names: [...creds].sort() });
        }
        if (key === 'http') {
          expect(params.get('baseUrl').required).toBe(true);
          expect((params.get('testMethod').options ?? []).map((o: any) => o.value).sort()).toEqual(['GET', 'HEAD', 'POST']);
          expect((params.get('tokenAuthMethod').options ?? []).map((o: any) => o.value).sort()).toEqual(['client_secret_basic', 'client_secret_post']);
        }
        if (key === 'postgresql') {
          expect((params.get('sslMode').options ?? []).map((o: any) => o.value).sort()).toEqual(['disable', 'require', 'verify-full']);
        }
        if (key === 'redis') {
          const user = auth.get('USER_PASSWORD').parametersMetadata.find((p: any) => p.name === 'username');
          expect(user.required).toBeFalsy();
        }
      });
    }

    it('"github offers pat, of type BEARER, and oauth2, of type OAUTH2_AUTHORIZATION_CODE"', async () => {
      const res = await api('GET', '/v1/connectors/github', { token: root });
      const auth = res.json.configMetadata.authMetadata.map((a: any) => [a.id, a.type]);
      expect(auth).toEqual(expect.arrayContaining([['pat', 'BEARER'], ['oauth2', 'OAUTH2_AUTHORIZATION_CODE']]));
    });

    it('"configMetadata: parameter names are unique within a list; index orders them", with every documented field', async () => {
      const res = await api('GET', '/v1/connectors?pageSize=200', { token: root });
      for (const c of res.json.connectors) {
        const lists = [c.configMetadata.parametersMetadata, ...c.configMetadata.authMetadata.map((a: any) => a.parametersMetadata ?? [])];
        for (const list of lists) {
          const names = list.map((p: any) => p.name);
          expect(new Set(names).size).toBe(names.length);
          const idx = list.map((p: any) => p.index);
          expect(idx).toEqual([...idx].sort((a: number, b: number) => a - b));
          for (const p of list) {
            for (const f of ['name', 'index', 'type', 'displayName', 'description', 'required', 'secret', 'defaultValue', 'integerRange', 'floatRange', 'options', 'asset', 'jsonSchema', 'uiHint', 'rules']) {
              expect({ connector: c.key, param: p.name, field: f, has: f in p }).toEqual({ connector: c.key, param: p.name, field: f, has: true });
            }
          }
        }
        for (const a of c.configMetadata.authMetadata) {
          for (const f of ['id', 'displayName', 'description', 'type', 'sensitivity', 'configTestSupported', 'supportedLevels', 'parametersMetadata']) {
            expect({ connector: c.key, auth: a.id, field: f, has: f in a }).toEqual({ connector: c.key, auth: a.id, field: f, has: true });
          }
        }
      }
    });
  });

  describe('Tenants', () => {
    it('"Tenant: { id, displayName, description, metadata, etag, createdAt, modifiedAt }" with ISO-8601 UTC millisecond timestamps', async () => {
      const id = uniqueId('conf');
      const res = await api('POST', '/v1/tenants', { token: root, payload: { id, displayName: 'Conf', description: 'd', metadata: { a: 1 } } });
      expect(res.status).toBe(201);
      expect(Object.keys(res.json).sort()).toEqual(['createdAt', 'description', 'displayName', 'etag', 'id', 'metadata', 'modifiedAt']);
      expect(res.json.createdAt).toMatch(TS);
      expect(res.json.modifiedAt).toMatch(TS);
      const list = await api('GET', '/v1/tenants?pageSize=1', { token: root });
      expect(Object.keys(list.json).sort()).toEqual(['nextPageToken', 'tenants']);
    });

    it('route table: members read their tenant; only platform-admin lists, creates, patches, deletes', async () => {
      const { tenant, viewer, admin } = await createTenant(app);
      expect((await api('GET', `/v1/tenants/${tenant}`, { token: viewer })).status).toBe(200);
      expectProblem(await api('GET', '/v1/tenants', { token: admin }), 403);
      expectProblem(await api('POST', '/v1/tenants', { token: admin, payload: { id: uniqueId('x'), displayName: 'x' } }), 403);
      expectProblem(await api('PATCH', `/v1/tenants/${tenant}`, { token: admin, payload: { displayName: 'y' } }), 403);
      expectProblem(await api('DELETE', `/v1/tenants/${tenant}`, { token: admin }), 403);
    });

    it('"DELETE /v1/tenants/{tenant}: removes everything the tenant owns"', async () => {
      const { tenant, editor } = await createTenant(app);
      const created = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'gone' }) });
      expect(created.status).toBe(201);
      const conn = await api('POST', `/v1/tenants/${tenant}/integrations/gone/connections`, { token: editor, payload: { name: 'c', authMethod: 'API_KEY', credentials: { apiKey: 'k' } } });
      expect(conn.status).toBe(201);
      expect((await api('DELETE', `/v1/tenants/${tenant}`, { token: root })).status).toBe(204);
      expect((await api('POST', '/v1/tenants', { token: root, payload: { id: tenant, displayName: 'again' } })).status).toBe(201);
      const ints = await api('GET', `/v1/tenants/${tenant}/integrations`, { token: root });
      expect(ints.json).toEqual({ integrations: [], nextPageToken: null });
      const conns = await api('GET', `/v1/tenants/${tenant}/connections`, { token: root });
      expect(conns.json).toEqual({ connections: [], nextPageToken: null });
    });
  });

  describe('Errors', () => {
    it('"401 no or bad token (with WWW-Authenticate: Bearer)" as a full problem', async () => {
      const res = await app.inject({ method: 'GET', url: '/v1/tenants' });
      expect(res.statusCode).toBe(401);
      expect(String(res.headers['www-authenticate'])).toMatch(/^Bearer/);
      expectProblem({ status: res.statusCode, headers: res.headers, body: res.body, json: res.json() }, 401);
      const bad = await api('GET', '/v1/tenants', { token: 'not.a.jwt' });
      expectProblem(bad, 401);
      expect(String(bad.headers['www-authenticate'])).toMatch(/^Bearer/);
    });

    it('"415 not JSON" for a text/plain body, as a problem', async () => {
      const res = await app.inject({ method: 'POST', url: '/v1/tenants', headers: { authorization: `Bearer ${root}`, 'content-type': 'text/plain' }, payload: 'hello' });
      expect(res.statusCode).toBe(415);
      expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
    });

    it('"400 ... invalid JSON" as a problem', async () => {
      const res = await app.inject({ method: 'POST', url: '/v1/tenants', headers: { authorization: `Bearer ${root}`, 'content-type': 'application/json' }, payload: '{"id":' });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual(expect.objectContaining({ status: 400, requestId: expect.any(String), instance: '/v1/tenants' }));
    });

    it('"422 ... unknown connector or authMethod"', async () => {
      const { tenant, editor } = await createTenant(app);
      expectProblem(await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ connector: 'nope' }) }), 422);
      expectProblem(await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ authMethod: 'NOPE' }) }), 422);
    });

    it('"400 ... id pattern" for an integration id outside ^[A-Za-z0-9_-]{1,64}$', async () => {
      const { tenant, editor } = await createTenant(app);
      expectProblem(await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'has space' }) }), 400);
      expectProblem(await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'x'.repeat(65) }) }), 400);
      expect((await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'x'.repeat(64) }) })).status).toBe(201);
    });
  });

  describe('Integrations', () => {
    it('"Integration as returned" has every documented field, with ISO timestamps and health.status unknown', async () => {
      const { tenant, editor } = await createTenant(app);
      const res = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ headers: { 'X-A': 'v' } }) });
      expect(res.status).toBe(201);
      for (const f of ['id', 'tenantId', 'displayName', 'description', 'connector', 'type', 'configMetadata', 'parameters', 'authMethod', 'credentials', 'headers', 'tags', 'isInternal', 'enabled', 'health', 'etag', 'createdAt', 'modifiedAt']) {
        expect(res.json).toHaveProperty(f);
      }
      expect(res.json.type).toBe('SYSTEM');
      expect(res.json.enabled).toBe(true);
      expect(res.json.isInternal).toBe(false);
      expect(res.json.health).toEqual({ status: 'unknown', checkedAt: null, latencyMs: null, lastError: null });
      expect(res.json.createdAt).toMatch(TS);
      expect(res.json.credentials).toEqual({ apiKey: REDACTED });
      expect(res.json.headers).toEqual({ 'X-A': REDACTED });
    });

    it('"PATCH honours If-Match with that value, quoted or not, or *" and answers the new ETag header', async () => {
      const { tenant, editor } = await createTenant(app);
      const created = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'im' }) });
      const a = await api('PATCH', `/v1/tenants/${tenant}/integrations/im`, { token: editor, payload: { displayName: 'A' }, headers: { 'if-match': created.json.etag } });
      expect(a.status).toBe(200);
      expect(a.headers.etag).toBe(`"${a.json.etag}"`);
      const b = await api('PATCH', `/v1/tenants/${tenant}/integrations/im`, { token: editor, payload: { displayName: 'B' }, headers: { 'if-match': '*' } });
      expect(b.status).toBe(200);
      expectProblem(await api('PATCH', `/v1/tenants/${tenant}/integrations/im`, { token: editor, payload: { displayName: 'C' }, headers: { 'if-match': a.json.etag } }), 412);
      expectProblem(await api('PATCH', `/v1/tenants/${tenant}/integrations/missing`, { token: editor, payload: { displayName: 'C' }, headers: { 'if-match': '*' } }), 404);
      expect((await api('DELETE', `/v1/tenants/${tenant}/integrations/im`, { token: editor, headers: { 'if-match': b.json.etag } })).status).toBe(204);
    });

    it('"Lists: ... pageSize abc → 400" and list replies carry the plural key and nextPageToken null on the last page', async () => {
      const { tenant, viewer } = await createTenant(app);
      expectProblem(await api('GET', `/v1/tenants/${tenant}/integrations?pageSize=abc`, { token: viewer }), 400);
      expect((await api('GET', `/v1/tenants/${tenant}/integrations`, { token: viewer })).json).toEqual({ integrations: [], nextPageToken: null });
    });

    it('"configMetadata, tags and servers are replaced whole" on PATCH (tags)', async () => {
      const { tenant, editor } = await createTenant(app);
      await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'tg', tags: ['a', 'b'] }) });
      const res = await api('PATCH', `/v1/tenants/${tenant}/integrations/tg`, { token: editor, payload: { tags: ['c'] } });
      expect(res.json.tags).toEqual(['c']);
    });

    it('":verifyConfig is editor" (viewer 403) and answers { status, checkedAt, latencyMs, error, details }', async () => {
      const { tenant, editor } = await createTenant(app);
      await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'vf', parameters: { baseUrl: 'http://127.0.0.1:1' } }) });
      const res = await api('POST', `/v1/tenants/${tenant}/integrations/vf:verifyConfig`, { token: editor });
      expect(res.status).toBe(200);
      expect(Object.keys(res.json).sort()).toEqual(['checkedAt', 'details', 'error', 'latencyMs', 'status']);
      expect(res.json.status).toBe('unhealthy');
      expect(res.json.checkedAt).toMatch(TS);
      expect(res.json.error.code).toBe('UNREACHABLE');
    });
  });

  describe('Connections', () => {
    async function setup() {
      const t = await createTenant(app);
      const member = mintToken({ tenant: t.tenant, roles: ['viewer'], sub: 'mem' });
      const created = await api('POST', `/v1/tenants/${t.tenant}/integrations`, { token: t.editor, payload: httpIntegration({ id: 'api' }) });
      expect(created.status).toBe(201);
      return { ...t, member };
    }

    it('"Returned: { id: conn_…, object: connection, tenantId, integrationId, ownerId … }; accessScope defaults to personal, health.status starts unknown" with ETag header', async () => {
      const t = await setup();
      const res = await api('POST', `/v1/tenants/${t.tenant}/integrations/api/connections`, { token: t.member, payload: { name: 'mine', authMethod: 'API_KEY', credentials: { apiKey: 'k1' } } });
      expect(res.status).toBe(201);
      expect(res.json).toMatchObject({ object: 'connection', tenantId: t.tenant, integrationId: 'api', ownerId: 'mem', accessScope: 'personal', health: { status: 'unknown' }, credentials: { apiKey: REDACTED } });
      expect(res.json.id).toMatch(/^conn_/);
      expect(res.json.createdAt).toMatch(TS);
      expect(res.json.modifiedAt).toMatch(TS);
      expect(res.headers.etag).toBe(`"${res.json.etag}"`);
      const read = await api('GET', `/v1/tenants/${t.tenant}/connections/${res.json.id}`, { token: t.member });
      expect(read.status).toBe(200);
      expect(read.headers.etag).toBe(`"${read.json.etag}"`);
      const list = await api('GET', `/v1/tenants/${t.tenant}/connections`, { token: t.member });
      expect(Object.keys(list.json).sort()).toEqual(['connections', 'nextPageToken']);
      expect(list.json.nextPageToken).toBeNull();
    });

    it('"A personal connection is invisible (404) to everyone but its owner, platform-admins included" (read, patch, delete, :verify)', async () => {
      const t = await setup();
      const res = await api('POST', `/v1/tenants/${t.tenant}/integrations/api/connections`, { token: t.member, payload: { name: 'mine', authMethod: 'API_KEY', credentials: { apiKey: 'k1' } } });
      const url = `/v1/tenants/${t.tenant}/connections/${res.json.id}`;
      for (const token of [t.admin, root, t.editor]) {
        expectProblem(await api('GET', url, { token }), 404);
        expectProblem(await api('PATCH', url, { token, payload: { name: 'x' } }), 404);
        expectProblem(await api('DELETE', url, { token }), 404);
        expectProblem(await api('POST', `${url}:verify`, { token }), 404);
      }
      const list = await api('GET', `/v1/tenants/${t.tenant}/connections`, { token: root });
      expect(list.json.connections).toEqual([]);
    });

    it('"organizational: created or changed by editors and admins" — a viewer creating one gets 403', async () => {
      const t = await setup();
      expectProblem(await api('POST', `/v1/tenants/${t.tenant}/integrations/api/connections`, { token: t.viewer, payload: { name: 'org', accessScope: 'organizational', authMethod: 'API_KEY', credentials: { apiKey: 'k' } } }), 403);
      const org = await api('POST', `/v1/tenants/${t.tenant}/integrations/api/connections`, { token: t.editor, payload: { name: 'org', accessScope: 'organizational', authMethod: 'API_KEY', credentials: { apiKey: 'k' } } });
      expect(org.status).toBe(201);
      expect((await api('GET', `/v1/tenants/${t.tenant}/connections/${org.json.id}`, { token: t.viewer })).status).toBe(200);
      expectProblem(await api('PATCH', `/v1/tenants/${t.tenant}/connections/${org.json.id}`, { token: t.viewer, payload: { name: 'x' } }), 403);
      expect((await api('PATCH', `/v1/tenants/${t.tenant}/connections/${org.json.id}`, { token: t.admin, payload: { name: 'y' } })).status).toBe(200);
    });

    it('"PATCH/DELETE honour If-Match ... quoted or not, or *; If-Match on a missing resource: 404" on connections', async () => {
      const t = await setup();
      const c = await api('POST', `/v1/tenants/${t.tenant}/integrations/api/connections`, { token: t.editor, payload: { name: 'c', authMethod: 'API_KEY', credentials: { apiKey: 'k' } } });
      const url = `/v1/tenants/${t.tenant}/connections/${c.json.id}`;
      const a = await api('PATCH', url, { token: t.editor, payload: { name: 'a' }, headers: { 'if-match': c.json.etag } });
      expect(a.status).toBe(200);
      expect(a.json.etag).not.toBe(c.json.etag);
      expectProblem(await api('PATCH', url, { token: t.editor, payload: { name: 'b' }, headers: { 'if-match': `"${c.json.etag}"` } }), 412);
      expect((await api('PATCH', url, { token: t.editor, payload: { name: 'b' }, headers: { 'if-match': '*' } })).status).toBe(200);
      expectProblem(await api('PATCH', `/v1/tenants/${t.tenant}/connections/conn_missing`, { token: t.editor, payload: { name: 'b' }, headers: { 'if-match': '*' } }), 404);
      expectProblem(await api('DELETE', `/v1/tenants/${t.tenant}/connections/conn_missing`, { token: t.editor, headers: { 'if-match': '"x"' } }), 404);
      expect((await api('DELETE', url, { token: t.editor, headers: { 'if-match': '*' } })).status).toBe(204);
      expectProblem(await api('GET', url, { token: t.editor }), 404);
    });

    it('"same key + different body: 422" for a connection create', async () => {
      const t = await setup();
      const headers = { 'idempotency-key': 'k-conn-1' };
      const first = await api('POST', `/v1/tenants/${t.tenant}/integrations/api/connections`, { token: t.editor, payload: { name: 'a', authMethod: 'API_KEY', credentials: { apiKey: 'k' } }, headers });
      expect(first.status).toBe(201);
      expectProblem(await api('POST', `/v1/tenants/${t.tenant}/integrations/api/connections`, { token: t.editor, payload: { name: 'b', authMethod: 'API_KEY', credentials: { apiKey: 'k' } }, headers }), 422);
    });

    it('"Lists: pageSize 0/201 → 400" and "a pageToken used with other filters is 400" on connections', async () => {
      const t = await setup();
      for (let i = 0; i < 3; i++) await api('POST', `/v1/tenants/${t.tenant}/integrations/api/connections`, { token: t.editor, payload: { name: `c${i}`, accessScope: 'organizational', authMethod: 'API_KEY', credentials: { apiKey: 'k' } } });
      expectProblem(await api('GET', `/v1/tenants/${t.tenant}/connections?pageSize=0`, { token: t.viewer }), 400);
      expectProblem(await api('GET', `/v1/tenants/${t.tenant}/connections?pageSize=201`, { token: t.viewer }), 400);
      const first = await api('GET', `/v1/tenants/${t.tenant}/connections?pageSize=1`, { token: t.viewer });
      expect(first.json.connections).toHaveLength(1);
      const tok = encodeURIComponent(first.json.nextPageToken);
      expectProblem(await api('GET', `/v1/tenants/${t.tenant}/connections?pageSize=1&pageToken=${tok}&accessScope=organizational`, { token: t.viewer }), 400);
      const second = await api('GET', `/v1/tenants/${t.tenant}/connections?pageSize=1&pageToken=${tok}`, { token: t.viewer });
      expect(second.status).toBe(200);
    });
  });

  describe('Audit log', () => {
    it('"list key auditEvents, newest first: { id, at, actor, action, resourceType, resourceId, outcome, requestId }" with connection.* names', async () => {
      const { tenant, editor, admin } = await createTenant(app);
      await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'au' }) });
      const c = await api('POST', `/v1/tenants/${tenant}/integrations/au/connections`, { token: editor, payload: { name: 'c', authMethod: 'API_KEY', credentials: { apiKey: 'k' } } });
      await api('PATCH', `/v1/tenants/${tenant}/connections/${c.json.id}`, { token: editor, payload: { name: 'd' } });
      await api('DELETE', `/v1/tenants/${tenant}/connections/${c.json.id}`, { token: editor });
      const res = await api('GET', `/v1/tenants/${tenant}/audit-events?pageSize=200`, { token: admin });
      expect(res.status).toBe(200);
      expect(Object.keys(res.json).sort()).toEqual(['auditEvents', 'nextPageToken']);
      const actions = res.json.auditEvents.map((e: any) => e.action);
      expect(actions.slice(0, 4)).toEqual(['connection.deleted', 'connection.updated', 'connection.created', 'integration.created']);
      expect(actions).toContain('tenant.created');
      for (const e of res.json.auditEvents) {
        for (const f of ['id', 'at', 'actor', 'action', 'resourceType', 'resourceId', 'outcome', 'requestId']) expect(e).toHaveProperty(f);
        expect(e.at).toMatch(TS);
      }
      expectProblem(await api('GET', `/v1/tenants/${tenant}/audit-events?pageSize=0`, { token: admin }), 400);
    });
  });

  describe('Webhooks', () => {
    it('"secret whsec_ + base64 of 32 random bytes, shown once: create and :rotateSecret (200)"; ETag on reads; DELETE 204; list key webhookEndpoints', async () => {
      const { tenant, admin, editor } = await createTenant(app);
      const res = await api('POST', `/v1/tenants/${tenant}/webhook-endpoints`, { token: admin, payload: { url: 'https://hooks.example.com/x', events: ['*'] } });
      expect(res.status).toBe(201);
      expect(res.json.id).toMatch(/^whep_/);
      expect(res.json.createdAt).toMatch(TS);
      const base = `/v1/tenants/${tenant}/webhook-endpoints/${res.json.id}`;
      const read = await api('GET', base, { token: admin });
      expect(read.headers.etag).toBe(`"${read.json.etag}"`);
      expect(read.json.secret).toBe(REDACTED);
      const rotated = await api('POST', `${base}:rotateSecret`, { token: admin });
      expect(rotated.status).toBe(200);
      expect(rotated.json.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(Buffer.from(rotated.json.secret.slice(6), 'base64')).toHaveLength(32);
      expect(rotated.json.secret).not.toBe(res.json.secret);
      expect(rotated.headers.etag).toBe(`"${rotated.json.etag}"`);
      const patched = await api('PATCH', base, { token: admin, payload: { description: 'new' }, headers: { 'if-match': rotated.json.etag } });
      expect(patched.status).toBe(200);
      expect(patched.json.secret).toBe(REDACTED);
      expectProblem(await api('GET', base, { token: editor }), 403);
      expectProblem(await api('GET', `/v1/tenants/${tenant}/webhook-endpoints?pageSize=0`, { token: admin }), 400);
      const dl = await api('GET', `${base}/deliveries`, { token: admin });
      expect(dl.json).toEqual({ deliveries: [], nextPageToken: null });
      expect((await api('DELETE', base, { token: admin, headers: { 'if-match': patched.json.etag } })).status).toBe(204);
      expectProblem(await api('GET', base, { token: admin }), 404);
      expectProblem(await api('DELETE', base, { token: admin, headers: { 'if-match': '*' } }), 404);
    });

    it('"same key + different body: 422" for a webhook endpoint create', async () => {
      const { tenant, admin } = await createTenant(app);
      const headers = { 'idempotency-key': 'wh-1' };
      expect((await api('POST', `/v1/tenants/${tenant}/webhook-endpoints`, { token: admin, payload: { url: 'https://hooks.example.com/a', events: ['*'] }, headers })).status).toBe(201);
      expectProblem(await api('POST', `/v1/tenants/${tenant}/webhook-endpoints`, { token: admin, payload: { url: 'https://hooks.example.com/b', events: ['*'] }, headers }), 422);
    });
  });
  describe('Edge rules', () => {
    it('"400 ... missing or unknown fields, lengths" on every create body', async () => {
      const { tenant, editor, admin } = await createTenant(app);
      expectProblem(await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ bogus: 1 }) }), 400);
      expectProblem(await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ displayName: '' }) }), 400);
      expectProblem(await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ displayName: 'x'.repeat(101) }) }), 400);
      expectProblem(await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ description: 'x'.repeat(501) }) }), 400);
      expectProblem(await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ enabled: 'yes' }) }), 400);
      expectProblem(await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ type: 'OTHER' }) }), 400);
      const noId = httpIntegration();
      delete noId.id;
      expectProblem(await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: noId }), 400);
      await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'api' }) });
      expectProblem(await api('POST', `/v1/tenants/${tenant}/integrations/api/connections`, { token: editor, payload: { name: 'c', bogus: 1, authMethod: 'API_KEY', credentials: { apiKey: 'k' } } }), 400);
      expectProblem(await api('POST', `/v1/tenants/${tenant}/integrations/api/connections`, { token: editor, payload: { name: 'c', accessScope: 'public', authMethod: 'API_KEY', credentials: { apiKey: 'k' } } }), 400);
      expectProblem(await api('POST', `/v1/tenants/${tenant}/webhook-endpoints`, { token: admin, payload: { url: 'https://h.example.com', events: ['*'], bogus: true } }), 400);
      expectProblem(await api('POST', `/v1/tenants/${tenant}/webhook-endpoints`, { token: admin, payload: { url: 'not a url', events: ['*'] } }), 400);
      expectProblem(await api('PATCH', `/v1/tenants/${tenant}`, { token: root, payload: { displayName: 'x'.repeat(101) } }), 400);
      expectProblem(await api('PATCH', `/v1/tenants/${tenant}`, { token: root, payload: { metadata: 'str' } }), 400);
    });

    it('list filters: `enabled` not a boolean, an unknown `view` and an unknown query parameter are 400', async () => {
      const { tenant, viewer } = await createTenant(app);
      expectProblem(await api('GET', `/v1/tenants/${tenant}/integrations?enabled=maybe`, { token: viewer }), 400);
      expectProblem(await api('GET', `/v1/tenants/${tenant}/integrations?view=BOGUS`, { token: viewer }), 400);
      expectProblem(await api('GET', `/v1/tenants/${tenant}/integrations?bogus=1`, { token: viewer }), 400);
      expectProblem(await api('GET', `/v1/tenants/${tenant}/connections?accessScope=public`, { token: viewer }), 400);
      expect((await api('GET', `/v1/tenants/${tenant}/integrations?enabled=true&view=FULL&pageSize=200`, { token: viewer })).status).toBe(200);
      expect((await api('GET', `/v1/tenants/${tenant}/integrations?view=BASIC`, { token: viewer })).status).toBe(200);
    });

    it('"Lists: ?pageSize= (default 50)" for integrations', async () => {
      const { tenant, editor } = await createTenant(app);
      await Promise.all(Array.from({ length: 51 }, (_, i) => api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: `i${String(i).padStart(2, '0')}` }) })));
      const res = await api('GET', `/v1/tenants/${tenant}/integrations`, { token: editor });
      expect(res.json.integrations).toHaveLength(50);
      expect(typeof res.json.nextPageToken).toBe('string');
      const next = await api('GET', `/v1/tenants/${tenant}/integrations?pageToken=${encodeURIComponent(res.json.nextPageToken)}`, { token: editor });
      expect(next.json.integrations).toHaveLength(1);
      expect(next.json.nextPageToken).toBeNull();
    });

    it('"any member may create [a personal connection] for themselves and manage it" (a viewer owner patches, verifies, deletes its own)', async () => {
      const { tenant, editor } = await createTenant(app);
      await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'api', parameters: { baseUrl: 'http://127.0.0.1:1' } }) });
      const me = mintToken({ tenant, roles: ['viewer'], sub: 'owner' });
      const c = await api('POST', `/v1/tenants/${tenant}/integrations/api/connections`, { token: me, payload: { name: 'mine', authMethod: 'API_KEY', credentials: { apiKey: 'k' } } });
      expect(c.status).toBe(201);
      for (const f of ['id', 'object', 'tenantId', 'integrationId', 'ownerId', 'name', 'description', 'accessScope', 'isSharedServiceAccount', 'integrationVersion', 'authMethod', 'credentials', 'parameters', 'headers', 'servers', 'metadata', 'enabled', 'health', 'etag', 'createdAt', 'modifiedAt']) {
        expect({ f, has: f in c.json }).toEqual({ f, has: true });
      }
      const url = `/v1/tenants/${tenant}/connections/${c.json.id}`;
      const p = await api('PATCH', url, { token: me, payload: { description: 'd' } });
      expect(p.status).toBe(200);
      expect(p.headers.etag).toBe(`"${p.json.etag}"`);
      const v = await api('POST', `${url}:verify`, { token: me });
      expect(v.status).toBe(200);
      expect(v.json.status).toBe('unhealthy');
      expect((await api('DELETE', url, { token: me })).status).toBe(204);
    });

    it('connection create under an integration that does not exist is 404; an integration filter narrows the list', async () => {
      const { tenant, editor } = await createTenant(app);
      expectProblem(await api('POST', `/v1/tenants/${tenant}/integrations/nope/connections`, { token: editor, payload: { name: 'c', authMethod: 'API_KEY', credentials: { apiKey: 'k' } } }), 404);
      await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'a1' }) });
      await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'a2' }) });
      await api('POST', `/v1/tenants/${tenant}/integrations/a1/connections`, { token: editor, payload: { name: 'c', accessScope: 'organizational', authMethod: 'API_KEY', credentials: { apiKey: 'k' } } });
      await api('POST', `/v1/tenants/${tenant}/integrations/a2/connections`, { token: editor, payload: { name: 'c', authMethod: 'API_KEY', credentials: { apiKey: 'k' } } });
      const a1 = await api('GET', `/v1/tenants/${tenant}/connections?integration=a1`, { token: editor });
      expect(a1.json.connections.map((c: any) => c.integrationId)).toEqual(['a1']);
      const personal = await api('GET', `/v1/tenants/${tenant}/connections?accessScope=personal`, { token: editor });
      expect(personal.json.connections.map((c: any) => c.integrationId)).toEqual(['a2']);
    });

    it('"platform-admin ... may act in any tenant": creates, reads and verifies integrations of a tenant without a tenant claim', async () => {
      const { tenant } = await createTenant(app);
      const created = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: root, payload: httpIntegration({ id: 'pa' }) });
      expect(created.status).toBe(201);
      expect((await api('GET', `/v1/tenants/${tenant}/integrations/pa`, { token: root })).status).toBe(200);
      expect((await api('PATCH', `/v1/tenants/${tenant}/integrations/pa`, { token: root, payload: { enabled: false } })).status).toBe(200);
      expect((await api('DELETE', `/v1/tenants/${tenant}/integrations/pa`, { token: root })).status).toBe(204);
    });

    it('"audit log: admin" — viewer and editor get 403, with a problem body', async () => {
      const { tenant, viewer, editor } = await createTenant(app);
      expectProblem(await api('GET', `/v1/tenants/${tenant}/audit-events`, { token: viewer }), 403);
      expectProblem(await api('GET', `/v1/tenants/${tenant}/audit-events`, { token: editor }), 403);
    });

    it('"Webhook endpoint: { id, url, description, events, enabled, secret, health, etag, createdAt, modifiedAt }"', async () => {
      const { tenant, admin } = await createTenant(app);
      const res = await api('POST', `/v1/tenants/${tenant}/webhook-endpoints`, { token: admin, payload: { url: 'https://hooks.example.com/x', events: ['integration.created'] } });
      for (const f of ['id', 'url', 'description', 'events', 'enabled', 'secret', 'health', 'etag', 'createdAt', 'modifiedAt']) expect(res.json).toHaveProperty(f);
      expect(res.headers.etag).toBe(`"${res.json.etag}"`);
      expect(res.json.modifiedAt).toMatch(TS);
      expectProblem(await api('POST', `/v1/tenants/${tenant}/webhook-endpoints/whep_missing:rotateSecret`, { token: admin }), 404);
      expectProblem(await api('GET', `/v1/tenants/${tenant}/webhook-endpoints/whep_missing/deliveries`, { token: admin }), 404);
    });

    it('unknown :verb and wrong method on a :verb route are 4xx problems, never 5xx', async () => {
      const { tenant, editor } = await createTenant(app);
      await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'vb' }) });
      const unknown = await api('POST', `/v1/tenants/${tenant}/integrations/vb:explode`, { token: editor });
      expect(unknown.status).toBeGreaterThanOrEqual(400);
      expect(unknown.status).toBeLessThan(500);
      expect(String(unknown.headers['content-type'])).toMatch(/^application\/problem\+json/);
      const get = await api('GET', `/v1/tenants/${tenant}/integrations/vb:verifyConfig`, { token: editor });
      expect(get.status).toBeGreaterThanOrEqual(400);
      expect(get.status).toBeLessThan(500);
      const put = await app.inject({ method: 'PUT', url: `/v1/tenants/${tenant}/integrations/vb`, headers: { authorization: `Bearer ${editor}`, 'content-type': 'application/json' }, payload: '{}' });
      expect(put.statusCode).toBeGreaterThanOrEqual(400);
      expect(put.statusCode).toBeLessThan(500);
      expect(String(put.headers['content-type'])).toMatch(/^application\/problem\+json/);
    });

    it('":testConfig: editor" — a viewer gets 403, an editor 200, and nothing is stored', async () => {
      const { tenant, editor, viewer } = await createTenant(app);
      const body = httpIntegration({ id: 'tc', parameters: { baseUrl: 'http://127.0.0.1:1' } });
      expectProblem(await api('POST', `/v1/tenants/${tenant}/integrations:testConfig`, { token: viewer, payload: body }), 403);
      const res = await api('POST', `/v1/tenants/${tenant}/integrations:testConfig`, { token: editor, payload: body });
      expect(res.status).toBe(200);
      expect(res.json.error.code).toBe('UNREACHABLE');
      expectProblem(await api('GET', `/v1/tenants/${tenant}/integrations/tc`, { token: editor }), 404);
    });

    it('"secret: true" parameters of a SYSTEM connector and headers are redacted on GET and list view=FULL', async () => {
      const { tenant, editor, viewer } = await createTenant(app);
      await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'rd', headers: { 'X-T': 'secret-h' } }) });
      const list = await api('GET', `/v1/tenants/${tenant}/integrations?view=FULL`, { token: viewer });
      expect(list.json.integrations[0].credentials).toEqual({ apiKey: REDACTED });
      expect(list.json.integrations[0].headers).toEqual({ 'X-T': REDACTED });
      expect(list.json.integrations[0].configMetadata).toBeDefined();
      const summary = await api('GET', `/v1/tenants/${tenant}/integrations`, { token: viewer });
      expect(summary.json.integrations[0]).not.toHaveProperty('configMetadata');
      expect(list.body).not.toContain('secret-h');
    });

    it('"pageSize (1..200, else 400)": only plain decimal integers count (1e2, 0x10, +5, 5.0, empty, repeated are 400) on every list', async () => {
      const { tenant, admin } = await createTenant(app);
      const lists = ['/v1/tenants', '/v1/connectors', `/v1/tenants/${tenant}/integrations`, `/v1/tenants/${tenant}/connections`, `/v1/tenants/${tenant}/audit-events`, `/v1/tenants/${tenant}/webhook-endpoints`];
      for (const list of lists) {
        const token = list === '/v1/tenants' ? root : admin;
        for (const bad of ['1e2', '0x10', '%2B5', '5.0', '', '0', '201', 'abc', '50&pageSize=60']) {
          const res = await api('GET', `${list}?pageSize=${bad}`, { token });
          expect({ list, bad, status: res.status }).toEqual({ list, bad, status: 400 });
        }
        for (const good of ['1', '200', '050']) {
          const res = await api('GET', `${list}?pageSize=${good}`, { token });
          expect({ list, good, status: res.status }).toEqual({ list, good, status: 200 });
        }
      }
    });

    it('"Keys are per tenant": one caller reusing a key in another tenant creates there too', async () => {
      const a = await createTenant(app);
      const b = await createTenant(app);
      const headers = { 'idempotency-key': 'per-tenant' };
      expect((await api('POST', `/v1/tenants/${a.tenant}/integrations`, { token: root, payload: httpIntegration({ id: 'same' }), headers })).status).toBe(201);
      expect((await api('POST', `/v1/tenants/${b.tenant}/integrations`, { token: root, payload: httpIntegration({ id: 'same' }), headers })).status).toBe(201);
      expect((await api('GET', `/v1/tenants/${b.tenant}/integrations/same`, { token: root })).status).toBe(200);
    });

    it('"same key + same body: the first response replayed" — with its status and ETag header, key order in the body not mattering', async () => {
      const { tenant, editor } = await createTenant(app);
      const headers = { 'idempotency-key': 'order' };
      const body = httpIntegration({ id: 'ord' });
      const first = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: body, headers });
      const reordered: Record<string, unknown> = {};
      for (const k of Object.keys(body).reverse()) reordered[k] = body[k];
      const again = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: reordered, headers });
      expect(again.status).toBe(201);
      expect(again.json).toEqual(first.json);
      expect(again.headers.etag).toBe(first.headers.etag);
    });

    it('"editor (read, write, verify)": a viewer may not :verify an organizational connection nor turn its own personal one organizational', async () => {
      const { tenant, editor, viewer } = await createTenant(app);
      await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'api', parameters: { baseUrl: 'http://127.0.0.1:1' } }) });
      const org = await api('POST', `/v1/tenants/${tenant}/integrations/api/connections`, { token: editor, payload: { name: 'o', accessScope: 'organizational', authMethod: 'API_KEY', credentials: { apiKey: 'k' } } });
      expectProblem(await api('POST', `/v1/tenants/${tenant}/connections/${org.json.id}:verify`, { token: viewer }), 403);
      const verified = await api('POST', `/v1/tenants/${tenant}/connections/${org.json.id}:verify`, { token: editor });
      expect(verified.status).toBe(200);
      const read = await api('GET', `/v1/tenants/${tenant}/connections/${org.json.id}`, { token: viewer });
      expect(read.json.health).toMatchObject({ status: 'unhealthy', lastError: { code: 'UNREACHABLE' } });
      expect(read.json.health.checkedAt).toMatch(TS);
      const mine = await api('POST', `/v1/tenants/${tenant}/integrations/api/connections`, { token: viewer, payload: { name: 'm', authMethod: 'API_KEY', credentials: { apiKey: 'k' } } });
      expectProblem(await api('PATCH', `/v1/tenants/${tenant}/connections/${mine.json.id}`, { token: viewer, payload: { accessScope: 'organizational' } }), 403);
    });

    it('"a destination changed without credentials: 422" for postgresql host/port, also when sent back as ***REDACTED***; all credentials again: 200', async () => {
      const { tenant, editor } = await createTenant(app);
      await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: { id: 'pg', displayName: 'pg', connector: 'postgresql', parameters: { host: 'db.example.com', database: 'x' }, authMethod: 'USER_PASSWORD', credentials: { username: 'u', password: 'p' } } });
      expectProblem(await api('PATCH', `/v1/tenants/${tenant}/integrations/pg`, { token: editor, payload: { parameters: { host: 'db2.example.com' } } }), 422);
      expectProblem(await api('PATCH', `/v1/tenants/${tenant}/integrations/pg`, { token: editor, payload: { parameters: { port: 5433 }, credentials: { username: REDACTED, password: REDACTED } } }), 422);
      const ok = await api('PATCH', `/v1/tenants/${tenant}/integrations/pg`, { token: editor, payload: { parameters: { port: 5433 }, credentials: { username: 'u', password: 'p2' } } });
      expect(ok.status).toBe(200);
      expect(ok.json.parameters.port).toBe(5433);
    });

    it('"a token with no known role gets 403" as a full problem', async () => {
      const { tenant } = await createTenant(app);
      expectProblem(await api('GET', `/v1/tenants/${tenant}/integrations`, { token: mintToken({ tenant, roles: ['superuser'], sub: 'x' }) }), 403);
    });

    // Enable once src/create-app.ts calls allowEmptyJsonOnBodylessRoutes(fastify) (src/common/http/json-body.ts):
    // many clients label every request application/json, and a body-less DELETE or :verb must not be 400.
    it('"DELETE answers 204" and ":verifyConfig ... answers 200" even when a body-less request is labelled Content-Type: application/json', async () => {
      const { tenant, editor } = await createTenant(app);
      await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'nb', parameters: { baseUrl: 'http://127.0.0.1:1' } }) });
      const headers = { 'content-type': 'application/json' };
      expect((await api('POST', `/v1/tenants/${tenant}/integrations/nb:verifyConfig`, { token: editor, headers })).status).toBe(200);
      expect((await api('DELETE', `/v1/tenants/${tenant}/integrations/nb`, { token: editor, headers })).status).toBe(204);
    });
  });
});
