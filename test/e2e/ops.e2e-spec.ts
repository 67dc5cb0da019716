import { randomBytes } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import { startTestApp, uniqueId } from '../support/test-app';
import { bearer, mintToken } from '../support/tokens';

type Reply = Awaited<ReturnType<NestFastifyApplication['inject']>>;

function expectUnavailable(res: Reply): void {
  expect(res.statusCode).toBe(503);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  const body = res.json();
  expect(body).toMatchObject({ status: 503, type: expect.stringMatching(/dependency-unavailable$/), title: expect.any(String), detail: expect.any(String), instance: expect.any(String) });
  expect(body.requestId).toBe(res.headers['x-request-id']);
  expect(res.body).not.toMatch(/SELECT|accepting connections|terminating|switchboard_ops_|\.ts:\d/);
}

describe('operations endpoints', () => {
  let app: NestFastifyApplication;
  beforeAll(async () => {
    ({ app } = await startTestApp());
  });
  afterAll(async () => {
    await app.close();
  });

  it('answers /healthz 200 without a token', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz 200 while the database answers', async () => {
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', database: 'up' });
  });

  it('serves Prometheus metrics that count requests by route template, not by raw path', async () => {
    const id = uniqueId('metric');
    await app.inject({ method: 'GET', url: `/v1/tenants/${id}`, headers: bearer(mintToken({ roles: ['platform-admin'] })) });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toContain('# TYPE http_requests_total counter');
    expect(res.body).toMatch(/http_requests_total\{method="GET",route="\/v1\/tenants\/:tenant",status="404"\} \d+/);
    expect(res.body).toContain('http_request_duration_seconds_bucket');
    expect(res.body).not.toContain(id);
  });

  it('serves /openapi.json: valid OpenAPI 3 with a bearer security scheme and the tenant routes', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const doc = JSON.parse(res.body) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { securitySchemes: Record<string, { type: string; scheme: string }> };
    };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.values(doc.components.securitySchemes)).toContainEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/tenants', '/v1/tenants/{tenant}', '/healthz', '/readyz']));
    expect(Object.keys(doc.paths['/v1/tenants/{tenant}'])).toEqual(expect.arrayContaining(['get', 'patch', 'delete']));
  });

  it('serves the Swagger UI at /docs as HTML without a token', async () => {
    const res = await app.inject({ method: 'GET', url: '/docs' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toMatch(/<html/i);
    expect(res.body).toContain('swagger-ui');
  });
});

describe('database unavailable', () => {
  const serverUrl = process.env.TEST_SERVER_URL as string;
  const database = `switchboard_ops_${randomBytes(4).toString('hex')}`;
  let admin: Client;
  let app: NestFastifyApplication;
  const platformAdmin = bearer(mintToken({ roles: ['platform-admin'] }));
  const tenant = uniqueId('down');

  const setConnections = async (allow: boolean) => {
    await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS ${allow ? 'true' : 'false'}`);
    if (!allow) await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [database]);
  };

  beforeAll(async () => {
    admin = new Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(serverUrl);
    url.pathname = `/${database}`;
    ({ app } = await startTestApp({ DATABASE_URL: url.toString() }));
    const created = await app.inject({ method: 'POST', url: '/v1/tenants', headers: platformAdmin, payload: { id: tenant, displayName: 'Down' } });
    expect(created.statusCode).toBe(201);
  });
  afterAll(async () => {
    await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`).catch(() => undefined);
    await app?.close();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  });

  it('answers 503 problems with Retry-After while the database refuses connections, stays alive, and recovers', async () => {
    await setConnections(false);
    try {
      // Twice: the first call meets the terminated pooled connections, the second must open new ones.
      for (let round = 0; round < 2; round++) {
        expectUnavailable(await app.inject({ method: 'GET', url: '/readyz' }));
        const health = await app.inject({ method: 'GET', url: '/healthz' });
        expect(health.statusCode).toBe(200);
        expectUnavailable(await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}`, headers: platformAdmin }));
        expectUnavailable(await app.inject({ method: 'GET', url: '/v1/tenants', headers: platformAdmin }));
        expectUnavailable(
          await app.inject({ method: 'POST', url: '/v1/tenants', headers: platformAdmin, payload: { id: uniqueId('while-down'), displayName: 'x' } }),
        );
        expectUnavailable(
          await app.inject({
            method: 'POST',
            url: '/v1/tenants',
            headers: { ...platformAdmin, 'idempotency-key': uniqueId('key') },
            payload: { id: uniqueId('while-down'), displayName: 'x' },
          }),
        );
      }
    } finally {
      await setConnections(true);
    }
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    const read = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}`, headers: platformAdmin });
    expect(read.statusCode).toBe(200);
    expect(read.json().id).toBe(tenant);
  });
});
