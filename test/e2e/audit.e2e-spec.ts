import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { startTestApp, uniqueId } from '../support/test-app';
import { bearer, mintToken } from '../support/tokens';

interface AuditEvent {
  id: string;
  at: string;
  actor: string;
  action: string;
  resourceType: string;
  resourceId: string;
  outcome: string;
  requestId: string | null;
}

describe('audit log', () => {
  let app: NestFastifyApplication;
  const tenant = uniqueId('audit');
  const other = uniqueId('audit-other');
  const root = bearer(mintToken({ sub: 'root-operator', roles: ['platform-admin'] }));
  const tenantAdmin = bearer(mintToken({ sub: 'tenant-admin', tenant, roles: ['admin'] }));
  const requestIds: Record<string, string> = {};
  const list = (headers: Record<string, string>, query = '', id = tenant) =>
    app.inject({ method: 'GET', url: `/v1/tenants/${id}/audit-events${query}`, headers });

  beforeAll(async () => {
    ({ app } = await startTestApp());
    const created = await app.inject({
      method: 'POST',
      url: '/v1/tenants',
      headers: { ...root, 'x-request-id': `create-${tenant}` },
      payload: { id: tenant, displayName: 'Audited' },
    });
    expect(created.statusCode).toBe(201);
    requestIds.created = created.headers['x-request-id'] as string;
    const updated = await app.inject({ method: 'PATCH', url: `/v1/tenants/${tenant}`, headers: root, payload: { description: 'second' } });
    expect(updated.statusCode).toBe(200);
    requestIds.updated = updated.headers['x-request-id'] as string;
    expect((await app.inject({ method: 'POST', url: '/v1/tenants', headers: root, payload: { id: other, displayName: 'Other' } })).statusCode).toBe(201);
  });
  afterAll(async () => {
    await app.close();
  });

  it('shows tenant.created and tenant.updated to the tenant admin, newest first, with actor and request id', async () => {
    const res = await list(tenantAdmin);
    expect(res.statusCode).toBe(200);
    const body = res.json() as { auditEvents: AuditEvent[]; nextPageToken: string | null };
    expect(body.nextPageToken).toBeNull();
    expect(body.auditEvents.map((e) => e.action)).toEqual(['tenant.updated', 'tenant.created']);
    const [updated, created] = body.auditEvents;
    expect(created).toMatchObject({
      id: expect.stringMatching(/^evt_/),
      actor: 'root-operator',
      action: 'tenant.created',
      resourceType: 'tenant',
      resourceId: tenant,
      outcome: 'success',
      requestId: `create-${tenant}`,
    });
    expect(updated).toMatchObject({ actor: 'root-operator', resourceId: tenant, outcome: 'success', requestId: requestIds.updated });
    expect(Date.parse(updated.at)).toBeGreaterThanOrEqual(Date.parse(created.at));
    expect(created.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('keeps each tenant log to its own tenant', async () => {
    const res = await list(root, '', other);
    expect(res.statusCode).toBe(200);
    const events = res.json().auditEvents as AuditEvent[];
    expect(events.map((e) => e.action)).toEqual(['tenant.created']);
    expect(events.every((e) => e.resourceId === other)).toBe(true);
  });

  it('pages newest first with pageSize 1', async () => {
    const first = await list(tenantAdmin, '?pageSize=1');
    expect(first.statusCode).toBe(200);
    expect(first.json().auditEvents.map((e: AuditEvent) => e.action)).toEqual(['tenant.updated']);
    const token = first.json().nextPageToken as string;
    expect(typeof token).toBe('string');
    const second = await list(tenantAdmin, `?pageSize=1&pageToken=${encodeURIComponent(token)}`);
    expect(second.json().auditEvents.map((e: AuditEvent) => e.action)).toEqual(['tenant.created']);
    expect(second.json().nextPageToken).toBeNull();
  });

  it("refuses a page token from another tenant's log", async () => {
    await app.inject({ method: 'PATCH', url: `/v1/tenants/${other}`, headers: root, payload: { description: 'x' } });
    const token = (await list(root, '?pageSize=1', other)).json().nextPageToken as string;
    expect(typeof token).toBe('string');
    expect((await list(tenantAdmin, `?pageToken=${encodeURIComponent(token)}`)).statusCode).toBe(400);
  });

  it('lets a platform-admin read any tenant log', async () => {
    const res = await list(root);
    expect(res.statusCode).toBe(200);
    expect(res.json().auditEvents).toHaveLength(2);
  });

  it.each(['viewer', 'editor'])('refuses the log to a tenant %s (403)', async (role) => {
    const res = await list(bearer(mintToken({ tenant, roles: [role] })));
    expect(res.statusCode).toBe(403);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).not.toContain('tenant.created');
  });

  it("refuses another tenant's admin (403)", async () => {
    expect((await list(bearer(mintToken({ tenant: other, roles: ['admin'] })))).statusCode).toBe(403);
  });

  it('answers 404 for the log of a tenant that does not exist', async () => {
    const ghost = uniqueId('ghost');
    expect((await list(bearer(mintToken({ tenant: ghost, roles: ['admin'] })), '', ghost)).statusCode).toBe(404);
  });

  it('records nothing for a refused or failed write', async () => {
    await app.inject({ method: 'PATCH', url: `/v1/tenants/${tenant}`, headers: { ...root, 'if-match': '"stale"' }, payload: { description: 'nope' } });
    await app.inject({ method: 'PATCH', url: `/v1/tenants/${tenant}`, headers: root, payload: { displayName: '' } });
    await app.inject({ method: 'POST', url: '/v1/tenants', headers: root, payload: { id: tenant, displayName: 'dup' } });
    const events = (await list(tenantAdmin)).json().auditEvents as AuditEvent[];
    expect(events.map((e) => e.action)).toEqual(['tenant.updated', 'tenant.created']);
  });
});
