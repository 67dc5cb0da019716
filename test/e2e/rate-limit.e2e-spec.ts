import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { startTestApp, uniqueId } from '../support/test-app';
import { bearer, mintToken } from '../support/tokens';

describe('per-token rate limit (RATE_LIMIT_PER_MINUTE)', () => {
  let app: NestFastifyApplication;
  let tenant: string;

  beforeAll(async () => {
    ({ app } = await startTestApp({ RATE_LIMIT_PER_MINUTE: '3' }));
    tenant = uniqueId('rl');
    const admin = bearer(mintToken({ sub: 'root', roles: ['platform-admin'] }));
    const created = await app.inject({ method: 'POST', url: '/v1/tenants', headers: admin, payload: { id: tenant, displayName: 'Rate limited' } });
    expect(created.statusCode).toBe(201);
  });

  afterAll(async () => {
    await app.close();
  });

  it('answers 429 problem+json with Retry-After once a token passes its budget, while another token is unaffected', async () => {
    const token = bearer(mintToken({ sub: 'busy', tenant, roles: ['viewer'] }));
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      statuses.push((await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}`, headers: token })).statusCode);
    }
    expect(statuses).toEqual([200, 200, 200]);

    const limited = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}`, headers: token });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['content-type']).toContain('application/problem+json');
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.json()).toMatchObject({ status: 429, title: 'Too many requests' });

    const other = bearer(mintToken({ sub: 'quiet', tenant, roles: ['viewer'] }));
    expect((await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}`, headers: other })).statusCode).toBe(200);
  });

  it('does not count health probes, which need no token', async () => {
    for (let i = 0; i < 5; i += 1) {
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    }
  });
});
