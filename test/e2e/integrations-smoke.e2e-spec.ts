import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { startTestApp, uniqueId } from '../support/test-app';
import { bearer, mintToken } from '../support/tokens';

describe('integrations smoke', () => {
  let app: NestFastifyApplication;
  let upstream: Server;
  let port: number;
  const seen: Record<string, string | undefined>[] = [];
  beforeAll(async () => {
    ({ app } = await startTestApp());
    upstream = createServer((req, res) => {
      seen.push({ key: req.headers['x-api-key'] as string | undefined });
      res.statusCode = req.headers['x-api-key'] === 'canary-good-key' ? 200 : 401;
      res.end('{}');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    port = (upstream.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await app.close();
    upstream.close();
  });

  it('creates, redacts, verifies', async () => {
    const tenant = uniqueId('t');
    await app.inject({ method: 'POST', url: '/v1/tenants', headers: bearer(mintToken({ roles: ['platform-admin'] })), payload: { id: tenant, displayName: 'T' } });
    const editor = bearer(mintToken({ tenant, roles: ['editor'] }));
    const created = await app.inject({
      method: 'POST',
      url: `/v1/tenants/${tenant}/integrations`,
      headers: editor,
      payload: { id: 'api', displayName: 'API', connector: 'http', parameters: { baseUrl: `http://127.0.0.1:${port}` }, authMethod: 'API_KEY', credentials: { apiKey: 'canary-good-key' } },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json().credentials).toEqual({ apiKey: '***REDACTED***' });
    expect(created.body).not.toContain('canary-good-key');
    const verified = await app.inject({ method: 'POST', url: `/v1/tenants/${tenant}/integrations/api:verifyConfig`, headers: editor });
    expect(verified.statusCode).toBe(200);
    expect(verified.json()).toMatchObject({ status: 'healthy', error: null });
    const read = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/integrations/api`, headers: editor });
    expect(read.json().health.status).toBe('healthy');
    const tested = await app.inject({
      method: 'POST',
      url: `/v1/tenants/${tenant}/integrations:testConfig`,
      headers: editor,
      payload: { id: 'x', displayName: 'X', connector: 'http', parameters: { baseUrl: `http://127.0.0.1:${port}` }, authMethod: 'API_KEY', credentials: { apiKey: 'wrong' } },
    });
    expect(tested.statusCode).toBe(200);
    expect(tested.json().error.code).toBe('AUTH_FAILED');
  });
});
