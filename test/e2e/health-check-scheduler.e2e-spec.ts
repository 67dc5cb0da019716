import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { HealthCheckScheduler, type HealthCheckRunSummary } from '../../src/verification/health-check.scheduler';
import { startTestApp, uniqueId } from '../support/test-app';
import { bearer, mintToken } from '../support/tokens';

const INTERVAL_MINUTES = 5;

/** A loopback API that answers 200 to everything, slowly enough for two runs to overlap, counting requests per path. */
async function startCountingUpstream(): Promise<{ url: string; hits: Map<string, number>; close(): Promise<void> }> {
  const hits = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    hits.set(path, (hits.get(path) ?? 0) + 1);
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), 50);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, hits, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function total(summaries: HealthCheckRunSummary[], kind: 'integrations' | 'connections', field: 'claimed' | 'checked' | 'skipped' | 'failed'): number {
  return summaries.reduce((sum, s) => sum + s[kind][field], 0);
}

// Three app instances on a database of their own: the scheduler claims every due row of the database,
// so other suites' integrations (running in parallel on the shared test database) must not be there.
jest.setTimeout(60_000);

describe('health-check scheduler', () => {
  let appA: NestFastifyApplication;
  let appB: NestFastifyApplication;
  let appOff: NestFastifyApplication;
  let db: DataSource;
  let upstream: Awaited<ReturnType<typeof startCountingUpstream>>;
  const databaseName = `switchboard_hc_${randomBytes(4).toString('hex')}`;
  const integrationPaths = Array.from({ length: 6 }, (_, i) => `/integration-${i}`);
  const connectionPaths = ['/org-0', '/org-1', '/personal-0'];
  let tenant: string;

  function serverClient(): Client {
    const serverUrl = process.env.TEST_SERVER_URL;
    if (!serverUrl) throw new Error('TEST_SERVER_URL is not set: run through npm test');
    return new Client({ connectionString: serverUrl });
  }

  async function seed(): Promise<void> {
    tenant = uniqueId('health');
    const root = bearer(mintToken({ sub: 'root', roles: ['platform-admin'] }));
    expect((await appA.inject({ method: 'POST', url: '/v1/tenants', headers: root, payload: { id: tenant, displayName: 'Health checks' } })).statusCode).toBe(201);
    const editor = bearer(mintToken({ sub: 'bob', tenant, roles: ['editor'] }));
    const viewer = bearer(mintToken({ sub: 'alice', tenant, roles: ['viewer'] }));
    const ids: string[] = [];
    for (const testPath of integrationPaths) {
      const id = uniqueId('api');
      const created = await appA.inject({
        method: 'POST',
        url: `/v1/tenants/${tenant}/integrations`,
        headers: editor,
        payload: { id, displayName: id, connector: 'http', parameters: { baseUrl: upstream.url, testPath }, authMethod: 'API_KEY', credentials: { apiKey: 'integration-key' } },
      });
      expect(created.statusCode).toBe(201);
      ids.push(id);
    }
    const connections: [Record<string, string>, string, string][] = [
      [editor, 'organizational', connectionPaths[0]],
      [editor, 'organizational', connectionPaths[1]],
      [viewer, 'personal', connectionPaths[2]],
    ];
    for (const [who, accessScope, testPath] of connections) {
      const created = await appA.inject({
        method: 'POST',
        url: `/v1/tenants/${tenant}/integrations/${ids[0]}/connections`,
        headers: who,
        payload: { name: testPath, accessScope, authMethod: 'API_KEY', credentials: { apiKey: 'connection-key' }, parameters: { testPath } },
      });
      expect(created.statusCode).toBe(201);
    }
  }

  async function checkedRows(): Promise<{ kind: string; health_status: string; next_check_at: Date | null }[]> {
    return db.query(
      `SELECT 'integration' AS kind, health_status, next_check_at FROM integrations WHERE tenant_id = $1
        UNION ALL SELECT 'connection', health_status, next_check_at FROM connections WHERE tenant_id = $1`,
      [tenant],
    );
  }

  beforeAll(async () => {
    const client = serverClient();
    await client.connect();
    await client.query(`CREATE DATABASE ${databaseName}`);
    await client.end();
    const url = new URL(process.env.TEST_SERVER_URL as string);
    url.pathname = `/${databaseName}`;
    const env = { DATABASE_URL: url.toString() };
    upstream = await startCountingUpstream();
    ({ app: appA } = await startTestApp({ ...env, HEALTH_CHECK_INTERVAL_MINUTES: String(INTERVAL_MINUTES) }));
    ({ app: appB } = await startTestApp({ ...env, HEALTH_CHECK_INTERVAL_MINUTES: String(INTERVAL_MINUTES) }));
    ({ app: appOff } = await startTestApp(env));
    db = appA.get(DataSource);
    await seed();
  });

  afterAll(async () => {
    for (const app of [appA, appB, appOff]) await app?.close();
    await upstream?.close();
    const client = serverClient();
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
    await client.end();
  });

  it('two instances running at once check every due integration and connection exactly once', async () => {
    const before = Date.now();
    const summaries = await Promise.all([appA.get(HealthCheckScheduler).runOnce(), appB.get(HealthCheckScheduler).runOnce()]);
    const after = Date.now();

    for (const path of [...integrationPaths, ...connectionPaths]) expect([path, upstream.hits.get(path)]).toEqual([path, 1]);
    expect(total(summaries, 'integrations', 'checked')).toBe(6);
    expect(total(summaries, 'connections', 'checked')).toBe(3);
    for (const field of ['skipped', 'failed'] as const) {
      expect(total(summaries, 'integrations', field)).toBe(0);
      expect(total(summaries, 'connections', field)).toBe(0);
    }

    const rows = await checkedRows();
    expect(rows).toHaveLength(9);
    for (const row of rows) {
      expect(row.health_status).toBe('healthy');
      const due = new Date(row.next_check_at as Date).getTime();
      expect(due).toBeGreaterThanOrEqual(before + INTERVAL_MINUTES * 60_000 - 5_000);
      expect(due).toBeLessThanOrEqual(after + INTERVAL_MINUTES * 60_000 + 5_000);
    }
    const [audit] = await db.query(`SELECT count(*)::int AS n FROM audit_events WHERE tenant_id = $1 AND actor = 'system:health-check' AND request_id LIKE 'sched\\_%'`, [tenant]);
    expect(audit.n).toBe(9);
  });

  it('checks nothing again before the interval has passed', async () => {
    const hitsBefore = [...upstream.hits.values()].reduce((a, b) => a + b, 0);
    const summaries = await Promise.all([appA.get(HealthCheckScheduler).runOnce(), appB.get(HealthCheckScheduler).runOnce()]);
    expect(total(summaries, 'integrations', 'claimed') + total(summaries, 'connections', 'claimed')).toBe(0);
    expect([...upstream.hits.values()].reduce((a, b) => a + b, 0)).toBe(hitsBefore);
  });

  it('checks nothing with HEALTH_CHECK_INTERVAL_MINUTES at its default of 0, even for overdue rows', async () => {
    await db.query(`UPDATE integrations SET next_check_at = now() - interval '1 minute' WHERE tenant_id = $1`, [tenant]);
    await db.query(`UPDATE connections SET next_check_at = now() - interval '1 minute' WHERE tenant_id = $1`, [tenant]);
    const hitsBefore = [...upstream.hits.values()].reduce((a, b) => a + b, 0);
    const summary = await appOff.get(HealthCheckScheduler).runOnce();
    expect(summary.integrations.claimed + summary.connections.claimed).toBe(0);
    expect([...upstream.hits.values()].reduce((a, b) => a + b, 0)).toBe(hitsBefore);
  });
});
