import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { startTestApp, uniqueId } from '../support/test-app';
import { bearer, mintToken } from '../support/tokens';

describe('smoke', () => {
  let app: NestFastifyApplication;
  beforeAll(async () => {
    ({ app } = await startTestApp());
  });
  afterAll(async () => {
    await app.close();
  });

  it('creates and reads a tenant', async () => {
    const id = uniqueId('acme');
    const admin = bearer(mintToken({ roles: ['platform-admin'] }));
    const created = await app.inject({ method: 'POST', url: '/v1/tenants', headers: admin, payload: { id, displayName: 'Acme' } });
    expect(created.statusCode).toBe(201);
    const read = await app.inject({ method: 'GET', url: `/v1/tenants/${id}`, headers: admin });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject({ id, displayName: 'Acme' });
    expect(read.headers.etag).toBe(`"${created.json().etag}"`);
  });
});
