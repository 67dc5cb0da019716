import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { findConnector } from '../../src/connectors/catalog';
import { apiClient, createTenant, customMetadata, httpIntegration, startFakeUpstream, type FakeUpstream } from '../support/integrations-fixtures';
import { startTestApp } from '../support/test-app';

// Many requests per test against a real database, and suites run in parallel.
jest.setTimeout(30_000);

const REDACTED = '***REDACTED***';

/**
 * PATCH semantics (API.md): secrets merge per key (omitted keeps, value replaces,
 * null removes, "***REDACTED***" keeps), parameters/headers merge per key, tags and
 * configMetadata are replaced whole, and stored credentials only go to the
 * destination they were saved with. A stored secret cannot be read back, so every
 * claim about one is checked by :verifyConfig against a fake upstream that checks it.
 */
describe('integrations PATCH merge semantics and the destination rule', () => {
  let app: NestFastifyApplication;
  let api: ReturnType<typeof apiClient>;
  let upstream: FakeUpstream;
  let other: FakeUpstream;

  beforeAll(async () => {
    ({ app } = await startTestApp({ VERIFY_MAX_PER_MINUTE_PER_TENANT: '1000' }));
    api = apiClient(app);
    upstream = await startFakeUpstream('key-one');
    other = await startFakeUpstream('key-two');
  });
  afterAll(async () => {
    await app.close();
    await upstream.close();
    await other.close();
  });
  beforeEach(() => {
    upstream.acceptedKey = 'key-one';
    other.acceptedKey = 'key-two';
    upstream.seen.length = 0;
    other.seen.length = 0;
  });

  async function setup(extra: Record<string, unknown> = {}) {
    const t = await createTenant(app);
    const res = await api('POST', `/v1/tenants/${t.tenant}/integrations`, {
      token: t.editor,
      payload: httpIntegration({ id: 'api', parameters: { baseUrl: upstream.url }, credentials: { apiKey: 'key-one' }, ...extra }),
    });
    expect(res.status).toBe(201);
    const url = `/v1/tenants/${t.tenant}/integrations/api`;
    return {
      ...t,
      url,
      created: res.json,
      patch: (payload: unknown, headers?: Record<string, string>) => api('PATCH', url, { token: t.editor, payload, headers }),
      get: () => api('GET', url, { token: t.editor }),
      verify: () => api('POST', `${url}:verifyConfig`, { token: t.editor }),
    };
  }

  describe('credentials', () => {
    it('keeps a credential the PATCH omits (the upstream still receives it)', async () => {
      const s = await setup();
      const res = await s.patch({ displayName: 'Renamed' });
      expect(res.status).toBe(200);
      expect(res.json.credentials).toEqual({ apiKey: REDACTED });
      const verified = await s.verify();
      expect(verified.json).toMatchObject({ status: 'healthy', error: null });
      expect(upstream.seen.at(-1)?.headers['x-api-key']).toBe('key-one');
    });

    it('keeps a credential sent back as ***REDACTED***', async () => {
      const s = await setup();
      expect((await s.patch({ credentials: { apiKey: REDACTED } })).status).toBe(200);
      expect((await s.verify()).json.status).toBe('healthy');
      expect(upstream.seen.at(-1)?.headers['x-api-key']).toBe('key-one');
    });

    it('replaces a credential given a new value', async () => {
      const s = await setup();
      expect((await s.patch({ credentials: { apiKey: 'key-rotated' } })).status).toBe(200);
      const before = await s.verify();
      expect(before.json).toMatchObject({ status: 'unhealthy', error: { code: 'AUTH_FAILED' } });
      expect(upstream.seen.at(-1)?.headers['x-api-key']).toBe('key-rotated');
      upstream.acceptedKey = 'key-rotated';
      expect((await s.verify()).json.status).toBe('healthy');
    });

    it('removes a credential sent as null', async () => {
      const s = await setup({ authMethod: 'BASIC', credentials: { username: 'u', password: 'p' } });
      // Both are required by BASIC: removing one is refused, removing both with the method switched works.
      expect((await s.patch({ credentials: { password: null } })).status).toBe(422);
      const res = await s.patch({ authMethod: 'API_KEY', credentials: { username: null, password: null, apiKey: 'key-one' } });
      expect(res.status).toBe(200);
      expect(res.json.credentials).toEqual({ apiKey: REDACTED });
      expect((await s.verify()).json.status).toBe('healthy');
      expect(upstream.seen.at(-1)?.headers.authorization).toBeUndefined();
    });
  });

  describe('headers and parameters merge per key', () => {
    it('keeps, replaces and removes secret headers per key', async () => {
      const s = await setup({ headers: { 'X-Keep': 'keep-1', 'X-Replace': 'old-2', 'X-Remove': 'rm-3' } });
      const res = await s.patch({ headers: { 'X-Replace': 'new-2', 'X-Remove': null, 'X-Add': 'add-4', 'X-Keep': REDACTED } });
      expect(res.status).toBe(200);
      expect(res.json.headers).toEqual({ 'X-Keep': REDACTED, 'X-Replace': REDACTED, 'X-Add': REDACTED });
      await s.verify();
      const sent = upstream.seen.at(-1)!.headers;
      expect(sent['x-keep']).toBe('keep-1');
      expect(sent['x-replace']).toBe('new-2');
      expect(sent['x-add']).toBe('add-4');
      expect(sent['x-remove']).toBeUndefined();
    });

    it('merges plain parameters per key (RFC 7396) and null removes one', async () => {
      const s = await setup();
      expect((await s.patch({ parameters: { testPath: '/health', headerName: 'X-Token' } })).status).toBe(200);
      const res = await s.patch({ parameters: { headerName: null } });
      expect(res.status).toBe(200);
      expect(res.json.parameters).toEqual({ baseUrl: upstream.url, testPath: '/health' });
      await s.verify();
      expect(upstream.seen.at(-1)?.url).toBe('/health');
      expect(upstream.seen.at(-1)?.headers['x-api-key']).toBe('key-one');
    });

    it('merges secret parameters like credentials', async () => {
      const t = await createTenant(app);
      const url = `/v1/tenants/${t.tenant}/integrations/custom`;
      const created = await api('POST', `/v1/tenants/${t.tenant}/integrations`, {
        token: t.editor,
        payload: httpIntegration({ id: 'custom', type: 'CUSTOM', configMetadata: customMetadata(), parameters: { baseUrl: upstream.url, signingSecret: 'sig-1', retries: 2 } }),
      });
      expect(created.status).toBe(201);
      const kept = await api('PATCH', url, { token: t.editor, payload: { parameters: { retries: 3 } } });
      expect(kept.json.parameters).toEqual({ baseUrl: upstream.url, retries: 3, signingSecret: REDACTED });
      const sentBack = await api('PATCH', url, { token: t.editor, payload: { parameters: { signingSecret: REDACTED } } });
      expect(sentBack.json.parameters.signingSecret).toBe(REDACTED);
      const removed = await api('PATCH', url, { token: t.editor, payload: { parameters: { signingSecret: null } } });
      expect(removed.status).toBe(200);
      expect(removed.json.parameters).toEqual({ baseUrl: upstream.url, retries: 3 });
    });

    it('refuses removing a required secret parameter', async () => {
      const t = await createTenant(app);
      const meta = customMetadata();
      (meta.parametersMetadata as Record<string, unknown>[])[6].required = true;
      const created = await api('POST', `/v1/tenants/${t.tenant}/integrations`, {
        token: t.editor,
        payload: httpIntegration({ id: 'custom', type: 'CUSTOM', configMetadata: meta, parameters: { baseUrl: upstream.url, signingSecret: 'sig-1' } }),
      });
      expect(created.status).toBe(201);
      const res = await api('PATCH', `/v1/tenants/${t.tenant}/integrations/custom`, { token: t.editor, payload: { parameters: { signingSecret: null } } });
      expect(res.status).toBe(422);
      expect(res.json.errors.map((e: { field: string }) => e.field)).toContain('parameters.signingSecret');
    });
  });

  describe('auth method changes', () => {
    it('drops stored credentials the new auth method does not declare', async () => {
      const s = await setup();
      const res = await s.patch({ authMethod: 'BEARER', credentials: { token: 'key-one' } });
      expect(res.status).toBe(200);
      expect(res.json.credentials).toEqual({ token: REDACTED });
      expect((await s.verify()).json.status).toBe('healthy');
      expect(upstream.seen.at(-1)?.headers['x-api-key']).toBeUndefined();
      expect(upstream.seen.at(-1)?.headers.authorization).toBe('Bearer key-one');
    });

    it('requires the new auth method\'s credentials', async () => {
      const s = await setup();
      const res = await s.patch({ authMethod: 'BEARER' });
      expect(res.status).toBe(422);
      expect(res.json.errors.map((e: { field: string }) => e.field)).toContain('credentials.token');
    });

    it('removes the auth method and its credentials with authMethod null', async () => {
      const s = await setup();
      const res = await s.patch({ authMethod: null });
      expect(res.status).toBe(200);
      expect(res.json.authMethod).toBeNull();
      expect(res.json.credentials).toEqual({});
      // With no credentials left, the destination may move freely.
      expect((await s.patch({ parameters: { baseUrl: other.url } })).status).toBe(200);
    });
  });

  describe('tags and configMetadata are replaced whole', () => {
    it('replaces tags whole', async () => {
      const s = await setup({ tags: ['a', 'b'] });
      expect((await s.patch({ tags: ['c'] })).json.tags).toEqual(['c']);
      expect((await s.patch({ tags: [] })).json.tags).toEqual([]);
    });

    it('replaces configMetadata whole on a CUSTOM integration', async () => {
      const t = await createTenant(app);
      const url = `/v1/tenants/${t.tenant}/integrations/custom`;
      await api('POST', `/v1/tenants/${t.tenant}/integrations`, {
        token: t.editor,
        payload: httpIntegration({ id: 'custom', type: 'CUSTOM', configMetadata: customMetadata(), parameters: { baseUrl: upstream.url }, credentials: { apiKey: 'key-one' } }),
      });
      const smaller = {
        parametersMetadata: [{ name: 'baseUrl', type: 'Url', required: true }],
        authMetadata: [{ id: 'API_KEY', type: 'API_KEY', parametersMetadata: [{ name: 'apiKey', type: 'String', required: true, secret: true }] }],
      };
      const res = await api('PATCH', url, { token: t.editor, payload: { configMetadata: smaller } });
      expect(res.status).toBe(200);
      expect(res.json.configMetadata.parametersMetadata.map((p: { name: string }) => p.name)).toEqual(['baseUrl']);
      expect(res.json.configMetadata.authMetadata).toHaveLength(1);
      expect((await api('POST', `${url}:verifyConfig`, { token: t.editor })).json).toMatchObject({ status: 'healthy', error: null });
    });

    it('refuses new configMetadata that the stored parameters do not fit', async () => {
      const t = await createTenant(app);
      const url = `/v1/tenants/${t.tenant}/integrations/custom`;
      await api('POST', `/v1/tenants/${t.tenant}/integrations`, {
        token: t.editor,
        payload: httpIntegration({ id: 'custom', type: 'CUSTOM', configMetadata: customMetadata(), parameters: { baseUrl: upstream.url, retries: 2 } }),
      });
      const withoutRetries = { parametersMetadata: [{ name: 'baseUrl', type: 'Url', required: true }], authMetadata: (customMetadata() as { authMetadata: unknown }).authMetadata };
      const res = await api('PATCH', url, { token: t.editor, payload: { configMetadata: withoutRetries } });
      expect(res.status).toBe(422);
      expect(res.json.errors.map((e: { field: string }) => e.field)).toContain('parameters.retries');
      const fixed = await api('PATCH', url, { token: t.editor, payload: { configMetadata: withoutRetries, parameters: { retries: null } } });
      expect(fixed.status).toBe(200);
      expect(fixed.json.parameters).toEqual({ baseUrl: upstream.url });
    });

    it('encrypts a stored plain parameter that new configMetadata marks secret, instead of dropping or showing it', async () => {
      const t = await createTenant(app);
      const plainMeta = customMetadata();
      (plainMeta.parametersMetadata as Record<string, unknown>[])[6].secret = false;
      const url = `/v1/tenants/${t.tenant}/integrations/custom`;
      const created = await api('POST', `/v1/tenants/${t.tenant}/integrations`, {
        token: t.editor,
        payload: httpIntegration({ id: 'custom', type: 'CUSTOM', configMetadata: plainMeta, parameters: { baseUrl: upstream.url, signingSecret: 'was-plain-1' } }),
      });
      expect(created.json.parameters.signingSecret).toBe('was-plain-1');
      const res = await api('PATCH', url, { token: t.editor, payload: { configMetadata: customMetadata() } });
      expect(res.status).toBe(200);
      expect(res.json.parameters.signingSecret).toBe(REDACTED);
      const [row] = await app.get(DataSource).query(`SELECT parameters, secrets FROM integrations WHERE tenant_id = $1 AND id = 'custom'`, [t.tenant]);
      expect(row.parameters).not.toHaveProperty('signingSecret');
      expect(row.secrets.parameters.signingSecret).toMatch(/^sb1\./);
      expect(JSON.stringify(row)).not.toContain('was-plain-1');
    });

    it('never turns a stored secret parameter readable: new configMetadata that unmarks it needs the value again', async () => {
      const t = await createTenant(app);
      const url = `/v1/tenants/${t.tenant}/integrations/custom`;
      await api('POST', `/v1/tenants/${t.tenant}/integrations`, {
        token: t.editor,
        payload: httpIntegration({ id: 'custom', type: 'CUSTOM', configMetadata: customMetadata(), parameters: { baseUrl: upstream.url, signingSecret: 'stays-secret-1' } }),
      });
      const plainMeta = customMetadata();
      (plainMeta.parametersMetadata as Record<string, unknown>[])[6].secret = false;
      const refused = await api('PATCH', url, { token: t.editor, payload: { configMetadata: plainMeta } });
      expect(refused.status).toBe(422);
      expect(refused.json.errors.map((e: { field: string }) => e.field)).toContain('parameters.signingSecret');
      expect(refused.body).not.toContain('stays-secret-1');
      const resent = await api('PATCH', url, { token: t.editor, payload: { configMetadata: plainMeta, parameters: { signingSecret: 'now-plain-2' } } });
      expect(resent.status).toBe(200);
      expect(resent.json.parameters.signingSecret).toBe('now-plain-2');
      const [row] = await app.get(DataSource).query(`SELECT secrets FROM integrations WHERE tenant_id = $1 AND id = 'custom'`, [t.tenant]);
      expect(row.secrets.parameters ?? {}).toEqual({});
    });

    it('lets a SYSTEM integration drop its configMetadata override with null, back to the catalog\'s', async () => {
      const s = await setup();
      const override = JSON.parse(JSON.stringify(findConnector('http')!.configMetadata));
      override.parametersMetadata[1].displayName = 'Health path';
      const res = await s.patch({ configMetadata: override });
      expect(res.status).toBe(200);
      expect(res.json.configMetadata.parametersMetadata[1].displayName).toBe('Health path');
      const back = await s.patch({ configMetadata: null });
      expect(back.status).toBe(200);
      expect(back.json.configMetadata).toEqual(JSON.parse(JSON.stringify(findConnector('http')!.configMetadata)));
    });
  });

  describe('etag and If-Match', () => {
    it('changes the etag on every write, and the ETag header follows', async () => {
      const s = await setup();
      const etags = [s.created.etag];
      for (const payload of [{ displayName: 'B' }, { tags: ['x'] }, { credentials: { apiKey: 'key-one' } }, { enabled: false }]) {
        const res = await s.patch(payload);
        expect(res.status).toBe(200);
        expect(res.headers.etag).toBe(`"${res.json.etag}"`);
        etags.push(res.json.etag);
      }
      expect(new Set(etags).size).toBe(etags.length);
    });

    it('honours If-Match: a stale etag is 412 and changes nothing; current (quoted, bare or *) succeeds', async () => {
      const s = await setup();
      const stale = await s.patch({ displayName: 'X' }, { 'if-match': '"not-the-etag"' });
      expect(stale.status).toBe(412);
      expect((await s.get()).json.displayName).toBe(s.created.displayName);
      const quoted = await s.patch({ displayName: 'Q' }, { 'if-match': `"${s.created.etag}"` });
      expect(quoted.status).toBe(200);
      const bare = await s.patch({ displayName: 'B' }, { 'if-match': quoted.json.etag });
      expect(bare.status).toBe(200);
      expect((await s.patch({ displayName: 'S' }, { 'if-match': '*' })).status).toBe(200);
      expect((await s.patch({ displayName: 'old' }, { 'if-match': s.created.etag })).status).toBe(412);
    });
  });

  describe('destination rule', () => {
    it('refuses a new baseUrl without credentials (422) and changes nothing: old baseUrl, verify still works', async () => {
      const s = await setup();
      const res = await s.patch({ parameters: { baseUrl: other.url }, displayName: 'Moved' });
      expect(res.status).toBe(422);
      expect(res.json.errors.map((e: { field: string }) => e.field)).toContain('credentials.apiKey');
      const read = await s.get();
      expect(read.json.parameters.baseUrl).toBe(upstream.url);
      expect(read.json.displayName).toBe(s.created.displayName);
      expect(read.json.etag).toBe(s.created.etag);
      expect((await s.verify()).json.status).toBe('healthy');
      expect(other.seen).toHaveLength(0);
    });

    it('refuses a new baseUrl with credentials sent back as ***REDACTED***', async () => {
      const s = await setup();
      const res = await s.patch({ parameters: { baseUrl: other.url }, credentials: { apiKey: REDACTED } });
      expect(res.status).toBe(422);
      expect((await s.get()).json.parameters.baseUrl).toBe(upstream.url);
      await s.verify();
      expect(other.seen).toHaveLength(0);
    });

    it('moves with new credentials: 200, and only the new destination receives the new key', async () => {
      const s = await setup();
      const res = await s.patch({ parameters: { baseUrl: other.url }, credentials: { apiKey: 'key-two' } });
      expect(res.status).toBe(200);
      expect(res.json.parameters.baseUrl).toBe(other.url);
      const verified = await s.verify();
      expect(verified.json.status).toBe('healthy');
      expect(other.seen.map((r) => r.headers['x-api-key'])).toEqual(['key-two']);
      expect(upstream.seen).toHaveLength(0);
    });

    it('drops secret headers not sent again when the destination moves, so they never reach it', async () => {
      const s = await setup({ headers: { 'X-Extra': 'hdr-for-one' } });
      const res = await s.patch({ parameters: { baseUrl: other.url }, credentials: { apiKey: 'key-two' } });
      expect(res.status).toBe(200);
      expect(res.json.headers).toEqual({});
      await s.verify();
      expect(other.seen.at(-1)?.headers['x-extra']).toBeUndefined();
    });

    it('treats tokenUrl and a changed port of baseUrl as destinations too', async () => {
      const s = await setup();
      expect((await s.patch({ parameters: { tokenUrl: 'https://login.example.com/token' } })).status).toBe(422);
      const samehostOtherPort = upstream.url.replace(/:\d+$/, `:${other.port}`);
      expect((await s.patch({ parameters: { baseUrl: samehostOtherPort } })).status).toBe(422);
    });

    it('refuses moving the destination through new configMetadata defaults without credentials', async () => {
      const t = await createTenant(app);
      const meta = customMetadata();
      (meta.parametersMetadata as Record<string, unknown>[])[0] = { name: 'baseUrl', type: 'Url', defaultValue: upstream.url };
      const url = `/v1/tenants/${t.tenant}/integrations/custom`;
      const created = await api('POST', `/v1/tenants/${t.tenant}/integrations`, {
        token: t.editor,
        payload: httpIntegration({ id: 'custom', type: 'CUSTOM', configMetadata: meta, parameters: {}, credentials: { apiKey: 'key-one' } }),
      });
      expect(created.status).toBe(201);
      expect((await api('POST', `${url}:verifyConfig`, { token: t.editor })).json.status).toBe('healthy');
      (meta.parametersMetadata as Record<string, unknown>[])[0] = { name: 'baseUrl', type: 'Url', defaultValue: other.url };
      const res = await api('PATCH', url, { token: t.editor, payload: { configMetadata: meta } });
      expect(res.status).toBe(422);
      await api('POST', `${url}:verifyConfig`, { token: t.editor });
      expect(other.seen).toHaveLength(0);
    });

    it('does not count setting baseUrl to the value it already had (its default) as a move', async () => {
      const t = await createTenant(app);
      const created = await api('POST', `/v1/tenants/${t.tenant}/integrations`, {
        token: t.editor,
        payload: { id: 'gh', displayName: 'GH', connector: 'github', authMethod: 'pat', credentials: { token: 'ghp_x' } },
      });
      expect(created.status).toBe(201);
      const same = await api('PATCH', `/v1/tenants/${t.tenant}/integrations/gh`, { token: t.editor, payload: { parameters: { baseUrl: 'https://api.github.com' } } });
      expect(same.status).toBe(200);
      const moved = await api('PATCH', `/v1/tenants/${t.tenant}/integrations/gh`, { token: t.editor, payload: { parameters: { baseUrl: 'https://ghe.example.com/api/v3' } } });
      expect(moved.status).toBe(422);
    });

    it('forgets a pinned host key when the destination moves, and keeps it on any other write', async () => {
      const s = await setup();
      const db = app.get(DataSource);
      const hostKey = async () => (await db.query(`SELECT host_key FROM integrations WHERE tenant_id = $1 AND id = 'api'`, [s.tenant]))[0].host_key;
      await db.query(`UPDATE integrations SET host_key = 'SHA256:pinned' WHERE tenant_id = $1 AND id = 'api'`, [s.tenant]);
      expect((await s.patch({ displayName: 'Same place', credentials: { apiKey: 'key-one' } })).status).toBe(200);
      expect(await hostKey()).toBe('SHA256:pinned');
      expect((await s.patch({ parameters: { baseUrl: other.url }, credentials: { apiKey: 'key-two' } })).status).toBe(200);
      expect(await hostKey()).toBeNull();
    });

    it('lets an integration without credentials change its destination freely', async () => {
      const s = await setup({ authMethod: undefined, credentials: undefined });
      expect(s.created.credentials).toEqual({});
      const res = await s.patch({ parameters: { baseUrl: other.url } });
      expect(res.status).toBe(200);
      expect(res.json.parameters.baseUrl).toBe(other.url);
      expect((await s.patch({ authMethod: 'API_KEY', credentials: { apiKey: 'key-two' } })).status).toBe(200);
      expect((await s.verify()).json.status).toBe('healthy');
      expect(other.seen.map((r) => r.headers['x-api-key'])).toEqual(['key-two']);
      expect(upstream.seen).toHaveLength(0);
    });
  });
});
