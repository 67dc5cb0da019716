import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { FakeUpstream } from '../connectors/support/fake-upstream';
import { within } from '../connectors/support/sockets';
import { startTestApp } from '../support/test-app';
import { TenantClient, type IntegrationBody } from './verification-support';

/** Per-tenant verification limits (API.md: a few in flight, a bounded number a minute). */
describe('verification rate limits per tenant', () => {
  let app: NestFastifyApplication;
  let fake: FakeUpstream;

  const body = (testPath: string): IntegrationBody => ({
    connector: 'http',
    parameters: { baseUrl: fake.url, testPath },
    authMethod: 'API_KEY',
    credentials: { apiKey: 'sk_limits_1' },
  });

  const expectRateLimited = (res: { statusCode: number; headers: Record<string, unknown>; json: () => unknown }) => {
    expect(res.statusCode).toBe(429);
    expect(String(res.headers['content-type'])).toContain('application/problem+json');
    const retryAfter = Number(res.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(res.json()).toMatchObject({ status: 429 });
  };

  beforeAll(async () => {
    ({ app } = await startTestApp({ VERIFY_MAX_IN_FLIGHT_PER_TENANT: '1', VERIFY_MAX_PER_MINUTE_PER_TENANT: '3' }));
    fake = await FakeUpstream.start();
    fake.on('GET', '/slow', { delayMs: 1500, body: {} });
    fake.on('GET', '/fast', { body: {} });
  });

  afterAll(async () => {
    await fake.close();
    await app.close();
  });

  it('answers 429 with Retry-After to a second check while the tenant already has one in flight; another tenant is unaffected', async () => {
    const busy = await TenantClient.create(app, 'busy');
    const other = await TenantClient.create(app, 'other');
    const slowId = await busy.createIntegration(body('/slow'));
    const fastId = await busy.createIntegration(body('/fast'));
    const otherId = await other.createIntegration(body('/fast'));
    const slowCallsBefore = fake.requestsTo('/slow').length;

    const first = busy.verifyRaw(slowId);
    await within(
      (async () => {
        while (fake.requestsTo('/slow').length === slowCallsBefore) await new Promise((r) => setTimeout(r, 10));
      })(),
      5000,
      'the slow check reaching the upstream',
    );

    expectRateLimited(await busy.verifyRaw(fastId));
    expectRateLimited(await busy.testConfigRaw(body('/fast')));
    const unaffected = await other.verifyRaw(otherId);
    expect(unaffected.statusCode).toBe(200);
    expect(unaffected.json()).toMatchObject({ status: 'healthy' });

    const firstReply = await first;
    expect(firstReply.statusCode).toBe(200);
    expect(firstReply.json()).toMatchObject({ status: 'healthy' });
    // The slot is released once the first check ends.
    expect((await busy.verifyRaw(fastId)).statusCode).toBe(200);
  });

  it('answers 429 with Retry-After to the fourth check within a minute, without calling out; another tenant is unaffected', async () => {
    const counted = await TenantClient.create(app, 'counted');
    const other = await TenantClient.create(app, 'other');
    const id = await counted.createIntegration(body('/fast'));
    const otherId = await other.createIntegration(body('/fast'));

    for (let i = 0; i < 3; i++) expect((await counted.verifyRaw(id)).statusCode).toBe(200);
    const calls = fake.requestsTo('/fast').length;

    expectRateLimited(await counted.verifyRaw(id));
    expectRateLimited(await counted.testConfigRaw(body('/fast')));
    expect(fake.requestsTo('/fast')).toHaveLength(calls);
    const audited = (await counted.auditEvents()).filter((e) => e.action === 'integration.verified' || e.action === 'integration.tested');
    expect(audited).toHaveLength(3);

    expect((await other.verifyRaw(otherId)).statusCode).toBe(200);
  });

  it('counts no check refused before it starts (422, 404) against the tenant', async () => {
    const careful = await TenantClient.create(app, 'careful');
    const id = await careful.createIntegration(body('/fast'));

    for (let i = 0; i < 4; i++) expect((await careful.verifyRaw('missing')).statusCode).toBe(404);
    for (let i = 0; i < 4; i++) expect((await careful.testConfigRaw({ connector: 'http', parameters: {}, authMethod: 'API_KEY', credentials: { apiKey: 'k' } })).statusCode).toBe(422);
    for (let i = 0; i < 3; i++) expect((await careful.verifyRaw(id)).statusCode).toBe(200);
  });
});
