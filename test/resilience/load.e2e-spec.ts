import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Agent } from 'undici';
import { startTestApp, uniqueId } from '../support/test-app';
import { mintToken } from '../support/tokens';
import { percentile, startUpstream, type Upstream } from './support';

const WORKERS = 50;
const CONTENDED = 5;
const DURATION_MS = Number(process.env.LOAD_SECONDS ?? 30) * 1000;

interface ContendedAck {
  integration: string;
  basedOn: string;
  etag: string;
  value: string;
}

/**
 * 50 clients for 30 s against a listening app: reads, If-Match PATCHes and verifications. Each
 * worker owns one integration (so its writes never conflict and every acknowledged value must be
 * the one read back); five more are shared, where If-Match must serialise the writers into one
 * linear history (two acknowledged writes based on the same version would be a lost update).
 */
describe('load', () => {
  let app: NestFastifyApplication;
  let upstream: Upstream;
  let base: string;
  const dispatcher = new Agent({ connections: WORKERS + 10, keepAliveTimeout: 10_000 });
  const tenant = uniqueId('load');
  const editor = mintToken({ tenant, roles: ['editor'], sub: 'load-editor' });

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown>; ms: number }> {
    const started = performance.now();
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${editor}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
      // @ts-expect-error undici's dispatcher option is not in the DOM fetch types
      dispatcher,
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {}, ms: performance.now() - started };
  }

  beforeAll(async () => {
    upstream = await startUpstream();
    ({ app } = await startTestApp({ VERIFY_MAX_IN_FLIGHT_PER_TENANT: '1000', VERIFY_MAX_PER_MINUTE_PER_TENANT: '100000', RATE_LIMIT_PER_MINUTE: '0' }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');
    const root = mintToken({ roles: ['platform-admin'], sub: 'root' });
    const created = await fetch(`${base}/v1/tenants`, { method: 'POST', headers: { authorization: `Bearer ${root}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: tenant, displayName: 'Load' }) });
    expect(created.status).toBe(201);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await upstream?.close();
    await dispatcher.close();
  });

  it('serves 50 concurrent clients for 30 s with zero 5xx and zero lost updates', async () => {
    const etagsSeen = new Set<string>();
    const repeatedEtags: string[] = [];
    const noteEtag = (etag: unknown) => {
      if (typeof etag !== 'string') return;
      if (etagsSeen.has(etag)) repeatedEtags.push(etag);
      etagsSeen.add(etag);
    };
    const body = (id: string) => ({ id, displayName: `Load ${id}`, description: '0', connector: 'http', parameters: { baseUrl: upstream.url }, authMethod: 'API_KEY', credentials: { apiKey: `key-${id}` } });
    const owned: { id: string; etag: string; acked: string; counter: number }[] = [];
    const shared: { id: string; initialEtag: string }[] = [];
    for (let i = 0; i < WORKERS + CONTENDED; i++) {
      const id = i < WORKERS ? `own-${i}` : `shared-${i - WORKERS}`;
      const res = await call('POST', `/v1/tenants/${tenant}/integrations`, body(id));
      expect(res.status).toBe(201);
      noteEtag(res.json.etag);
      if (i < WORKERS) owned.push({ id, etag: String(res.json.etag), acked: '0', counter: 0 });
      else shared.push({ id, initialEtag: String(res.json.etag) });
    }

    const statuses = new Map<string, number>();
    const latencies: number[] = [];
    const latencyByKind = new Map<string, number[]>();
    const anomalies: string[] = [];
    const contendedAcks: ContendedAck[] = [];
    let networkErrors = 0;
    const record = (kind: string, status: number, ms: number) => {
      statuses.set(`${kind} ${status}`, (statuses.get(`${kind} ${status}`) ?? 0) + 1);
      latencies.push(ms);
      if (!latencyByKind.has(kind)) latencyByKind.set(kind, []);
      latencyByKind.get(kind)!.push(ms);
      if (status >= 500) anomalies.push(`${kind} answered ${status}`);
    };

    const deadline = Date.now() + DURATION_MS;
    const started = performance.now();
    await Promise.all(
      owned.map(async (mine, w) => {
        let n = 0;
        while (Date.now() < deadline) {
          n += 1;
          const dice = (n * 7 + w) % 20;
          try {
            if (dice < 8) {
              const res = await call('GET', `/v1/tenants/${tenant}/integrations/${mine.id}`);
              record('read', res.status, res.ms);
              // Read-your-writes: the only writer of this integration sees its last acknowledged value.
              if (res.status === 200 && (res.json.description !== mine.acked || res.json.etag !== mine.etag)) anomalies.push(`${mine.id} read ${String(res.json.description)} after ack ${mine.acked}`);
            } else if (dice < 10) {
              const res = await call('GET', `/v1/tenants/${tenant}/integrations?pageSize=20`);
              record('list', res.status, res.ms);
            } else if (dice < 15) {
              const next = String(mine.counter + 1);
              const res = await call('PATCH', `/v1/tenants/${tenant}/integrations/${mine.id}`, { description: next }, { 'if-match': `"${mine.etag}"` });
              record('patch', res.status, res.ms);
              if (res.status === 200) {
                mine.counter += 1;
                mine.acked = next;
                mine.etag = String(res.json.etag);
                noteEtag(res.json.etag);
              } else {
                anomalies.push(`${mine.id} PATCH by its only writer answered ${res.status}`);
              }
            } else if (dice < 17) {
              const res = await call('POST', `/v1/tenants/${tenant}/integrations/${mine.id}:verifyConfig`);
              record('verify', res.status, res.ms);
              if (res.status === 200 && res.json.status !== 'healthy') anomalies.push(`${mine.id} verify ${JSON.stringify(res.json.error)}`);
            } else {
              const target = shared[(n + w) % CONTENDED];
              const read = await call('GET', `/v1/tenants/${tenant}/integrations/${target.id}`);
              record('read', read.status, read.ms);
              if (read.status !== 200) continue;
              const value = `w${w}-${n}`;
              const res = await call('PATCH', `/v1/tenants/${tenant}/integrations/${target.id}`, { description: value }, { 'if-match': String(read.json.etag) });
              record('contended patch', res.status, res.ms);
              if (res.status === 200) {
                contendedAcks.push({ integration: target.id, basedOn: String(read.json.etag), etag: String(res.json.etag), value });
                noteEtag(res.json.etag);
              } else if (res.status !== 412) anomalies.push(`contended PATCH answered ${res.status}`);
            }
          } catch (error) {
            networkErrors += 1;
            anomalies.push(`network: ${(error as Error).message}`);
          }
        }
      }),
    );
    const elapsedS = (performance.now() - started) / 1000;

    // Every acknowledged PATCH of an owned integration is what a fresh read shows.
    const lost: string[] = [];
    for (const mine of owned) {
      const res = await call('GET', `/v1/tenants/${tenant}/integrations/${mine.id}`);
      if (res.json.description !== mine.acked || res.json.etag !== mine.etag) lost.push(`${mine.id}: read ${String(res.json.description)}, acked ${mine.acked}`);
    }
    // Shared ones: acknowledged writes form one chain from the initial etag to the current one.
    for (const target of shared) {
      const acks = contendedAcks.filter((a) => a.integration === target.id);
      const byBase = new Map<string, ContendedAck>();
      for (const ack of acks) {
        if (byBase.has(ack.basedOn)) lost.push(`${target.id}: two writes acknowledged on version ${ack.basedOn}`);
        byBase.set(ack.basedOn, ack);
      }
      let etag = target.initialEtag;
      let value = '0';
      let length = 0;
      while (byBase.has(etag)) {
        const ack = byBase.get(etag)!;
        etag = ack.etag;
        value = ack.value;
        length += 1;
      }
      if (length !== acks.length) lost.push(`${target.id}: ${acks.length - length} acknowledged writes not in the history`);
      const res = await call('GET', `/v1/tenants/${tenant}/integrations/${target.id}`);
      if (res.json.etag !== etag || res.json.description !== value) lost.push(`${target.id}: reads ${String(res.json.description)}, history ends at ${value}`);
    }

    const total = latencies.length;
    const fiveXx = [...statuses].filter(([k]) => Number(k.split(' ').pop()) >= 500).reduce((s, [, c]) => s + c, 0);
    const patches = owned.reduce((s, m) => s + m.counter, 0);
    console.log(
      `load: ${WORKERS} clients x ${elapsedS.toFixed(1)} s, ${total} requests (${(total / elapsedS).toFixed(0)}/s), ${fiveXx} x 5xx, ${networkErrors} network errors; ` +
        `latency p50 ${percentile(latencies, 50).toFixed(1)} ms, p95 ${percentile(latencies, 95).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(0)} ms; ` +
        `${patches} owned PATCHes + ${contendedAcks.length} contended PATCHes acknowledged, ${lost.length} lost updates, ${etagsSeen.size} etags with ${repeatedEtags.length} repeats; ` +
        `p99 by kind ${[...latencyByKind].map(([k, v]) => `${k} ${percentile(v, 99).toFixed(0)} ms`).join(', ')}; ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`,
    );

    expect(anomalies.slice(0, 10)).toEqual([]);
    expect(fiveXx).toBe(0);
    expect(networkErrors).toBe(0);
    expect(lost).toEqual([]);
    expect(repeatedEtags).toEqual([]);
    expect(patches).toBeGreaterThan(WORKERS);
  }, DURATION_MS + 120_000);
});
