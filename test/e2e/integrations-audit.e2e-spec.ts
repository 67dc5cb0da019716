import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { apiClient, createTenant, httpIntegration, startFakeUpstream, type FakeUpstream } from '../support/integrations-fixtures';
import { startTestApp } from '../support/test-app';

// Many requests per test against a real database, and suites run in parallel.
jest.setTimeout(30_000);

interface AuditEvent {
  id: string;
  at: string;
  actor: string;
  action: string;
  resourceType: string;
  resourceId: string;
  outcome: string;
  requestId: string;
}

describe('integration audit events', () => {
  let app: NestFastifyApplication;
  let api: ReturnType<typeof apiClient>;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    ({ app } = await startTestApp());
    api = apiClient(app);
    upstream = await startFakeUpstream('audit-key-5a6b7c');
  });
  afterAll(async () => {
    await app.close();
    await upstream.close();
  });

  it('records created, updated, verified, tested and deleted with actor and requestId, none holding a secret', async () => {
    const t = await createTenant(app);
    const base = `/v1/tenants/${t.tenant}/integrations`;
    const secret = 'audit-key-5a6b7c';
    const rid = (name: string) => ({ 'x-request-id': `req-audit-${t.tenant}-${name}` });
    const body = httpIntegration({ id: 'aud', parameters: { baseUrl: upstream.url }, credentials: { apiKey: secret }, headers: { 'X-Extra': `${secret}-hdr` } });
    expect((await api('POST', base, { token: t.editor, payload: body, headers: rid('create') })).status).toBe(201);
    expect((await api('PATCH', `${base}/aud`, { token: t.editor, payload: { credentials: { apiKey: secret }, displayName: 'Renamed' }, headers: rid('update') })).status).toBe(200);
    expect((await api('POST', `${base}/aud:verifyConfig`, { token: t.editor, headers: rid('verify') })).json.status).toBe('healthy');
    expect((await api('POST', `${base}:testConfig`, { token: t.editor, payload: { ...body, id: 'trial', credentials: { apiKey: 'wrong-key-1234' } }, headers: rid('test') })).json.status).toBe('unhealthy');
    expect((await api('DELETE', `${base}/aud`, { token: t.editor, headers: rid('delete') })).status).toBe(204);

    const res = await api('GET', `/v1/tenants/${t.tenant}/audit-events`, { token: t.admin });
    expect(res.status).toBe(200);
    const events: AuditEvent[] = res.json.auditEvents.filter((e: AuditEvent) => e.resourceType === 'integration');
    // Newest first.
    expect(events.map((e) => [e.action, e.resourceId, e.outcome, e.actor, e.requestId])).toEqual([
      ['integration.deleted', 'aud', 'success', 'ed', rid('delete')['x-request-id']],
      ['integration.tested', 'trial', 'failure', 'ed', rid('test')['x-request-id']],
      ['integration.verified', 'aud', 'success', 'ed', rid('verify')['x-request-id']],
      ['integration.updated', 'aud', 'success', 'ed', rid('update')['x-request-id']],
      ['integration.created', 'aud', 'success', 'ed', rid('create')['x-request-id']],
    ]);
    for (const e of events) {
      expect(e.id).toMatch(/^evt_/);
      expect(new Date(e.at).toISOString()).toBe(e.at);
    }
    expect(res.body).not.toContain(secret);
    expect(res.body).not.toContain('wrong-key-1234');
    const rows = await app.get(DataSource).query(`SELECT row_to_json(a)::text AS row FROM audit_events a WHERE tenant_id = $1`, [t.tenant]);
    for (const { row } of rows) {
      expect(row).not.toContain(secret);
      expect(row).not.toContain('wrong-key-1234');
    }
  });

  it('records nothing for a refused write', async () => {
    const t = await createTenant(app);
    const base = `/v1/tenants/${t.tenant}/integrations`;
    await api('POST', base, { token: t.editor, payload: httpIntegration({ id: 'bad', connector: 'nope' }) });
    await api('POST', base, { token: t.editor, payload: httpIntegration({ id: 'x' }) });
    await api('PATCH', `${base}/x`, { token: t.editor, payload: { parameters: { baseUrl: 'https://elsewhere.example.com' } } });
    const res = await api('GET', `/v1/tenants/${t.tenant}/audit-events`, { token: t.admin });
    expect(res.json.auditEvents.filter((e: AuditEvent) => e.resourceType === 'integration').map((e: AuditEvent) => e.action)).toEqual(['integration.created']);
  });

  it('keeps the audit log admin-only: an editor gets 403', async () => {
    const t = await createTenant(app);
    expect((await api('GET', `/v1/tenants/${t.tenant}/audit-events`, { token: t.editor })).status).toBe(403);
  });
});
