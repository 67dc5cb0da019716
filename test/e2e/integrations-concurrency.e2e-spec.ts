import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { IntegrationsRepository } from '../../src/integrations/integrations.repository';
import { apiClient, createTenant, customMetadata, httpIntegration } from '../support/integrations-fixtures';
import { startTestApp } from '../support/test-app';

// Many requests per test against a real database, and suites run in parallel.
jest.setTimeout(30_000);

describe('integrations under concurrency, with If-Match and Idempotency-Key', () => {
  let app: NestFastifyApplication;
  let api: ReturnType<typeof apiClient>;
  let db: DataSource;

  beforeAll(async () => {
    ({ app } = await startTestApp());
    api = apiClient(app);
    db = app.get(DataSource);
  });
  afterAll(async () => {
    await app.close();
  });

  it('20 concurrent creates of one id in a fresh tenant: exactly one 201, nineteen 409, no 5xx, one row', async () => {
    const { tenant, editor } = await createTenant(app);
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'race', displayName: `Racer ${i}` }) })),
    );
    const statuses = replies.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    expect(statuses.filter((s) => s >= 500)).toHaveLength(0);
    for (const r of replies.filter((x) => x.status === 409)) expect(r.headers['content-type']).toContain('application/problem+json');
    const [{ count }] = await db.query(`SELECT count(*)::int AS count FROM integrations WHERE tenant_id = $1`, [tenant]);
    expect(count).toBe(1);
    // The winner's row is whole: its secret opens and the tenant has exactly one active data key.
    const [{ keys }] = await db.query(`SELECT count(*)::int AS keys FROM tenant_data_keys WHERE tenant_id = $1 AND retired_at IS NULL`, [tenant]);
    expect(keys).toBe(1);
  });

  it('two PATCHes with the same If-Match: one 200, one 412, and the winner\'s change stays', async () => {
    const { tenant, editor } = await createTenant(app);
    const created = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'x' }) });
    const url = `/v1/tenants/${tenant}/integrations/x`;
    const replies = await Promise.all(
      ['First', 'Second'].map((displayName) => api('PATCH', url, { token: editor, payload: { displayName }, headers: { 'if-match': `"${created.json.etag}"` } })),
    );
    expect(replies.map((r) => r.status).sort()).toEqual([200, 412]);
    const winner = replies.find((r) => r.status === 200)!;
    const read = await api('GET', url, { token: editor });
    expect(read.json.displayName).toBe(winner.json.displayName);
    expect(read.json.etag).toBe(winner.json.etag);
  });

  it('10 concurrent PATCHes without If-Match all succeed, each with its own etag', async () => {
    const { tenant, editor } = await createTenant(app);
    await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'x' }) });
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => api('PATCH', `/v1/tenants/${tenant}/integrations/x`, { token: editor, payload: { tags: [`t${i}`] } })));
    expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(new Set(replies.map((r) => r.json.etag)).size).toBe(10);
  });

  describe('a PATCH is written optimistically first, and planned again under the row lock when the row changed in between', () => {
    /** Makes the next optimistic write find the row changed by `intrude` after the PATCH read it. */
    function raceNextWrite(intrude: () => Promise<unknown>) {
      const repository = app.get(IntegrationsRepository);
      const original = repository.updateIfUnchanged.bind(repository);
      const spy = jest.spyOn(repository, 'updateIfUnchanged').mockImplementationOnce(async (...args) => {
        await intrude();
        return original(...args);
      });
      return spy;
    }
    const updatedEvents = async (tenant: string) =>
      (await db.query(`SELECT count(*)::int AS n FROM audit_events WHERE tenant_id = $1 AND action = 'integration.updated'`, [tenant]))[0].n as number;

    afterEach(() => jest.restoreAllMocks());

    it('keeps both changes when another write lands between its read and its write (no lost update, one audit event each)', async () => {
      const { tenant, editor } = await createTenant(app);
      await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'x' }) });
      const url = `/v1/tenants/${tenant}/integrations/x`;
      const spy = raceNextWrite(() => api('PATCH', url, { token: editor, payload: { description: 'from the intruder' } }));
      const res = await api('PATCH', url, { token: editor, payload: { displayName: 'From the racer' } });
      expect(res.status).toBe(200);
      await expect(spy.mock.results[0].value).resolves.toBeNull();
      const read = await api('GET', url, { token: editor });
      expect({ displayName: read.json.displayName, description: read.json.description, etag: read.json.etag }).toEqual({ displayName: 'From the racer', description: 'from the intruder', etag: res.json.etag });
      expect(await updatedEvents(tenant)).toBe(2);
    });

    it('answers 412 when the If-Match it was sent with went stale between its read and its write, and writes nothing', async () => {
      const { tenant, editor } = await createTenant(app);
      const created = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'x' }) });
      const url = `/v1/tenants/${tenant}/integrations/x`;
      raceNextWrite(() => api('PATCH', url, { token: editor, payload: { description: 'from the intruder' } }));
      const res = await api('PATCH', url, { token: editor, payload: { displayName: 'From the racer' }, headers: { 'if-match': `"${created.json.etag}"` } });
      expect(res.status).toBe(412);
      const read = await api('GET', url, { token: editor });
      expect({ displayName: read.json.displayName, description: read.json.description }).toEqual({ displayName: created.json.displayName, description: 'from the intruder' });
      expect(await updatedEvents(tenant)).toBe(1);
    });

    it('does not write back secret blobs that were re-encrypted in between (same etag, as key rotation does)', async () => {
      const { tenant, editor } = await createTenant(app);
      await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'x', headers: { 'X-Kept': 'kept-value' } }) });
      const [before] = await db.query(`SELECT etag, secrets FROM integrations WHERE tenant_id = $1 AND id = 'x'`, [tenant]);
      // Stands in for keys:rotate, which rewrites only the secrets column under the row lock and keeps the etag.
      const rotated = { ...before.secrets, headers: { 'X-Kept': 'stand-in-for-a-re-encrypted-blob' } };
      const spy = raceNextWrite(() => db.query(`UPDATE integrations SET secrets = $3::jsonb WHERE tenant_id = $1 AND id = $2`, [tenant, 'x', rotated]));
      const res = await api('PATCH', `/v1/tenants/${tenant}/integrations/x`, { token: editor, payload: { displayName: 'After rotation' } });
      expect(res.status).toBe(200);
      await expect(spy.mock.results[0].value).resolves.toBeNull();
      expect(spy).toHaveBeenCalledTimes(2);
      const [after] = await db.query(`SELECT etag, secrets FROM integrations WHERE tenant_id = $1 AND id = 'x'`, [tenant]);
      expect(after.etag).not.toBe(before.etag);
      // Planned again on the rotated row: the kept blob is the rotated one, not the snapshot's.
      expect(after.secrets.headers).toEqual({ 'X-Kept': 'stand-in-for-a-re-encrypted-blob' });
      expect(res.json.headers).toEqual({ 'X-Kept': '***REDACTED***' });
    });
  });

  it('30 concurrent PATCHes that each send new credentials (more than the connection pool) all succeed, none 5xx', async () => {
    const { tenant, editor } = await createTenant(app);
    const ids = Array.from({ length: 30 }, (_, i) => `p${i}`);
    for (const id of ids) expect((await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id }) })).status).toBe(201);
    const started = Date.now();
    const replies = await Promise.all([
      ...ids.map((id) => api('PATCH', `/v1/tenants/${tenant}/integrations/${id}`, { token: editor, payload: { credentials: { apiKey: `new-${id}` } } })),
      ...ids.slice(0, 10).map(() => api('PATCH', `/v1/tenants/${tenant}/integrations/p0`, { token: editor, payload: { credentials: { apiKey: 'same-row' }, headers: { 'X-A': 'h' } } })),
    ]);
    expect(replies.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    // Well under the pool's 3 s acquisition timeout: nobody waited for a connection held by a waiter.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  describe('Idempotency-Key', () => {
    it('replays the first response for the same key and body, and stores one row', async () => {
      const { tenant, editor } = await createTenant(app);
      const body = httpIntegration({ id: 'idem', credentials: { apiKey: 'idem-secret-9f8e7d' } });
      const headers = { 'idempotency-key': 'create-idem-1' };
      const first = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: body, headers });
      const second = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: body, headers });
      expect(first.status).toBe(201);
      expect(second.status).toBe(201);
      expect(second.json).toEqual(first.json);
      expect(second.headers.etag).toBe(first.headers.etag);
      expect(second.headers['idempotency-replayed']).toBe('true');
      const [{ count }] = await db.query(`SELECT count(*)::int AS count FROM integrations WHERE tenant_id = $1`, [tenant]);
      expect(count).toBe(1);
    });

    it('answers 422 for the same key with a different body, and creates nothing more', async () => {
      const { tenant, editor } = await createTenant(app);
      const headers = { 'idempotency-key': 'create-idem-2' };
      expect((await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'a' }), headers })).status).toBe(201);
      const other = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'b' }), headers });
      expect(other.status).toBe(422);
      expect(other.headers['content-type']).toContain('application/problem+json');
      // Only the credential differs: still another body.
      const secretOnly = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'a', credentials: { apiKey: 'different' } }), headers });
      expect(secretOnly.status).toBe(422);
      expect((await api('GET', `/v1/tenants/${tenant}/integrations/b`, { token: editor })).status).toBe(404);
    });

    it('keeps keys per caller: another user with the same key creates independently', async () => {
      const { tenant, editor } = await createTenant(app);
      const { mintToken } = await import('../support/tokens');
      const bob = mintToken({ tenant, roles: ['editor'], sub: 'bob' });
      const headers = { 'idempotency-key': 'shared-key' };
      expect((await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'mine' }), headers })).status).toBe(201);
      const res = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: bob, payload: httpIntegration({ id: 'bobs' }), headers });
      expect(res.status).toBe(201);
      expect(res.headers['idempotency-replayed']).toBeUndefined();
    });

    it('concurrent requests with one key create one row and never answer 5xx', async () => {
      const { tenant, editor } = await createTenant(app);
      const body = httpIntegration({ id: 'burst' });
      const replies = await Promise.all(
        Array.from({ length: 8 }, () => api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: body, headers: { 'idempotency-key': 'burst-key' } })),
      );
      for (const r of replies) expect([201, 409]).toContain(r.status);
      expect(replies.filter((r) => r.status === 201).length).toBeGreaterThanOrEqual(1);
      const [{ count }] = await db.query(`SELECT count(*)::int AS count FROM integrations WHERE tenant_id = $1`, [tenant]);
      expect(count).toBe(1);
    });

    it('never stores the credential, a header value or a secret parameter in idempotency_keys', async () => {
      const { tenant, editor } = await createTenant(app);
      const secret = `idem-canary-${Date.now()}-a1b2c3`;
      const headers = { 'idempotency-key': 'canary-key' };
      const res = await api('POST', `/v1/tenants/${tenant}/integrations`, {
        token: editor,
        payload: httpIntegration({
          id: 'canary',
          type: 'CUSTOM',
          configMetadata: customMetadata(),
          parameters: { baseUrl: 'https://a.example.com', signingSecret: `${secret}-param` },
          credentials: { apiKey: secret },
          headers: { 'X-Extra': `${secret}-hdr` },
        }),
        headers,
      });
      expect(res.status).toBe(201);
      const rows = await db.query(`SELECT row_to_json(k)::text AS row FROM idempotency_keys k WHERE scope = $1`, [tenant]);
      expect(rows).toHaveLength(1);
      const text: string = rows[0].row;
      expect(text).toContain('***REDACTED***');
      for (const form of [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex')]) expect(text).not.toContain(form);
      // The failed attempt (422) leaves nothing with the secret either.
      await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'other', credentials: { apiKey: `${secret}-2` } }), headers });
      const all = await db.query(`SELECT row_to_json(k)::text AS row FROM idempotency_keys k`);
      for (const r of all) expect(r.row).not.toContain(secret);
    });
  });
});
