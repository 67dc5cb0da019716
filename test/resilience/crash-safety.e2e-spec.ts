import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import type { CryptoService } from '../../src/common/crypto/crypto.service';
import { CRYPTO } from '../../src/common/crypto/crypto.tokens';
import { startTestApp, uniqueId } from '../support/test-app';
import { mintToken } from '../support/tokens';
import { killService, sleep, spawnService, startUpstream, type ServiceProcess, type Upstream } from './support';

interface Sent {
  kind: 'create' | 'update';
  id: string;
  idempotencyKey?: string;
  status?: number;
  body?: { etag?: string; description?: string };
  failed?: string;
}

const PAIRS = 25;
const SERVICE_ENV = { VERIFY_MAX_IN_FLIGHT_PER_TENANT: '100', VERIFY_MAX_PER_MINUTE_PER_TENANT: '10000' };

describe('crash safety: SIGKILL with writes in flight', () => {
  let service: ServiceProcess | undefined;
  let verifier: NestFastifyApplication;
  let upstream: Upstream;
  const tenant = uniqueId('crash');
  const editorToken = mintToken({ tenant, roles: ['admin'], sub: 'crash-editor' });
  const rootToken = mintToken({ roles: ['platform-admin'], sub: 'root' });

  const call = (method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${service!.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });

  const createBody = (id: string, apiKey: string, description: string) => ({
    id,
    displayName: `Crash ${id}`,
    description,
    connector: 'http',
    parameters: { baseUrl: upstream.url },
    authMethod: 'API_KEY',
    credentials: { apiKey },
    headers: { 'X-Trace': `trace-${id}` },
  });

  beforeAll(async () => {
    upstream = await startUpstream();
    [service, { app: verifier }] = await Promise.all([spawnService(SERVICE_ENV), startTestApp()]);
  }, 120_000);

  afterAll(async () => {
    await killService(service);
    await verifier?.close();
    await upstream?.close();
  });

  it('keeps every acknowledged write, half-writes nothing, and everything still decrypts after a restart', async () => {
    expect((await call('POST', '/v1/tenants', rootToken, { id: tenant, displayName: 'Crash' })).status).toBe(201);
    const etags = new Map<string, string>();
    for (let i = 0; i < PAIRS; i++) {
      const res = await call('POST', `/v1/tenants/${tenant}/integrations`, editorToken, createBody(`u-${i}`, `old-key-${i}`, 'v0'));
      expect(res.status).toBe(201);
      etags.set(`u-${i}`, ((await res.json()) as { etag: string }).etag);
    }

    // 25 creates (with Idempotency-Key) and 25 updates (description + credential) at once; SIGKILL once a few are answered.
    const sent: Sent[] = [];
    for (let i = 0; i < PAIRS; i++) {
      sent.push({ kind: 'create', id: `c-${i}`, idempotencyKey: uniqueId('idem') });
      sent.push({ kind: 'update', id: `u-${i}` });
    }
    let answered = 0;
    const inFlight = sent.map(async (op) => {
      const i = Number(op.id.split('-')[1]);
      try {
        const res =
          op.kind === 'create'
            ? await call('POST', `/v1/tenants/${tenant}/integrations`, editorToken, createBody(op.id, `create-key-${i}`, 'created'), { 'idempotency-key': op.idempotencyKey! })
            : await call('PATCH', `/v1/tenants/${tenant}/integrations/${op.id}`, editorToken, { description: 'v1', credentials: { apiKey: `new-key-${i}` } }, { 'if-match': etags.get(op.id)! });
        op.body = (await res.json()) as Sent['body'];
        op.status = res.status;
        answered += 1;
      } catch (error) {
        op.failed = error instanceof Error ? `${error.name}: ${(error.cause as Error | undefined)?.message ?? error.message}` : 'unknown';
      }
    });
    const killDeadline = Date.now() + 5000;
    while (answered < 8 && Date.now() < killDeadline) await sleep(2);
    const answeredAtKill = answered;
    service!.child.kill('SIGKILL');
    expect((await service!.exited).signal).toBe('SIGKILL');
    await Promise.all(inFlight);

    const acknowledged = sent.filter((op) => op.status !== undefined && op.status >= 200 && op.status < 300);
    const lost = sent.filter((op) => op.failed !== undefined);
    expect(sent.filter((op) => op.status !== undefined && op.status >= 500)).toEqual([]);
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(lost.length).toBeGreaterThan(0);

    service = await spawnService(SERVICE_ENV);

    // 1. Every acknowledged write is there, exactly as acknowledged.
    for (const op of acknowledged) {
      const res = await call('GET', `/v1/tenants/${tenant}/integrations/${op.id}`, editorToken);
      expect({ id: op.id, status: res.status }).toEqual({ id: op.id, status: 200 });
      const current = (await res.json()) as { etag: string; description: string; credentials: Record<string, string> };
      expect(current.etag).toBe(op.body!.etag);
      expect(current.description).toBe(op.kind === 'create' ? 'created' : 'v1');
      expect(current.credentials).toEqual({ apiKey: '***REDACTED***' });
    }

    // 2. Nothing half-written: each row is the old state or the new one, whole, and every secret opens.
    const db = verifier.get(DataSource);
    const crypto = verifier.get<symbol, CryptoService>(CRYPTO);
    const rows: { id: string; description: string; secrets: { credentials: Record<string, string>; headers: Record<string, string> } }[] = await db.query(
      `SELECT id, description, secrets FROM integrations WHERE tenant_id = $1 ORDER BY id`,
      [tenant],
    );
    const audit: { action: string; resource_id: string }[] = await db.query(`SELECT action, resource_id FROM audit_events WHERE tenant_id = $1`, [tenant]);
    const audited = (action: string, id: string) => audit.some((a) => a.action === action && a.resource_id === id);
    let decrypted = 0;
    for (const row of rows) {
      const i = Number(row.id.split('-')[1]);
      const open = async (field: string, blob: string) => {
        decrypted += 1;
        return crypto.decrypt({ tenantId: tenant, resourceType: 'integration', resourceId: row.id, field }, blob);
      };
      const apiKey = await open('credentials.apiKey', row.secrets.credentials.apiKey);
      expect(await open('headers.X-Trace', row.secrets.headers['X-Trace'])).toBe(`trace-${row.id}`);
      expect(audited('integration.created', row.id)).toBe(true);
      if (row.id.startsWith('c-')) {
        expect({ id: row.id, description: row.description, apiKey }).toEqual({ id: row.id, description: 'created', apiKey: `create-key-${i}` });
      } else if (row.description === 'v1') {
        expect({ id: row.id, apiKey }).toEqual({ id: row.id, apiKey: `new-key-${i}` });
        expect(audited('integration.updated', row.id)).toBe(true);
      } else {
        expect({ id: row.id, description: row.description, apiKey }).toEqual({ id: row.id, description: 'v0', apiKey: `old-key-${i}` });
        expect(audited('integration.updated', row.id)).toBe(false);
      }
    }
    // No audit event for a create that did not commit.
    for (const event of audit.filter((a) => a.action === 'integration.created')) expect(rows.some((r) => r.id === event.resource_id)).toBe(true);
    const creates = rows.filter((r) => r.id.startsWith('c-')).length;
    const updates = rows.filter((r) => r.description === 'v1').length;

    // 3. The service itself still opens them: every stored credential authenticates upstream, with the value last written.
    for (const row of rows) {
      const before = upstream.seen.length;
      const res = await call('POST', `/v1/tenants/${tenant}/integrations/${row.id}:verifyConfig`, editorToken);
      expect({ id: row.id, status: res.status, health: ((await res.json()) as { status: string }).status }).toEqual({ id: row.id, status: 200, health: 'healthy' });
      const i = Number(row.id.split('-')[1]);
      const expected = row.id.startsWith('c-') ? `create-key-${i}` : row.description === 'v1' ? `new-key-${i}` : `old-key-${i}`;
      expect(upstream.seen.slice(before).map((s) => s.headers['x-api-key'])).toEqual([expected]);
    }

    // 4. A client retrying its creates with the same Idempotency-Key: every create that committed
    //    (acknowledged or not) replays, since its key was completed in the same transaction; none is a 5xx.
    const retries: Record<string, number> = {};
    for (const op of sent.filter((o) => o.kind === 'create')) {
      const i = Number(op.id.split('-')[1]);
      const res = await call('POST', `/v1/tenants/${tenant}/integrations`, editorToken, createBody(op.id, `create-key-${i}`, 'created'), { 'idempotency-key': op.idempotencyKey! });
      const problemType = res.status >= 400 ? ` ${String(((await res.json()) as { type?: string }).type).split('/').pop()}` : '';
      const label = `${res.status}${res.headers.get('idempotency-replayed') ? ' replayed' : ''}${problemType}${rows.some((r) => r.id === op.id) && op.status === undefined ? ' (committed, unacknowledged)' : ''}`;
      retries[label] = (retries[label] ?? 0) + 1;
      expect(res.status).toBeLessThan(500);
      if (op.status === 201 || rows.some((r) => r.id === op.id)) {
        expect(res.status).toBe(201);
        expect(res.headers.get('idempotency-replayed')).toBe('true');
      }
    }

    console.log(
      `crash safety: ${sent.length} writes in flight, SIGKILL after ${answeredAtKill} answers; ${acknowledged.length} acknowledged, ${lost.length} cut off; ` +
        `after restart ${acknowledged.length}/${acknowledged.length} acknowledged writes present, ${creates} of ${PAIRS} creates and ${updates} of ${PAIRS} updates committed, ` +
        `0 half-written rows, ${decrypted} secrets decrypted, ${rows.length} :verifyConfig healthy; Idempotency-Key retries ${JSON.stringify(retries)}`,
    );
  }, 180_000);
});
