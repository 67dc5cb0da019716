import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { WebhookDispatcher } from '../../src/webhooks/webhook-dispatcher';
import { startTestApp, uniqueId } from '../support/test-app';
import { bearer, mintToken } from '../support/tokens';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const REDACTED = '***REDACTED***';
/** Planted in an integration's credentials: it must never reach a receiver. */
const PLANTED_CREDENTIAL = 'canary-planted-credential-7f3a9c';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  answered: number;
}

/** A webhook receiver on 127.0.0.1 that records every request and answers what `answer` says for its path. */
class Receiver {
  readonly received: Received[] = [];
  answer: (path: string, count: number, headers: IncomingHttpHeaders) => number | Promise<number> = () => 200;
  private server: Server;
  private port = 0;

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        void Promise.resolve(this.answer(path, this.at(path).length, req.headers)).then((status) => {
          this.received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), answered: status });
          res.statusCode = status;
          res.end('{}');
        });
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * Standard Webhooks verification, written here from the spec rather than
 * imported: HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{body}", keyed
 * with the base64-decoded secret after "whsec_"; the header holds one or more
 * space-separated "v1,<base64>" signatures. Returns how many of them match.
 */
function matchingSignatures(secret: string, headers: IncomingHttpHeaders, body: string): number {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(`${String(headers['webhook-id'])}.${String(headers['webhook-timestamp'])}.${body}`).digest();
  return String(headers['webhook-signature'] ?? '')
    .split(' ')
    .filter((entry) => {
      const [version, signature] = entry.split(',');
      const given = Buffer.from(signature ?? '', 'base64');
      return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
    }).length;
}

describe('webhooks', () => {
  let app: NestFastifyApplication;
  let dispatcher: WebhookDispatcher;
  let dataSource: DataSource;
  let receiver: Receiver;
  const secretsShown: string[] = [];
  const platform = bearer(mintToken({ roles: ['platform-admin'] }));

  beforeAll(async () => {
    ({ app } = await startTestApp({ WEBHOOK_RETRY_BASE_MS: '10' }));
    dispatcher = app.get(WebhookDispatcher);
    dataSource = app.get(DataSource);
    receiver = await new Receiver().start();
  });
  afterAll(async () => {
    await app.close();
    await receiver.close();
  });

  async function newTenant(): Promise<{ tenant: string; admin: Record<string, string> }> {
    const tenant = uniqueId('wh');
    const res = await app.inject({ method: 'POST', url: '/v1/tenants', headers: platform, payload: { id: tenant, displayName: 'Webhooks' } });
    expect(res.statusCode).toBe(201);
    return { tenant, admin: bearer(mintToken({ tenant, roles: ['admin'] })) };
  }

  async function createEndpoint(tenant: string, admin: Record<string, string>, body: Record<string, unknown>) {
    const res = await app.inject({ method: 'POST', url: `/v1/tenants/${tenant}/webhook-endpoints`, headers: admin, payload: body });
    expect(res.statusCode).toBe(201);
    const endpoint = res.json<{ id: string; secret: string; etag: string }>();
    secretsShown.push(endpoint.secret);
    return endpoint;
  }

  /** Emits integration.created (and carries a credential that must stay inside). */
  async function createIntegration(tenant: string, admin: Record<string, string>, id: string, baseUrl = 'https://api.example.com') {
    const res = await app.inject({
      method: 'POST',
      url: `/v1/tenants/${tenant}/integrations`,
      headers: admin,
      payload: { id, displayName: id, connector: 'http', parameters: { baseUrl }, authMethod: 'API_KEY', credentials: { apiKey: PLANTED_CREDENTIAL } },
    });
    expect(res.statusCode).toBe(201);
  }

  async function deliveries(tenant: string, admin: Record<string, string>, endpoint: string) {
    const res = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/webhook-endpoints/${endpoint}/deliveries`, headers: admin });
    expect(res.statusCode).toBe(200);
    return res.json<{ deliveries: Array<Record<string, any>>; nextPageToken: string | null }>().deliveries;
  }

  /** Runs dispatcher passes (as the interval would) until `done`, waiting between them for retries to fall due. */
  async function runUntil(done: () => boolean | Promise<boolean>, which: WebhookDispatcher = dispatcher): Promise<void> {
    for (let pass = 0; pass < 200; pass++) {
      await which.runOnce();
      if (await done()) return;
      await sleep(20);
    }
    throw new Error('the dispatcher did not get there');
  }

  describe('endpoints', () => {
    it('shows the signing secret in the create reply only, and redacted on every other read', async () => {
      const { tenant, admin } = await newTenant();
      const res = await app.inject({
        method: 'POST',
        url: `/v1/tenants/${tenant}/webhook-endpoints`,
        headers: admin,
        payload: { url: receiver.url('/crud'), description: 'ops', events: ['integration.health_changed', 'integration.created'] },
      });
      expect(res.statusCode).toBe(201);
      const created = res.json();
      secretsShown.push(created.secret);
      expect(created).toMatchObject({
        id: expect.stringMatching(/^whep_/),
        tenantId: tenant,
        url: receiver.url('/crud'),
        description: 'ops',
        events: ['integration.health_changed', 'integration.created'],
        enabled: true,
        health: { status: 'unknown', consecutiveFailures: 0, checkedAt: null, lastError: null },
      });
      expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(Buffer.from(created.secret.slice(6), 'base64')).toHaveLength(32);
      expect(res.headers.etag).toBe(`"${created.etag}"`);

      const read = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/webhook-endpoints/${created.id}`, headers: admin });
      expect(read.statusCode).toBe(200);
      expect(read.json().secret).toBe(REDACTED);
      expect(read.body).not.toContain(created.secret);

      const list = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/webhook-endpoints`, headers: admin });
      expect(list.json()).toEqual({ webhookEndpoints: [expect.objectContaining({ id: created.id, secret: REDACTED })], nextPageToken: null });

      const stale = await app.inject({ method: 'PATCH', url: `/v1/tenants/${tenant}/webhook-endpoints/${created.id}`, headers: { ...admin, 'if-match': '"nope"' }, payload: { enabled: false } });
      expect(stale.statusCode).toBe(412);
      const patched = await app.inject({
        method: 'PATCH',
        url: `/v1/tenants/${tenant}/webhook-endpoints/${created.id}`,
        headers: { ...admin, 'if-match': `"${created.etag}"` },
        payload: { enabled: false, events: ['*'] },
      });
      expect(patched.statusCode).toBe(200);
      expect(patched.json()).toMatchObject({ enabled: false, events: ['*'], secret: REDACTED, description: 'ops' });
      expect(patched.json().etag).not.toBe(created.etag);

      const gone = await app.inject({ method: 'DELETE', url: `/v1/tenants/${tenant}/webhook-endpoints/${created.id}`, headers: admin });
      expect(gone.statusCode).toBe(204);
      const missing = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/webhook-endpoints/${created.id}`, headers: admin });
      expect(missing.statusCode).toBe(404);
      expect(missing.headers['content-type']).toContain('application/problem+json');
    });

    it('refuses bad bodies: malformed is 400, an unknown event type is 422', async () => {
      const { tenant, admin } = await newTenant();
      const post = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: `/v1/tenants/${tenant}/webhook-endpoints`, headers: admin, payload });
      for (const url of ['ftp://example.com/x', 'not a url', 'https://user:pw@example.com/x', `https://example.com/${'a'.repeat(2048)}`]) {
        const res = await post({ url, events: ['*'] });
        expect(res.statusCode).toBe(400);
        expect(res.json().errors).toEqual([expect.objectContaining({ field: 'url' })]);
      }
      expect((await post({ url: 'https://example.com/x', events: ['*'], secret: 'whsec_mine' })).statusCode).toBe(400);
      expect((await post({ url: 'https://example.com/x', events: [] })).statusCode).toBe(400);
      expect((await post({ url: 'https://example.com/x' })).statusCode).toBe(400);
      expect((await post({ url: 'https://example.com/x', events: ['*'], description: 'd'.repeat(501) })).statusCode).toBe(400);
      const unknown = await post({ url: 'https://example.com/x', events: ['integration.created', 'integration.exploded'] });
      expect(unknown.statusCode).toBe(422);
      expect(unknown.json().errors).toEqual([{ field: 'events[1]', message: 'is not a known event type' }]);
      expect((await post({ url: 'https://example.com/x', events: ['*', 'integration.created'] })).statusCode).toBe(422);
    });

    it('is for tenant admins only', async () => {
      const { tenant } = await newTenant();
      for (const role of ['viewer', 'editor']) {
        const headers = bearer(mintToken({ tenant, roles: [role] }));
        const res = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/webhook-endpoints`, headers });
        expect(res.statusCode).toBe(403);
      }
      const other = bearer(mintToken({ tenant: 'someone-else', roles: ['admin'] }));
      expect((await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/webhook-endpoints`, headers: other })).statusCode).toBe(403);
    });

    it('pages the list oldest first with opaque tokens', async () => {
      const { tenant, admin } = await newTenant();
      const a = await createEndpoint(tenant, admin, { url: 'https://example.com/a', events: ['*'] });
      const b = await createEndpoint(tenant, admin, { url: 'https://example.com/b', events: ['*'] });
      const first = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/webhook-endpoints?pageSize=1`, headers: admin });
      expect(first.json().webhookEndpoints.map((e: { id: string }) => e.id)).toEqual([a.id]);
      const token = first.json().nextPageToken as string;
      const second = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/webhook-endpoints?pageSize=1&pageToken=${encodeURIComponent(token)}`, headers: admin });
      expect(second.json()).toEqual({ webhookEndpoints: [expect.objectContaining({ id: b.id })], nextPageToken: null });
      const forged = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/webhook-endpoints?pageToken=${encodeURIComponent(`${token}x`)}`, headers: admin });
      expect(forged.statusCode).toBe(400);
    });

    it('replays an idempotent create without the secret, and keeps no secret in the replay cache', async () => {
      const { tenant, admin } = await newTenant();
      const headers = { ...admin, 'idempotency-key': 'create-hook-1' };
      const payload = { url: 'https://example.com/idem', events: ['*'] };
      const first = await app.inject({ method: 'POST', url: `/v1/tenants/${tenant}/webhook-endpoints`, headers, payload });
      expect(first.statusCode).toBe(201);
      secretsShown.push(first.json().secret);
      expect(first.json().secret).toMatch(/^whsec_/);
      const again = await app.inject({ method: 'POST', url: `/v1/tenants/${tenant}/webhook-endpoints`, headers, payload });
      expect(again.statusCode).toBe(201);
      expect(again.headers['idempotency-replayed']).toBe('true');
      expect(again.json()).toEqual({ ...first.json(), secret: REDACTED });
      const cached: { response_body: unknown }[] = await dataSource.query(`SELECT response_body FROM idempotency_keys WHERE scope = $1`, [tenant]);
      expect(cached).toHaveLength(1);
      expect(JSON.stringify(cached)).not.toContain('whsec_');
      const list = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/webhook-endpoints`, headers: admin });
      expect(list.json().webhookEndpoints).toHaveLength(1);
    });

    it('stores the signing secret encrypted, in the shape key rotation walks', async () => {
      const { tenant, admin } = await newTenant();
      const endpoint = await createEndpoint(tenant, admin, { url: 'https://example.com/enc', events: ['*'] });
      const [row]: { secrets: { signing: Record<string, string> } }[] = await dataSource.query(`SELECT secrets FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2`, [tenant, endpoint.id]);
      expect(Object.keys(row.secrets)).toEqual(['signing']);
      expect(row.secrets.signing.current).toMatch(/^sb1\./);
      expect(JSON.stringify(row)).not.toContain(endpoint.secret.slice(6));
    });
  });

  describe('delivery', () => {
    it('POSTs the event with Standard Webhooks headers and a signature an independent verifier accepts', async () => {
      const { tenant, admin } = await newTenant();
      const endpoint = await createEndpoint(tenant, admin, { url: receiver.url('/signed'), events: ['integration.created'] });
      await createIntegration(tenant, admin, 'github-main');
      await runUntil(() => receiver.at('/signed').length >= 1);

      const [got] = receiver.at('/signed');
      expect(receiver.at('/signed')).toHaveLength(1);
      expect(got.headers['content-type']).toBe('application/json');
      expect(matchingSignatures(endpoint.secret, got.headers, got.body)).toBe(1);
      expect(matchingSignatures('whsec_' + Buffer.alloc(32, 1).toString('base64'), got.headers, got.body)).toBe(0);
      const body = JSON.parse(got.body);
      expect(body).toEqual({ id: expect.stringMatching(/^evt_/), type: 'integration.created', tenantId: tenant, occurredAt: expect.any(String), data: { integrationId: 'github-main', connector: 'http' } });
      expect(new Date(body.occurredAt).toISOString()).toBe(body.occurredAt);
      expect(got.headers['webhook-id']).toBe(body.id);
      expect(Math.abs(Number(got.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);

      const list = await deliveries(tenant, admin, endpoint.id);
      expect(list).toEqual([
        {
          id: expect.stringMatching(/^whdl_/),
          endpointId: endpoint.id,
          eventId: body.id,
          eventType: 'integration.created',
          attempt: 1,
          status: 'succeeded',
          responseStatus: 200,
          latencyMs: expect.any(Number),
          error: null,
          nextAttemptAt: null,
          attemptedAt: expect.any(String),
          createdAt: expect.any(String),
        },
      ]);
      const read = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/webhook-endpoints/${endpoint.id}`, headers: admin });
      expect(read.json().health).toMatchObject({ status: 'healthy', consecutiveFailures: 0, lastError: null });
    });

    it('retries a failing receiver with backoff until it succeeds, then lists every attempt', async () => {
      const { tenant, admin } = await newTenant();
      receiver.answer = (path, count) => (path === '/flaky' && count < 3 ? 500 : 200);
      const endpoint = await createEndpoint(tenant, admin, { url: receiver.url('/flaky'), events: ['*'] });
      await createIntegration(tenant, admin, 'flaky');
      await runUntil(() => receiver.at('/flaky').some((r) => r.answered === 200));
      await dispatcher.runOnce();
      receiver.answer = () => 200;

      const got = receiver.at('/flaky');
      expect(got.map((r) => r.answered)).toEqual([500, 500, 500, 200]);
      expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(1);
      for (const r of got) expect(matchingSignatures(endpoint.secret, r.headers, r.body)).toBe(1);

      const list = await deliveries(tenant, admin, endpoint.id);
      expect(list.map((d) => [d.attempt, d.status, d.responseStatus])).toEqual([
        [4, 'succeeded', 200],
        [3, 'failed', 500],
        [2, 'failed', 500],
        [1, 'failed', 500],
      ]);
      for (const failed of list.slice(1)) {
        expect(failed.error).toEqual({ code: 'UPSTREAM_ERROR', message: 'the receiver answered HTTP 500' });
        expect(failed.nextAttemptAt).toEqual(expect.any(String));
        expect(failed.latencyMs).toEqual(expect.any(Number));
      }
      expect(new Set(list.map((d) => d.eventId)).size).toBe(1);
      const read = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/webhook-endpoints/${endpoint.id}`, headers: admin });
      expect(read.json().health).toMatchObject({ status: 'healthy', consecutiveFailures: 0 });
    });

    it('marks an endpoint unhealthy after 5 failures, gives up 24 h after the first attempt, and :retry sends again', async () => {
      const { tenant, admin } = await newTenant();
      let down = true;
      receiver.answer = (path) => (path === '/down' && down ? 503 : 200);
      const endpoint = await createEndpoint(tenant, admin, { url: receiver.url('/down'), events: ['integration.created'] });
      await createIntegration(tenant, admin, 'down');
      await runUntil(() => receiver.at('/down').length >= 5);

      const read = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/webhook-endpoints/${endpoint.id}`, headers: admin });
      expect(read.json().health).toMatchObject({ status: 'unhealthy', lastError: { code: 'UPSTREAM_ERROR', message: 'the receiver answered HTTP 503' } });
      expect(read.json().health.consecutiveFailures).toBeGreaterThanOrEqual(5);

      // Move the retry window's start a day back: the next failure is the last.
      await dataSource.query(
        `UPDATE webhook_deliveries SET first_attempt_at = now() - interval '25 hours', next_attempt_at = now() WHERE tenant_id = $1 AND endpoint_id = $2 AND status = 'pending'`,
        [tenant, endpoint.id],
      );
      await dispatcher.runOnce();
      const afterDeadline = await deliveries(tenant, admin, endpoint.id);
      expect(afterDeadline[0]).toMatchObject({ status: 'failed', nextAttemptAt: null });
      expect(afterDeadline.some((d) => d.status === 'pending')).toBe(false);
      const count = receiver.at('/down').length;
      await dispatcher.runOnce();
      expect(receiver.at('/down')).toHaveLength(count);

      down = false;
      const retried = await app.inject({ method: 'POST', url: `/v1/tenants/${tenant}/webhook-endpoints/${endpoint.id}/deliveries/${afterDeadline[0].id}:retry`, headers: admin });
      expect(retried.statusCode).toBe(202);
      expect(retried.json()).toMatchObject({ status: 'pending', attempt: afterDeadline[0].attempt + 1, eventId: afterDeadline[0].eventId });
      await runUntil(() => receiver.at('/down').some((r) => r.answered === 200));
      const healed = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/webhook-endpoints/${endpoint.id}`, headers: admin });
      expect(healed.json().health).toMatchObject({ status: 'healthy', consecutiveFailures: 0, lastError: null });
      receiver.answer = () => 200;
    });

    it(':retry re-sends a delivery that already succeeded', async () => {
      const { tenant, admin } = await newTenant();
      const endpoint = await createEndpoint(tenant, admin, { url: receiver.url('/again'), events: ['*'] });
      await createIntegration(tenant, admin, 'again');
      await runUntil(() => receiver.at('/again').length === 1);
      const [done] = await deliveries(tenant, admin, endpoint.id);
      expect(done.status).toBe('succeeded');

      const res = await app.inject({ method: 'POST', url: `/v1/tenants/${tenant}/webhook-endpoints/${endpoint.id}/deliveries/${done.id}:retry`, headers: admin });
      expect(res.statusCode).toBe(202);
      expect(res.json()).toMatchObject({ status: 'pending', attempt: 2, eventId: done.eventId, id: expect.not.stringMatching(done.id) });
      await runUntil(() => receiver.at('/again').length === 2);
      const [first, second] = receiver.at('/again');
      expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
      expect(second.body).toBe(first.body);
      expect((await deliveries(tenant, admin, endpoint.id)).map((d) => [d.attempt, d.status])).toEqual([
        [2, 'succeeded'],
        [1, 'succeeded'],
      ]);

      const unknownVerb = await app.inject({ method: 'POST', url: `/v1/tenants/${tenant}/webhook-endpoints/${endpoint.id}/deliveries/${done.id}:resend`, headers: admin });
      expect(unknownVerb.statusCode).toBe(404);
      const unknownDelivery = await app.inject({ method: 'POST', url: `/v1/tenants/${tenant}/webhook-endpoints/${endpoint.id}/deliveries/whdl_nope:retry`, headers: admin });
      expect(unknownDelivery.statusCode).toBe(404);
    });

    it('sends exactly one integration.health_changed when a verification flips healthy to unhealthy', async () => {
      const { tenant, admin } = await newTenant();
      let upstreamStatus = 200;
      const upstream = createServer((req, res) => {
        res.statusCode = upstreamStatus;
        res.end('{}');
      });
      await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
      try {
        const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
        await createIntegration(tenant, admin, 'flips', upstreamUrl);
        const verify = async (expected: string) => {
          const res = await app.inject({ method: 'POST', url: `/v1/tenants/${tenant}/integrations/flips:verifyConfig`, headers: admin });
          expect(res.statusCode).toBe(200);
          expect(res.json().status).toBe(expected);
        };
        await verify('healthy');
        await dispatcher.runOnce();

        const endpoint = await createEndpoint(tenant, admin, { url: receiver.url('/health'), events: ['integration.health_changed'] });
        await verify('healthy');
        upstreamStatus = 401;
        await verify('unhealthy');
        await verify('unhealthy');
        await runUntil(() => receiver.at('/health').length >= 1);
        await dispatcher.runOnce();

        const got = receiver.at('/health');
        expect(got).toHaveLength(1);
        expect(JSON.parse(got[0].body)).toMatchObject({
          type: 'integration.health_changed',
          tenantId: tenant,
          data: { integrationId: 'flips', previousStatus: 'healthy', status: 'unhealthy', errorCode: 'AUTH_FAILED' },
        });
        expect(matchingSignatures(endpoint.secret, got[0].headers, got[0].body)).toBe(1);
        expect(await deliveries(tenant, admin, endpoint.id)).toEqual([expect.objectContaining({ eventType: 'integration.health_changed', status: 'succeeded' })]);
      } finally {
        upstream.closeAllConnections();
        await new Promise<void>((resolve) => upstream.close(() => resolve()));
      }
    });

    it('refuses a receiver the SSRF policy blocks, without connecting to it and without retrying', async () => {
      const { tenant, admin } = await newTenant();
      let connections = 0;
      const canary: TcpServer = createTcpServer((socket) => {
        connections += 1;
        socket.destroy();
      });
      await new Promise<void>((resolve) => canary.listen(0, '127.0.0.2', resolve));
      try {
        const url = `http://127.0.0.2:${(canary.address() as AddressInfo).port}/hook`;
        const endpoint = await createEndpoint(tenant, admin, { url, events: ['*'] });
        await createIntegration(tenant, admin, 'blocked');
        await runUntil(async () => (await deliveries(tenant, admin, endpoint.id)).some((d) => d.status !== 'pending'));
        await dispatcher.runOnce();
        await dispatcher.runOnce();

        const list = await deliveries(tenant, admin, endpoint.id);
        expect(list).toEqual([expect.objectContaining({ status: 'blocked', attempt: 1, responseStatus: null, nextAttemptAt: null, error: expect.objectContaining({ code: 'BLOCKED_DESTINATION' }) })]);
        expect(connections).toBe(0);
      } finally {
        await new Promise<void>((resolve) => canary.close(() => resolve()));
      }
    });

    it('signs with both secrets for a day after :rotateSecret, and shows the new one once', async () => {
      const { tenant, admin } = await newTenant();
      const endpoint = await createEndpoint(tenant, admin, { url: receiver.url('/rotated'), events: ['*'] });

      const stale = await app.inject({ method: 'POST', url: `/v1/tenants/${tenant}/webhook-endpoints/${endpoint.id}:rotateSecret`, headers: { ...admin, 'if-match': '"old"' } });
      expect(stale.statusCode).toBe(412);
      const rotated = await app.inject({ method: 'POST', url: `/v1/tenants/${tenant}/webhook-endpoints/${endpoint.id}:rotateSecret`, headers: admin });
      expect(rotated.statusCode).toBe(200);
      const fresh = rotated.json();
      secretsShown.push(fresh.secret);
      expect(fresh.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(fresh.secret).not.toBe(endpoint.secret);
      expect(fresh.etag).not.toBe(endpoint.etag);
      const expiresIn = new Date(fresh.previousSecretExpiresAt).getTime() - Date.now();
      expect(expiresIn).toBeGreaterThan(23.9 * 3600_000);
      expect(expiresIn).toBeLessThanOrEqual(24 * 3600_000);
      const read = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/webhook-endpoints/${endpoint.id}`, headers: admin });
      expect(read.json().secret).toBe(REDACTED);

      await createIntegration(tenant, admin, 'rotated');
      await runUntil(() => receiver.at('/rotated').length >= 1);
      const [got] = receiver.at('/rotated');
      const signatures = String(got.headers['webhook-signature']).split(' ');
      expect(signatures).toHaveLength(2);
      expect(signatures.every((s) => s.startsWith('v1,'))).toBe(true);
      expect(matchingSignatures(fresh.secret, got.headers, got.body)).toBe(1);
      expect(matchingSignatures(endpoint.secret, got.headers, got.body)).toBe(1);

      // Once the day is over only the new secret signs.
      await dataSource.query(`UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second' WHERE tenant_id = $1 AND id = $2`, [tenant, endpoint.id]);
      await createIntegration(tenant, admin, 'rotated-later');
      await runUntil(() => receiver.at('/rotated').length >= 2);
      const later = receiver.at('/rotated')[1];
      expect(String(later.headers['webhook-signature']).split(' ')).toHaveLength(1);
      expect(matchingSignatures(fresh.secret, later.headers, later.body)).toBe(1);
      expect(matchingSignatures(endpoint.secret, later.headers, later.body)).toBe(0);

      const unknownVerb = await app.inject({ method: 'POST', url: `/v1/tenants/${tenant}/webhook-endpoints/${endpoint.id}:rotate`, headers: admin });
      expect(unknownVerb.statusCode).toBe(404);
    });

    it('delivers each event exactly once when two instances dispatch at the same time', async () => {
      const second = await startTestApp({ WEBHOOK_RETRY_BASE_MS: '10' });
      const other = second.app.get(WebhookDispatcher);
      const { tenant, admin } = await newTenant();
      const endpoint = await createEndpoint(tenant, admin, { url: receiver.url('/race'), events: ['integration.created'] });
      // Each event fails once, so the instances compete for the retries as well as for the fan-out and first attempts.
      const failedOnce = new Set<string>();
      receiver.answer = async (path, _count, headers) => {
        if (path !== '/race') return 200;
        await sleep(10);
        const id = String(headers['webhook-id']);
        if (failedOnce.has(id)) return 200;
        failedOnce.add(id);
        return 500;
      };
      let stop = false;
      const loop = async (which: WebhookDispatcher) => {
        while (!stop) {
          await which.runOnce();
          await sleep(2);
        }
      };
      const loops = [loop(dispatcher), loop(other), loop(dispatcher), loop(other)];
      try {
        for (let i = 0; i < 12; i++) await createIntegration(tenant, admin, `race-${i}`);
        for (let wait = 0; wait < 500 && receiver.at('/race').filter((r) => r.answered === 200).length < 12; wait++) await sleep(20);
        await sleep(100);
      } finally {
        stop = true;
        await Promise.all(loops);
        receiver.answer = () => 200;
        await second.app.close();
      }

      const byEvent = new Map<string, number[]>();
      for (const r of receiver.at('/race')) byEvent.set(String(r.headers['webhook-id']), [...(byEvent.get(String(r.headers['webhook-id'])) ?? []), r.answered]);
      expect(byEvent.size).toBe(12);
      for (const answers of byEvent.values()) expect(answers).toEqual([500, 200]);
      const list = await deliveries(tenant, admin, endpoint.id);
      expect(list).toHaveLength(24);
      expect(list.filter((d) => d.status === 'succeeded').every((d) => d.attempt === 2)).toBe(true);
      expect(list.filter((d) => d.status === 'failed').every((d) => d.attempt === 1)).toBe(true);
    });
  });

  it('runs by itself on an interval outside tests, and stops when the app closes', async () => {
    const running = await startTestApp({ NODE_ENV: 'development', WEBHOOK_RETRY_BASE_MS: '10' });
    try {
      const { tenant, admin } = await newTenant();
      await createEndpoint(tenant, admin, { url: receiver.url('/interval'), events: ['integration.created'] });
      await createIntegration(tenant, admin, 'interval');
      for (let wait = 0; wait < 100 && receiver.at('/interval').length === 0; wait++) await sleep(50);
      expect(receiver.at('/interval')).toHaveLength(1);
    } finally {
      await running.app.close();
    }
  });

  it('never puts a secret in what receivers get or in stored payloads', async () => {
    expect(receiver.received.length).toBeGreaterThan(10);
    expect(secretsShown.length).toBeGreaterThan(5);
    const everything = JSON.stringify(receiver.received);
    const stored = JSON.stringify(await dataSource.query(`SELECT payload, error FROM webhook_deliveries`));
    for (const text of [everything, stored]) {
      expect(text).not.toContain(PLANTED_CREDENTIAL);
      expect(text).not.toContain('whsec_');
      for (const secret of secretsShown) expect(text).not.toContain(secret.slice(6));
    }
  });
});
