import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { CRYPTO, type TenantCrypto } from '../../src/common/crypto/crypto.tokens';
import { findConnector } from '../../src/connectors/catalog';
import { apiClient, createTenant, customMetadata, httpIntegration } from '../support/integrations-fixtures';
import { startTestApp } from '../support/test-app';

// Many requests per test against a real database, and suites run in parallel.
jest.setTimeout(30_000);

const REDACTED = '***REDACTED***';

describe('integrations CRUD', () => {
  let app: NestFastifyApplication;
  let api: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    ({ app } = await startTestApp());
    api = apiClient(app);
  });
  afterAll(async () => {
    await app.close();
  });

  it('reads (GET, list, list FULL) without decrypting anything', async () => {
    const { tenant, editor } = await createTenant(app);
    const created = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'sealed', headers: { 'X-Extra': 'h' } }) });
    expect(created.status).toBe(201);
    const crypto = app.get<TenantCrypto>(CRYPTO);
    const decrypt = jest.spyOn(crypto, 'decrypt');
    try {
      const one = await api('GET', `/v1/tenants/${tenant}/integrations/sealed`, { token: editor });
      const page = await api('GET', `/v1/tenants/${tenant}/integrations`, { token: editor });
      const full = await api('GET', `/v1/tenants/${tenant}/integrations?view=FULL`, { token: editor });
      expect([one.status, page.status, full.status]).toEqual([200, 200, 200]);
      expect(one.json.credentials).toEqual({ apiKey: REDACTED });
      expect(decrypt).not.toHaveBeenCalled();
    } finally {
      decrypt.mockRestore();
    }
  });

  it('creates with 201, echoes every field, redacts every secret and sends the ETag header', async () => {
    const { tenant, editor } = await createTenant(app);
    const body = {
      id: 'github-main',
      displayName: 'GitHub (main org)',
      description: 'Source of truth',
      connector: 'github',
      type: 'SYSTEM',
      parameters: { baseUrl: 'https://ghe.example.com/api/v3' },
      authMethod: 'pat',
      credentials: { token: 'ghp_test_0123456789' },
      headers: { 'X-Extra-Auth': 'extra-header-value' },
      tags: ['scm', 'prod'],
      isInternal: true,
      enabled: false,
    };
    const res = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: body });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({
      id: 'github-main',
      tenantId: tenant,
      displayName: 'GitHub (main org)',
      description: 'Source of truth',
      connector: 'github',
      type: 'SYSTEM',
      parameters: { baseUrl: 'https://ghe.example.com/api/v3' },
      authMethod: 'pat',
      credentials: { token: REDACTED },
      headers: { 'X-Extra-Auth': REDACTED },
      tags: ['scm', 'prod'],
      isInternal: true,
      enabled: false,
      health: { status: 'unknown', checkedAt: null, latencyMs: null, lastError: null },
    });
    expect(res.json.configMetadata).toEqual(JSON.parse(JSON.stringify(findConnector('github')!.configMetadata)));
    expect(typeof res.json.etag).toBe('string');
    expect(res.headers.etag).toBe(`"${res.json.etag}"`);
    expect(new Date(res.json.createdAt).toISOString()).toBe(res.json.createdAt);
    expect(res.json.modifiedAt).toBe(res.json.createdAt);
    expect(res.body).not.toContain('ghp_test_0123456789');
    expect(res.body).not.toContain('extra-header-value');
  });

  it('redacts a secret parameter of a CUSTOM integration and echoes its configMetadata', async () => {
    const { tenant, editor } = await createTenant(app);
    const res = await api('POST', `/v1/tenants/${tenant}/integrations`, {
      token: editor,
      payload: httpIntegration({ id: 'custom', type: 'CUSTOM', configMetadata: customMetadata(), parameters: { baseUrl: 'https://x.example.com', signingSecret: 'sign-me-1234' } }),
    });
    expect(res.status).toBe(201);
    expect(res.json.parameters).toEqual({ baseUrl: 'https://x.example.com', signingSecret: REDACTED });
    expect(res.json.type).toBe('CUSTOM');
    expect(res.json.configMetadata.parametersMetadata.map((p: { name: string }) => p.name)).toEqual(['baseUrl', 'retries', 'ratio', 'verbose', 'region', 'filter', 'signingSecret']);
    expect(res.body).not.toContain('sign-me-1234');
  });

  it('reads one integration with GET: same view as the create reply, with its ETag header', async () => {
    const { tenant, editor, viewer } = await createTenant(app);
    const created = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'one' }) });
    const read = await api('GET', `/v1/tenants/${tenant}/integrations/one`, { token: viewer });
    expect(read.status).toBe(200);
    expect(read.json).toEqual(created.json);
    expect(read.headers.etag).toBe(`"${created.json.etag}"`);
  });

  it('answers 404 problem+json for an integration that does not exist', async () => {
    const { tenant, viewer } = await createTenant(app);
    const res = await api('GET', `/v1/tenants/${tenant}/integrations/nope`, { token: viewer });
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json).toMatchObject({ status: 404, instance: `/v1/tenants/${tenant}/integrations/nope` });
  });

  it('filters the list by connector, tag and enabled', async () => {
    const { tenant, editor, viewer } = await createTenant(app);
    const make = (id: string, extra: Record<string, unknown>) => api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id, ...extra }) });
    expect((await make('a', { tags: ['x', 'y'], enabled: true })).status).toBe(201);
    expect((await make('b', { tags: ['y'], enabled: false })).status).toBe(201);
    expect(
      (
        await make('c', {
          connector: 'github',
          parameters: {},
          authMethod: 'pat',
          credentials: { token: 'ghp_x' },
          tags: ['x'],
          enabled: true,
        })
      ).status,
    ).toBe(201);
    const ids = async (query: string) => {
      const res = await api('GET', `/v1/tenants/${tenant}/integrations${query}`, { token: viewer });
      expect(res.status).toBe(200);
      return res.json.integrations.map((i: { id: string }) => i.id);
    };
    expect(await ids('')).toEqual(['a', 'b', 'c']);
    expect(await ids('?connector=http')).toEqual(['a', 'b']);
    expect(await ids('?connector=github')).toEqual(['c']);
    expect(await ids('?tag=x')).toEqual(['a', 'c']);
    expect(await ids('?tag=y')).toEqual(['a', 'b']);
    expect(await ids('?enabled=false')).toEqual(['b']);
    expect(await ids('?enabled=true&tag=x&connector=http')).toEqual(['a']);
    expect(await ids('?tag=none')).toEqual([]);
  });

  it('lists a summary view without configMetadata, and view=FULL with it', async () => {
    const { tenant, editor, viewer } = await createTenant(app);
    await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'a', headers: { 'X-H': 'hv-1' } }) });
    const summary = await api('GET', `/v1/tenants/${tenant}/integrations`, { token: viewer });
    expect(summary.json.integrations).toHaveLength(1);
    expect(summary.json.integrations[0]).not.toHaveProperty('configMetadata');
    expect(summary.json.integrations[0]).toMatchObject({ id: 'a', credentials: { apiKey: REDACTED }, headers: { 'X-H': REDACTED } });
    const full = await api('GET', `/v1/tenants/${tenant}/integrations?view=FULL`, { token: viewer });
    expect(full.json.integrations[0].configMetadata).toEqual(JSON.parse(JSON.stringify(findConnector('http')!.configMetadata)));
    const bad = await api('GET', `/v1/tenants/${tenant}/integrations?view=EVERYTHING`, { token: viewer });
    expect(bad.status).toBe(400);
  });

  it('lists and GETs every item exactly as its create and PATCH replies show it: redacted secrets of every group, health and millisecond timestamps', async () => {
    const { tenant, editor } = await createTenant(app);
    const custom = customMetadata();
    const payloads = [
      httpIntegration({ id: 'plain', authMethod: undefined, credentials: undefined }),
      httpIntegration({ id: 'secrets', headers: { 'X-One': 'h1', 'X-Two': 'h2' } }),
      httpIntegration({ id: 'custom', type: 'CUSTOM', configMetadata: custom, parameters: { baseUrl: 'https://api.example.com', retries: 2, signingSecret: 'whsec-1' } }),
    ];
    // Create and PATCH replies are built from the stored row; GET and list from PostgreSQL's redacted projection.
    const written = new Map<unknown, unknown>();
    for (const payload of payloads) {
      const created = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload });
      expect(created.status).toBe(201);
      written.set(payload.id, created.json);
    }
    // A health with a checkedAt, written as the verification does (microseconds included).
    await app.get(DataSource).query(
      `UPDATE integrations SET health_status = 'unhealthy', health_checked_at = '2026-12-05 00:07:04.164999+00', health_latency_ms = 12, health_last_error = '{"code":"UPSTREAM_ERROR","message":"m"}' WHERE tenant_id = $1 AND id = 'secrets'`,
      [tenant],
    );
    const patched = await api('PATCH', `/v1/tenants/${tenant}/integrations/secrets`, { token: editor, payload: { description: 'patched' } });
    expect(patched.status).toBe(200);
    written.set('secrets', patched.json);
    const summary = await api('GET', `/v1/tenants/${tenant}/integrations`, { token: editor });
    const full = await api('GET', `/v1/tenants/${tenant}/integrations?view=FULL`, { token: editor });
    for (const { id } of payloads) {
      const one = (await api('GET', `/v1/tenants/${tenant}/integrations/${id}`, { token: editor })).json;
      expect(one).toEqual(written.get(id));
      const { configMetadata: _metadata, ...withoutMetadata } = one;
      expect(summary.json.integrations.find((i: { id: string }) => i.id === id)).toEqual(withoutMetadata);
      expect(full.json.integrations.find((i: { id: string }) => i.id === id)).toEqual(one);
    }
    expect(summary.json.integrations.find((i: { id: string }) => i.id === 'secrets').health.checkedAt).toBe('2026-12-05T00:07:04.164Z');
  });

  it('pages oldest first with pageSize 2 across 5 items and ends with nextPageToken null', async () => {
    const { tenant, editor, viewer } = await createTenant(app);
    for (const id of ['i1', 'i2', 'i3', 'i4', 'i5']) {
      expect((await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id }) })).status).toBe(201);
    }
    const pages: string[][] = [];
    let token: string | null = null;
    do {
      const query: string = `?pageSize=2${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`;
      const res = await api('GET', `/v1/tenants/${tenant}/integrations${query}`, { token: viewer });
      expect(res.status).toBe(200);
      pages.push(res.json.integrations.map((i: { id: string }) => i.id));
      token = res.json.nextPageToken;
    } while (token !== null && pages.length < 10);
    expect(pages).toEqual([['i1', 'i2'], ['i3', 'i4'], ['i5']]);
  });

  it('keeps a page sequence stable when items are inserted between pages', async () => {
    const { tenant, editor, viewer } = await createTenant(app);
    for (const id of ['i1', 'i2', 'i3']) await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id }) });
    const first = await api('GET', `/v1/tenants/${tenant}/integrations?pageSize=2`, { token: viewer });
    await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'a0' }) });
    const second = await api('GET', `/v1/tenants/${tenant}/integrations?pageSize=2&pageToken=${encodeURIComponent(first.json.nextPageToken)}`, { token: viewer });
    expect(second.json.integrations.map((i: { id: string }) => i.id)).toEqual(['i3', 'a0']);
  });

  it('refuses a pageToken used with other filters, another view, a forged one, or another tenant: 400', async () => {
    const { tenant, editor, viewer } = await createTenant(app);
    for (const id of ['i1', 'i2', 'i3']) await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id }) });
    const first = await api('GET', `/v1/tenants/${tenant}/integrations?pageSize=1&connector=http`, { token: viewer });
    const token = encodeURIComponent(first.json.nextPageToken);
    expect((await api('GET', `/v1/tenants/${tenant}/integrations?pageSize=1&connector=http&pageToken=${token}`, { token: viewer })).status).toBe(200);
    for (const query of [`?pageSize=1&pageToken=${token}`, `?pageSize=1&connector=github&pageToken=${token}`, `?pageSize=1&connector=http&tag=test&pageToken=${token}`, `?pageSize=1&connector=http&view=FULL&pageToken=${token}`, '?pageToken=abc.def']) {
      const res = await api('GET', `/v1/tenants/${tenant}/integrations${query}`, { token: viewer });
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(res.json.errors[0].field).toBe('pageToken');
    }
    const other = await createTenant(app);
    const foreign = await api('GET', `/v1/tenants/${other.tenant}/integrations?pageSize=1&connector=http&pageToken=${token}`, { token: other.viewer });
    expect(foreign.status).toBe(400);
  });

  it('refuses pageSize outside 1..200 with 400', async () => {
    const { tenant, viewer } = await createTenant(app);
    for (const size of ['0', '201', 'abc', '1.5']) {
      expect((await api('GET', `/v1/tenants/${tenant}/integrations?pageSize=${size}`, { token: viewer })).status).toBe(400);
    }
  });

  it('deletes with 204, then reads 404, deletes again 404, and the id can be used again', async () => {
    const { tenant, editor } = await createTenant(app);
    const created = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'gone', displayName: 'First' }) });
    const del = await api('DELETE', `/v1/tenants/${tenant}/integrations/gone`, { token: editor });
    expect(del.status).toBe(204);
    expect(del.body).toBe('');
    expect((await api('GET', `/v1/tenants/${tenant}/integrations/gone`, { token: editor })).status).toBe(404);
    expect((await api('DELETE', `/v1/tenants/${tenant}/integrations/gone`, { token: editor })).status).toBe(404);
    const again = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'gone', displayName: 'Second' }) });
    expect(again.status).toBe(201);
    expect(again.json.displayName).toBe('Second');
    expect(again.json.etag).not.toBe(created.json.etag);
  });

  it('honours If-Match on DELETE: mismatch 412 keeps the row, quoted match deletes, If-Match on a missing one is 404', async () => {
    const { tenant, editor } = await createTenant(app);
    const created = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'x' }) });
    expect((await api('DELETE', `/v1/tenants/${tenant}/integrations/x`, { token: editor, headers: { 'if-match': '"stale"' } })).status).toBe(412);
    expect((await api('GET', `/v1/tenants/${tenant}/integrations/x`, { token: editor })).status).toBe(200);
    expect((await api('DELETE', `/v1/tenants/${tenant}/integrations/x`, { token: editor, headers: { 'if-match': `"${created.json.etag}"` } })).status).toBe(204);
    expect((await api('DELETE', `/v1/tenants/${tenant}/integrations/x`, { token: editor, headers: { 'if-match': '*' } })).status).toBe(404);
  });

  it('lets two tenants each have an integration github, and keeps them apart', async () => {
    const one = await createTenant(app);
    const two = await createTenant(app);
    const body = { id: 'github', displayName: 'GH', connector: 'github', authMethod: 'pat', credentials: { token: 'ghp_a' } };
    expect((await api('POST', `/v1/tenants/${one.tenant}/integrations`, { token: one.editor, payload: { ...body, displayName: 'One' } })).status).toBe(201);
    expect((await api('POST', `/v1/tenants/${two.tenant}/integrations`, { token: two.editor, payload: { ...body, displayName: 'Two' } })).status).toBe(201);
    expect((await api('GET', `/v1/tenants/${one.tenant}/integrations/github`, { token: one.viewer })).json.displayName).toBe('One');
    expect((await api('GET', `/v1/tenants/${two.tenant}/integrations/github`, { token: two.viewer })).json.displayName).toBe('Two');
    expect((await api('DELETE', `/v1/tenants/${one.tenant}/integrations/github`, { token: one.editor })).status).toBe(204);
    expect((await api('GET', `/v1/tenants/${two.tenant}/integrations/github`, { token: two.viewer })).status).toBe(200);
  });

  it('answers 409 for a duplicate id in the same tenant', async () => {
    const { tenant, editor } = await createTenant(app);
    expect((await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'dup' }) })).status).toBe(201);
    const res = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'dup' }) });
    expect(res.status).toBe(409);
    expect(res.headers['content-type']).toContain('application/problem+json');
  });

  it('enforces roles: a viewer cannot create, patch or delete; another tenant\'s token gets 403', async () => {
    const { tenant, editor, viewer } = await createTenant(app);
    await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'r' }) });
    expect((await api('POST', `/v1/tenants/${tenant}/integrations`, { token: viewer, payload: httpIntegration() })).status).toBe(403);
    expect((await api('PATCH', `/v1/tenants/${tenant}/integrations/r`, { token: viewer, payload: { displayName: 'no' } })).status).toBe(403);
    expect((await api('DELETE', `/v1/tenants/${tenant}/integrations/r`, { token: viewer })).status).toBe(403);
    const other = await createTenant(app);
    expect((await api('GET', `/v1/tenants/${tenant}/integrations/r`, { token: other.admin })).status).toBe(403);
  });

  it('answers 404 for integrations of a tenant that does not exist', async () => {
    const root = (await import('../support/tokens')).mintToken({ roles: ['platform-admin'] });
    expect((await api('GET', '/v1/tenants/no-such-tenant/integrations', { token: root })).status).toBe(404);
    expect((await api('POST', '/v1/tenants/no-such-tenant/integrations', { token: root, payload: httpIntegration() })).status).toBe(404);
  });
});
