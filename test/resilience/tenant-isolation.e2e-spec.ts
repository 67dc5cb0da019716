import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { startTestApp, uniqueId } from '../support/test-app';
import { mintToken } from '../support/tokens';
import { startUpstream, type Upstream } from './support';

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
type Role = 'viewer' | 'editor' | 'admin';

interface Ids {
  tenant: string;
  integration: string;
  connection: string;
  personalConnection: string;
  endpoint: string;
  delivery: string;
  pageToken: string;
}

interface Probe {
  name: string;
  method: Method;
  url: string;
  body?: Record<string, unknown>;
  /** Who proves the request works for the owner: A's admin, a platform-admin, or nobody (no meaningful success case). */
  control: 'admin' | 'root' | null;
  /** Carries an id of the other tenant in the path or query (attack 2 applies). */
  foreignIds: boolean;
}

/** Every tenant-scoped route, in an order whose destructive steps come last (children before parents). */
function probes(ids: Ids, upstreamUrl: string): Probe[] {
  const t = `/v1/tenants/${ids.tenant}`;
  const newIntegration = { id: 'made-by-probe', displayName: 'Probe', connector: 'http', parameters: { baseUrl: upstreamUrl }, authMethod: 'API_KEY', credentials: { apiKey: 'probe-key' } };
  return [
    { name: 'read tenant', method: 'GET', url: t, control: 'admin', foreignIds: false },
    { name: 'list integrations', method: 'GET', url: `${t}/integrations`, control: 'admin', foreignIds: false },
    { name: 'list integrations FULL', method: 'GET', url: `${t}/integrations?view=FULL&pageSize=200`, control: 'admin', foreignIds: false },
    { name: 'list integrations with a page token', method: 'GET', url: `${t}/integrations?pageSize=1&pageToken=${ids.pageToken}`, control: 'admin', foreignIds: true },
    { name: 'read integration', method: 'GET', url: `${t}/integrations/${ids.integration}`, control: 'admin', foreignIds: true },
    { name: 'create integration', method: 'POST', url: `${t}/integrations`, body: newIntegration, control: 'admin', foreignIds: false },
    { name: ':testConfig', method: 'POST', url: `${t}/integrations:testConfig`, body: { ...newIntegration, id: 'tested' }, control: 'admin', foreignIds: false },
    { name: ':verifyConfig', method: 'POST', url: `${t}/integrations/${ids.integration}:verifyConfig`, control: 'admin', foreignIds: true },
    { name: 'list connections', method: 'GET', url: `${t}/connections`, control: 'admin', foreignIds: false },
    { name: 'list connections of an integration', method: 'GET', url: `${t}/connections?integration=${ids.integration}`, control: 'admin', foreignIds: true },
    { name: 'read organizational connection', method: 'GET', url: `${t}/connections/${ids.connection}`, control: 'admin', foreignIds: true },
    { name: 'read personal connection', method: 'GET', url: `${t}/connections/${ids.personalConnection}`, control: 'admin', foreignIds: true },
    { name: 'create connection', method: 'POST', url: `${t}/integrations/${ids.integration}/connections`, body: { name: 'Probe', accessScope: 'organizational', authMethod: 'API_KEY', credentials: { apiKey: 'k' } }, control: 'admin', foreignIds: true },
    { name: 'connection :verify', method: 'POST', url: `${t}/connections/${ids.connection}:verify`, control: 'admin', foreignIds: true },
    { name: 'connection :authorize', method: 'POST', url: `${t}/connections/${ids.connection}:authorize`, control: null, foreignIds: true },
    { name: 'audit events', method: 'GET', url: `${t}/audit-events`, control: 'admin', foreignIds: false },
    { name: 'list webhook endpoints', method: 'GET', url: `${t}/webhook-endpoints`, control: 'admin', foreignIds: false },
    { name: 'read webhook endpoint', method: 'GET', url: `${t}/webhook-endpoints/${ids.endpoint}`, control: 'admin', foreignIds: true },
    { name: 'create webhook endpoint', method: 'POST', url: `${t}/webhook-endpoints`, body: { url: `${upstreamUrl}/probe`, events: ['*'] }, control: 'admin', foreignIds: false },
    { name: 'webhook deliveries', method: 'GET', url: `${t}/webhook-endpoints/${ids.endpoint}/deliveries`, control: 'admin', foreignIds: true },
    { name: 'delivery :retry', method: 'POST', url: `${t}/webhook-endpoints/${ids.endpoint}/deliveries/${ids.delivery}:retry`, control: null, foreignIds: true },
    { name: 'update integration', method: 'PATCH', url: `${t}/integrations/${ids.integration}`, body: { description: 'changed by probe' }, control: 'admin', foreignIds: true },
    { name: 'update connection', method: 'PATCH', url: `${t}/connections/${ids.connection}`, body: { name: 'changed by probe' }, control: 'admin', foreignIds: true },
    { name: 'update personal connection', method: 'PATCH', url: `${t}/connections/${ids.personalConnection}`, body: { name: 'changed by probe' }, control: 'admin', foreignIds: true },
    { name: 'update webhook endpoint', method: 'PATCH', url: `${t}/webhook-endpoints/${ids.endpoint}`, body: { description: 'changed by probe' }, control: 'admin', foreignIds: true },
    { name: 'endpoint :rotateSecret', method: 'POST', url: `${t}/webhook-endpoints/${ids.endpoint}:rotateSecret`, control: 'admin', foreignIds: true },
    { name: 'update tenant', method: 'PATCH', url: t, body: { description: 'changed by probe' }, control: 'root', foreignIds: false },
    { name: 'delete personal connection', method: 'DELETE', url: `${t}/connections/${ids.personalConnection}`, control: 'admin', foreignIds: true },
    { name: 'delete connection', method: 'DELETE', url: `${t}/connections/${ids.connection}`, control: 'admin', foreignIds: true },
    { name: 'delete webhook endpoint', method: 'DELETE', url: `${t}/webhook-endpoints/${ids.endpoint}`, control: 'admin', foreignIds: true },
    { name: 'delete integration', method: 'DELETE', url: `${t}/integrations/${ids.integration}`, control: 'admin', foreignIds: true },
    { name: 'delete tenant', method: 'DELETE', url: t, control: 'root', foreignIds: false },
  ];
}

describe('tenant isolation matrix', () => {
  let app: NestFastifyApplication;
  let upstream: Upstream;
  const a = uniqueId('alpha');
  const b = uniqueId('bravo');
  const root = mintToken({ roles: ['platform-admin'], sub: 'root' });
  const token = (tenant: string, role: Role) => mintToken({ tenant, roles: [role], sub: `${tenant}-${role}` });
  const idsA: Ids = { tenant: a, integration: 'alpha-payroll', connection: '', personalConnection: '', endpoint: '', delivery: 'whdl_0123456789abcdef01234567', pageToken: '' };
  const idsB: Ids = { tenant: b, integration: 'bravo-crm', connection: '', personalConnection: '', endpoint: '', delivery: 'whdl_0123456789abcdef01234567', pageToken: '' };
  /** Values only A's data contains: none may reach a B caller unless the caller sent it. */
  const markersA = ['Alpha Corp Private', 'alpha-payroll', 'Alpha payroll API', 'Alpha second API', 'alpha-second', 'Alpha org account', 'Alpha personal account', 'alpha-hook', 'Alpha hook'];

  const send = (method: Method, url: string, bearerToken: string, body?: Record<string, unknown>) =>
    app.inject({ method, url, headers: { authorization: `Bearer ${bearerToken}` }, ...(body ? { payload: body } : {}) });

  async function seed(ids: Ids, names: { tenant: string; integration: string; second: string; secondName: string; org: string; personal: string; hook: string; hookDescription: string }): Promise<void> {
    const admin = token(ids.tenant, 'admin');
    const ok = async (res: Awaited<ReturnType<typeof send>>, status: number) => {
      expect({ status: res.statusCode, body: res.statusCode === status ? '' : res.body }).toEqual({ status, body: '' });
      return res.json();
    };
    await ok(await send('POST', '/v1/tenants', root, { id: ids.tenant, displayName: names.tenant }), 201);
    const integration = (id: string, displayName: string) => ({ id, displayName, description: `${displayName} description`, connector: 'http', parameters: { baseUrl: upstream.url }, authMethod: 'API_KEY', credentials: { apiKey: `${id}-key` } });
    await ok(await send('POST', `/v1/tenants/${ids.tenant}/integrations`, admin, integration(ids.integration, names.integration)), 201);
    await ok(await send('POST', `/v1/tenants/${ids.tenant}/integrations`, admin, integration(names.second, names.secondName)), 201);
    await ok(await send('POST', `/v1/tenants/${ids.tenant}/integrations`, admin, integration('shared-id', 'Same id in both tenants')), 201);
    const org = await ok(await send('POST', `/v1/tenants/${ids.tenant}/integrations/${ids.integration}/connections`, admin, { name: names.org, accessScope: 'organizational', authMethod: 'API_KEY', credentials: { apiKey: 'org-key' } }), 201);
    ids.connection = org.id;
    const personal = await ok(await send('POST', `/v1/tenants/${ids.tenant}/integrations/${ids.integration}/connections`, admin, { name: names.personal, accessScope: 'personal', authMethod: 'API_KEY', credentials: { apiKey: 'personal-key' } }), 201);
    ids.personalConnection = personal.id;
    const endpoint = await ok(await send('POST', `/v1/tenants/${ids.tenant}/webhook-endpoints`, admin, { url: `${upstream.url}/${names.hook}`, events: ['*'], description: names.hookDescription }), 201);
    ids.endpoint = endpoint.id;
    const page = await ok(await send('GET', `/v1/tenants/${ids.tenant}/integrations?pageSize=1`, admin), 200);
    ids.pageToken = page.nextPageToken;
  }

  /** What A has: every id and etag, to prove the attacks changed nothing. */
  async function snapshotA(): Promise<unknown> {
    const admin = token(a, 'admin');
    const read = async (url: string) => {
      const res = await send('GET', url, admin);
      return { status: res.statusCode, body: res.json() };
    };
    return {
      tenant: await read(`/v1/tenants/${a}`),
      integrations: await read(`/v1/tenants/${a}/integrations?view=FULL&pageSize=200`),
      connections: await read(`/v1/tenants/${a}/connections?pageSize=200`),
      personal: await read(`/v1/tenants/${a}/connections/${idsA.personalConnection}`),
      endpoints: await read(`/v1/tenants/${a}/webhook-endpoints?pageSize=200`),
    };
  }

  function leakedMarkers(requestText: string, body: string): string[] {
    return markersA.filter((m) => !requestText.includes(m) && body.includes(m)).concat(
      [idsA.connection, idsA.personalConnection, idsA.endpoint].filter((id) => id && !requestText.includes(id) && body.includes(id)),
    );
  }

  beforeAll(async () => {
    upstream = await startUpstream();
    ({ app } = await startTestApp({ VERIFY_MAX_IN_FLIGHT_PER_TENANT: '50', VERIFY_MAX_PER_MINUTE_PER_TENANT: '10000' }));
    await seed(idsA, { tenant: 'Alpha Corp Private', integration: 'Alpha payroll API', second: 'alpha-second', secondName: 'Alpha second API', org: 'Alpha org account', personal: 'Alpha personal account', hook: 'alpha-hook', hookDescription: 'Alpha hook' });
    await seed(idsB, { tenant: 'Bravo Inc', integration: 'Bravo CRM', second: 'bravo-second', secondName: 'Bravo second API', org: 'Bravo org account', personal: 'Bravo personal account', hook: 'bravo-hook', hookDescription: 'Bravo hook' });
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await upstream?.close();
  });

  it("refuses B's tokens on A's paths, and A's ids under B's path, for every route and role; A's own tokens succeed on the same requests", async () => {
    const before = await snapshotA();
    const failures: string[] = [];
    const statuses = new Map<string, number>();
    const count = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);
    let attempts = 0;
    let emptyLists = 0;

    // Attack 1: B's viewer, editor and admin against A's paths with A's ids.
    for (const role of ['viewer', 'editor', 'admin'] as Role[]) {
      for (const probe of probes(idsA, upstream.url)) {
        const res = await send(probe.method, probe.url, token(b, role), probe.body);
        attempts += 1;
        count(`B on A: ${res.statusCode}`);
        if (res.statusCode !== 403) failures.push(`B ${role} ${probe.name} on A's path: ${res.statusCode} ${res.body.slice(0, 200)}`);
        const leaked = leakedMarkers(`${probe.url} ${JSON.stringify(probe.body ?? {})}`, res.body);
        if (leaked.length) failures.push(`B ${role} ${probe.name} on A's path leaked ${leaked.join(', ')}`);
      }
    }

    // Attack 2: B's tokens on B's own path, naming A's ids (and A's page token).
    const crossed = probes({ ...idsB, integration: idsA.integration, connection: idsA.connection, personalConnection: idsA.personalConnection, endpoint: idsA.endpoint, pageToken: idsA.pageToken }, upstream.url).filter(
      (p) => p.foreignIds,
    );
    for (const role of ['viewer', 'editor', 'admin'] as Role[]) {
      for (const probe of crossed) {
        const res = await send(probe.method, probe.url, token(b, role), probe.body);
        attempts += 1;
        count(`A's ids under B: ${res.statusCode}`);
        const requestText = `${probe.url} ${JSON.stringify(probe.body ?? {})}`;
        const leaked = leakedMarkers(requestText, res.body);
        if (leaked.length) failures.push(`B ${role} ${probe.name} with A's ids leaked ${leaked.join(', ')}`);
        // A filter naming an id B does not have may answer an empty page; anything else must be refused.
        const emptyFilteredList = probe.name === 'list connections of an integration' && res.statusCode === 200 && res.json().connections.length === 0;
        if (emptyFilteredList) emptyLists += 1;
        if (res.statusCode < 300 && !emptyFilteredList) failures.push(`B ${role} ${probe.name} with A's ids: ${res.statusCode} ${res.body.slice(0, 200)}`);
      }
    }
    // Tenant named somewhere else than the path: ignored or refused, never obeyed.
    for (const url of [`/v1/tenants/${b}/integrations?tenant=${a}`, `/v1/tenants/${b}/integrations?tenantId=${a}`, `/v1/tenants/${b}/integrations/${idsA.integration}?tenant_id=${a}`]) {
      const res = await send('GET', url, token(b, 'admin'));
      attempts += 1;
      const leaked = leakedMarkers(url, res.body);
      if (leaked.length || (res.statusCode < 300 && res.body.includes(idsA.integration))) failures.push(`${url}: ${res.statusCode} leaked ${leaked.join(', ')}`);
    }
    const viaBody = await send('POST', `/v1/tenants/${b}/integrations`, token(b, 'admin'), { tenantId: a, id: 'smuggled', displayName: 'x', connector: 'http', parameters: { baseUrl: upstream.url } });
    attempts += 1;
    if (viaBody.statusCode !== 400) failures.push(`tenantId in a create body: ${viaBody.statusCode}`);

    expect(failures).toEqual([]);
    expect(await snapshotA()).toEqual(before);

    // Control: A's own tokens on exactly the attack-1 requests succeed.
    let controls = 0;
    const controlFailures: string[] = [];
    for (const probe of probes(idsA, upstream.url)) {
      if (!probe.control) continue;
      const res = await send(probe.method, probe.url, probe.control === 'root' ? root : token(a, 'admin'), probe.body);
      controls += 1;
      if (res.statusCode >= 300) controlFailures.push(`A ${probe.control} ${probe.name}: ${res.statusCode} ${res.body.slice(0, 200)}`);
    }
    expect(controlFailures).toEqual([]);

    console.log(
      `tenant isolation: ${attempts} cross-tenant requests (${probes(idsA, upstream.url).length} routes x 3 roles on A's paths, ${crossed.length} x 3 with A's ids under B's path, 4 smuggling attempts): ` +
        `0 x 2xx (besides ${emptyLists} empty pages for a filter naming A's integration), 0 leaks (${JSON.stringify(Object.fromEntries(statuses))}); A unchanged; control: ${controls}/${controls} of A's requests 2xx`,
    );
  }, 120_000);
});
