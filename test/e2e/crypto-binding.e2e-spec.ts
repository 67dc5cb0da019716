import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { apiClient, createTenant, httpIntegration, startFakeUpstream, type FakeUpstream } from '../support/integrations-fixtures';
import { startTestApp } from '../support/test-app';

// Many requests per test against a real database, and suites run in parallel.
jest.setTimeout(30_000);

/**
 * Every secret is sealed with AAD naming its tenant, resource type, resource id
 * and field. Someone with write access to the database who copies ciphertext
 * from one row to another must get nothing: no decryption, no outbound call,
 * and a clear problem instead of a 500.
 */
describe('crypto binding of stored secrets to their row', () => {
  let app: NestFastifyApplication;
  let api: ReturnType<typeof apiClient>;
  let db: DataSource;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    ({ app } = await startTestApp({ VERIFY_MAX_PER_MINUTE_PER_TENANT: '1000' }));
    api = apiClient(app);
    db = app.get(DataSource);
    upstream = await startFakeUpstream('secret-of-a');
  });
  afterAll(async () => {
    await app.close();
    await upstream.close();
  });
  beforeEach(() => {
    upstream.seen.length = 0;
    upstream.acceptedKey = 'secret-of-a';
  });

  async function pair(tenantA: { tenant: string; editor: string }, tenantB: { tenant: string; editor: string }) {
    const a = await api('POST', `/v1/tenants/${tenantA.tenant}/integrations`, {
      token: tenantA.editor,
      payload: httpIntegration({ id: 'a', parameters: { baseUrl: upstream.url }, credentials: { apiKey: 'secret-of-a' }, headers: { 'X-Extra': 'header-of-a' } }),
    });
    const b = await api('POST', `/v1/tenants/${tenantB.tenant}/integrations`, {
      token: tenantB.editor,
      payload: httpIntegration({ id: 'b', parameters: { baseUrl: upstream.url }, credentials: { apiKey: 'secret-of-b' }, headers: { 'X-Extra': 'header-of-b' } }),
    });
    expect([a.status, b.status]).toEqual([201, 201]);
    // Both work before anyone tampers with them.
    expect((await api('POST', `/v1/tenants/${tenantA.tenant}/integrations/a:verifyConfig`, { token: tenantA.editor })).json.status).toBe('healthy');
    upstream.seen.length = 0;
  }

  async function copySecrets(from: { tenant: string; id: string }, to: { tenant: string; id: string }) {
    const [, count] = await db.query(
      `UPDATE integrations SET secrets = (SELECT secrets FROM integrations WHERE tenant_id = $1 AND id = $2) WHERE tenant_id = $3 AND id = $4`,
      [from.tenant, from.id, to.tenant, to.id],
    );
    expect(count).toBe(1);
  }

  function expectSecretUnavailable(res: { status: number; headers: Record<string, unknown>; body: string; json: Record<string, unknown> }) {
    expect(res.status).toBe(422);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json.type).toBe('https://switchboard.dev/problems/secret-unavailable');
    expect(res.json.detail).toBe('stored credentials cannot be decrypted; send them again');
    expect(typeof res.json.requestId).toBe('string');
    expect(res.body).not.toMatch(/secret-of-|header-of-|stack|at [A-Za-z]+\.|sb1\./);
  }

  it('refuses a secret copied from another integration of the same tenant: 422 secret-unavailable, nothing sent', async () => {
    const t = await createTenant(app);
    await pair(t, t);
    await copySecrets({ tenant: t.tenant, id: 'a' }, { tenant: t.tenant, id: 'b' });
    const res = await api('POST', `/v1/tenants/${t.tenant}/integrations/b:verifyConfig`, { token: t.editor });
    expectSecretUnavailable(res);
    expect(upstream.seen).toHaveLength(0);
  });

  it('refuses a secret copied into another tenant\'s integration: 422 secret-unavailable, nothing sent', async () => {
    const ta = await createTenant(app);
    const tb = await createTenant(app);
    await pair(ta, tb);
    await copySecrets({ tenant: ta.tenant, id: 'a' }, { tenant: tb.tenant, id: 'b' });
    const res = await api('POST', `/v1/tenants/${tb.tenant}/integrations/b:verifyConfig`, { token: tb.editor });
    expectSecretUnavailable(res);
    expect(upstream.seen).toHaveLength(0);
  });

  it('refuses a blob moved to another field of the same row (header into credential)', async () => {
    const t = await createTenant(app);
    await pair(t, t);
    await db.query(
      `UPDATE integrations SET secrets = jsonb_set(secrets, '{credentials,apiKey}', secrets->'headers'->'X-Extra') WHERE tenant_id = $1 AND id = 'a'`,
      [t.tenant],
    );
    expectSecretUnavailable(await api('POST', `/v1/tenants/${t.tenant}/integrations/a:verifyConfig`, { token: t.editor }));
    expect(upstream.seen).toHaveLength(0);
  });

  it('refuses a tampered ciphertext (one character flipped)', async () => {
    const t = await createTenant(app);
    await pair(t, t);
    const [{ blob }] = await db.query(`SELECT secrets->'credentials'->>'apiKey' AS blob FROM integrations WHERE tenant_id = $1 AND id = 'a'`, [t.tenant]);
    const last = blob.slice(-1);
    const flipped = blob.slice(0, -1) + (last === 'A' ? 'B' : 'A');
    await db.query(`UPDATE integrations SET secrets = jsonb_set(secrets, '{credentials,apiKey}', to_jsonb($2::text)) WHERE tenant_id = $1 AND id = 'a'`, [t.tenant, flipped]);
    expectSecretUnavailable(await api('POST', `/v1/tenants/${t.tenant}/integrations/a:verifyConfig`, { token: t.editor }));
    expect(upstream.seen).toHaveLength(0);
  });

  it('records the refused verification in the audit log without any secret, and leaves health alone', async () => {
    const t = await createTenant(app);
    await pair(t, t);
    const before = (await api('GET', `/v1/tenants/${t.tenant}/integrations/b`, { token: t.editor })).json.health;
    await copySecrets({ tenant: t.tenant, id: 'a' }, { tenant: t.tenant, id: 'b' });
    const res = await api('POST', `/v1/tenants/${t.tenant}/integrations/b:verifyConfig`, { token: t.editor });
    expectSecretUnavailable(res);
    const audit = await api('GET', `/v1/tenants/${t.tenant}/audit-events`, { token: t.admin });
    const event = audit.json.auditEvents.find((e: { action: string; resourceId: string; requestId: string }) => e.action === 'integration.verified' && e.resourceId === 'b' && e.requestId === res.json.requestId);
    expect(event).toMatchObject({ outcome: 'failure', actor: 'ed' });
    expect(JSON.stringify(audit.json)).not.toMatch(/secret-of-|header-of-/);
    expect((await api('GET', `/v1/tenants/${t.tenant}/integrations/b`, { token: t.editor })).json.health).toEqual(before);
  });

  it('recovers when the credentials are sent again: the copied blobs are replaced and verify works', async () => {
    const t = await createTenant(app);
    await pair(t, t);
    await copySecrets({ tenant: t.tenant, id: 'a' }, { tenant: t.tenant, id: 'b' });
    upstream.acceptedKey = 'secret-of-b';
    const patched = await api('PATCH', `/v1/tenants/${t.tenant}/integrations/b`, { token: t.editor, payload: { credentials: { apiKey: 'secret-of-b' }, headers: { 'X-Extra': 'header-of-b' } } });
    expect(patched.status).toBe(200);
    const res = await api('POST', `/v1/tenants/${t.tenant}/integrations/b:verifyConfig`, { token: t.editor });
    expect(res.json.status).toBe('healthy');
    expect(upstream.seen.map((r) => [r.headers['x-api-key'], r.headers['x-extra']])).toEqual([['secret-of-b', 'header-of-b']]);
  });

  it('stores every secret leaf as a distinct sb1 blob: same plaintext twice gives different ciphertexts (fresh IV)', async () => {
    const t = await createTenant(app);
    for (const id of ['x1', 'x2']) {
      await api('POST', `/v1/tenants/${t.tenant}/integrations`, { token: t.editor, payload: httpIntegration({ id, credentials: { apiKey: 'same-plaintext' } }) });
    }
    const rows: { blob: string }[] = await db.query(`SELECT secrets->'credentials'->>'apiKey' AS blob FROM integrations WHERE tenant_id = $1 ORDER BY id`, [t.tenant]);
    expect(rows).toHaveLength(2);
    for (const { blob } of rows) expect(blob).toMatch(/^sb1\.dk_[0-9a-f]{16}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    const ivs = rows.map((r) => r.blob.split('.')[2]);
    expect(ivs[0]).not.toBe(ivs[1]);
    expect(Buffer.from(ivs[0], 'base64url')).toHaveLength(12);
  });
});
