import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { apiClient, createTenant, httpIntegration } from '../support/integrations-fixtures';
import { startTestApp, uniqueId } from '../support/test-app';
import { mintToken } from '../support/tokens';

jest.setTimeout(30_000);

/**
 * A create with an Idempotency-Key completes its key in the transaction that creates the
 * resource. Proof without a crash: the key row's current version and the resource row were
 * written by the same transaction (same xmin). So a crash can never leave a committed resource
 * with its key still "in flight", where a retry got 409 (or, for server-chosen ids, a duplicate)
 * instead of the replay.
 */
describe('Idempotency-Key completes in the creating transaction', () => {
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

  /** The key row's state and whether its current version comes from the transaction that wrote `table`'s row. */
  async function keyAndRow(scope: string, key: string, table: string, where: string, params: unknown[]): Promise<{ state: string; sameTransaction: boolean; body: unknown }> {
    const rows: { state: string; key_xmin: string; row_xmin: string; response_body: unknown }[] = await db.query(
      `SELECT k.state, k.xmin::text AS key_xmin, r.xmin::text AS row_xmin, k.response_body
         FROM idempotency_keys k, ${table} r WHERE k.scope = $1 AND k.key = $2 AND ${where}`,
      [scope, key, ...params],
    );
    expect(rows).toHaveLength(1);
    return { state: rows[0].state, sameTransaction: rows[0].key_xmin === rows[0].row_xmin, body: rows[0].response_body };
  }

  it('integration create: the key is done, written by the transaction that inserted the row, with the reply as its body', async () => {
    const { tenant, editor } = await createTenant(app);
    const key = uniqueId('key');
    const res = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'atomic' }), headers: { 'idempotency-key': key } });
    expect(res.status).toBe(201);
    const stored = await keyAndRow(tenant, key, 'integrations', 'r.tenant_id = $3 AND r.id = $4', [tenant, 'atomic']);
    expect(stored).toEqual({ state: 'done', sameTransaction: true, body: res.json });
  });

  it('integration create without a key still answers the same reply (one statement, no transaction)', async () => {
    const { tenant, editor } = await createTenant(app);
    const res = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'plain' }) });
    expect(res.status).toBe(201);
    expect((await api('GET', `/v1/tenants/${tenant}/integrations/plain`, { token: editor })).json).toEqual(res.json);
    const [{ count }] = await db.query(`SELECT count(*)::int AS count FROM idempotency_keys WHERE scope = $1`, [tenant]);
    expect(count).toBe(0);
  });

  it('connection create (server-chosen id): the key is done in the transaction that inserted the connection', async () => {
    const { tenant, editor } = await createTenant(app);
    expect((await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'host' }) })).status).toBe(201);
    const key = uniqueId('key');
    const res = await api('POST', `/v1/tenants/${tenant}/integrations/host/connections`, {
      token: editor,
      payload: { name: 'Mine', authMethod: 'API_KEY', credentials: { apiKey: 'conn-key-0c9a' } },
      headers: { 'idempotency-key': key },
    });
    expect(res.status).toBe(201);
    const stored = await keyAndRow(tenant, key, 'connections', 'r.tenant_id = $3 AND r.id = $4', [tenant, res.json.id]);
    expect(stored).toEqual({ state: 'done', sameTransaction: true, body: res.json });
    expect(JSON.stringify(stored.body)).not.toContain('conn-key-0c9a');
  });

  it('webhook endpoint create: the key is done in the same transaction, and its body holds the secret redacted', async () => {
    const { tenant, admin } = await createTenant(app);
    const key = uniqueId('key');
    const res = await api('POST', `/v1/tenants/${tenant}/webhook-endpoints`, { token: admin, payload: { url: 'https://example.com/hook', events: ['*'] }, headers: { 'idempotency-key': key } });
    expect(res.status).toBe(201);
    expect(res.json.secret).toMatch(/^whsec_/);
    const stored = await keyAndRow(tenant, key, 'webhook_endpoints', 'r.tenant_id = $3 AND r.id = $4', [tenant, res.json.id]);
    expect(stored).toEqual({ state: 'done', sameTransaction: true, body: { ...res.json, secret: '***REDACTED***' } });
  });

  it('tenant create: the key is done in the transaction that inserted the tenant', async () => {
    const key = uniqueId('key');
    const id = uniqueId('idem-tenant');
    const res = await api('POST', '/v1/tenants', { token: mintToken({ roles: ['platform-admin'], sub: 'root' }), payload: { id, displayName: 'Atomic' }, headers: { 'idempotency-key': key } });
    expect(res.status).toBe(201);
    const stored = await keyAndRow('_platform', key, 'tenants', 'r.id = $3', [id]);
    expect(stored).toEqual({ state: 'done', sameTransaction: true, body: res.json });
  });

  it('a create that fails inside its transaction leaves neither the resource nor the key, and the key can be used again', async () => {
    const { tenant, editor } = await createTenant(app);
    expect((await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'taken' }) })).status).toBe(201);
    const key = uniqueId('key');
    const clash = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'taken', displayName: 'Again' }), headers: { 'idempotency-key': key } });
    expect(clash.status).toBe(409);
    const [{ count }] = await db.query(`SELECT count(*)::int AS count FROM idempotency_keys WHERE scope = $1 AND key = $2`, [tenant, key]);
    expect(count).toBe(0);
    const retry = await api('POST', `/v1/tenants/${tenant}/integrations`, { token: editor, payload: httpIntegration({ id: 'taken', displayName: 'Again' }), headers: { 'idempotency-key': key } });
    expect(retry.status).toBe(409);
    expect(retry.headers['idempotency-replayed']).toBeUndefined();
  });
});
