import { request as httpRequest } from 'node:http';
import { uniqueId } from '../support/test-app';
import { mintToken } from '../support/tokens';
import { killService, sleep, spawnService, startUpstream, type ServiceProcess, type Upstream } from './support';

const SLOW_CHECKS = 20;
const EXIT_BUDGET_MS = 15_000;

/** One request on a connection of its own (no keep-alive pool), so "refused" means the listener is gone. */
function freshRequest(url: string, token: string): Promise<{ status: number; contentType: string } | { error: string }> {
  return new Promise((done) => {
    const req = httpRequest(url, { method: 'GET', agent: false, headers: { authorization: `Bearer ${token}`, connection: 'close' }, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => done({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? '') }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error: NodeJS.ErrnoException) => done({ error: error.code ?? error.message }));
    req.end();
  });
}

describe('graceful shutdown: SIGTERM under load', () => {
  let service: ServiceProcess | undefined;
  let upstream: Upstream;
  const tenant = uniqueId('term');
  const editorToken = mintToken({ tenant, roles: ['editor'], sub: 'term-editor' });
  let exitWait: Promise<{ exit: { code: number | null; signal: NodeJS.Signals | null } | 'still running'; ms: number }> | undefined;

  beforeAll(async () => {
    upstream = await startUpstream(1000);
    service = await spawnService({ VERIFY_MAX_IN_FLIGHT_PER_TENANT: '100', VERIFY_MAX_PER_MINUTE_PER_TENANT: '10000', VERIFY_TIMEOUT_MS: '10000' });
  }, 90_000);

  afterAll(async () => {
    await killService(service);
    await upstream?.close();
  });

  it('lets in-flight requests finish with 2xx and turns new connections away cleanly', async () => {
    const base = service!.url;
    const post = (path: string, token: string, body?: unknown) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(20_000),
      });
    expect((await post('/v1/tenants', mintToken({ roles: ['platform-admin'], sub: 'root' }), { id: tenant, displayName: 'Term' })).status).toBe(201);
    for (let i = 0; i < SLOW_CHECKS; i++) {
      const res = await post(`/v1/tenants/${tenant}/integrations`, editorToken, {
        id: `slow-${i}`,
        displayName: `Slow ${i}`,
        connector: 'http',
        parameters: { baseUrl: upstream.url },
        authMethod: 'API_KEY',
        credentials: { apiKey: `slow-key-${i}` },
      });
      expect(res.status).toBe(201);
    }

    // 20 checks that each take a second upstream, with reads running alongside.
    const checks = Array.from({ length: SLOW_CHECKS }, (_, i) =>
      post(`/v1/tenants/${tenant}/integrations/slow-${i}:verifyConfig`, editorToken).then(
        async (res) => ({ status: res.status, body: (await res.json()) as { status?: string } }),
        (error: Error) => ({ status: 0, body: { status: `${error.name}: ${(error.cause as Error | undefined)?.message ?? error.message}` } }),
      ),
    );
    const deadline = Date.now() + 10_000;
    while (upstream.seen.length < SLOW_CHECKS && Date.now() < deadline) await sleep(10);
    expect(upstream.seen.length).toBe(SLOW_CHECKS);
    // Reads keep coming, each on a new connection, from before the signal until the process is gone.
    let signalled = false;
    let stopReading = false;
    const readsBefore: Awaited<ReturnType<typeof freshRequest>>[] = [];
    const readsAfter: Awaited<ReturnType<typeof freshRequest>>[] = [];
    const readers = Array.from({ length: 2 }, async (_, w) => {
      for (let n = 0; !stopReading; n++) {
        const outcome = await freshRequest(`${base}/v1/tenants/${tenant}/integrations/slow-${(n + w) % SLOW_CHECKS}`, editorToken);
        (signalled ? readsAfter : readsBefore).push(outcome);
        if ('error' in outcome) await sleep(20);
      }
    });
    await sleep(300);
    const signalledAt = Date.now();
    signalled = true;
    service!.child.kill('SIGTERM');
    // The listener closes once Nest's destroy hooks have run; until then a new client is still served.
    let listenerClosedMs = -1;
    while (Date.now() - signalledAt < 5000) {
      const probe = await freshRequest(`${base}/healthz`, editorToken);
      if ('error' in probe) {
        listenerClosedMs = Date.now() - signalledAt;
        break;
      }
      expect([200, 503]).toContain(probe.status);
      await sleep(25);
    }
    expect(listenerClosedMs).toBeGreaterThanOrEqual(0);

    // New clients from then on: refused, or a clean 503; never a hang or another status.
    const late = await Promise.all(Array.from({ length: 10 }, () => freshRequest(`${base}/v1/tenants/${tenant}/integrations`, editorToken)));
    for (const outcome of late) {
      if ('error' in outcome) expect(outcome.error).toBe('ECONNREFUSED');
      else expect(outcome).toEqual({ status: 503, contentType: expect.stringMatching(/^application\/(problem\+)?json/) });
    }

    const checked = await Promise.all(checks);
    const checksDoneMs = Date.now() - signalledAt;
    expect(checked.map((c) => c.status)).toEqual(Array(SLOW_CHECKS).fill(200));
    expect(checked.map((c) => c.body.status)).toEqual(Array(SLOW_CHECKS).fill('healthy'));

    await sleep(300);
    stopReading = true;
    await Promise.all(readers);
    expect(readsBefore.length).toBeGreaterThan(0);
    expect(readsBefore.filter((r) => !('status' in r) || r.status !== 200)).toEqual([]);
    // Racing the signal: served, a clean 503, or turned away at the socket (a connection still in the
    // kernel's accept queue when the listener closes is reset); never another status, never a hang.
    for (const outcome of readsAfter) {
      if ('error' in outcome) expect(['ECONNREFUSED', 'ECONNRESET']).toContain(outcome.error);
      else expect([200, 503]).toContain(outcome.status);
    }
    const after = (test: (o: (typeof readsAfter)[number]) => boolean) => readsAfter.filter(test).length;
    const refused = late.filter((o) => 'error' in o).length;
    console.log(
      `graceful shutdown: SIGTERM with ${SLOW_CHECKS} slow :verifyConfig in flight (1 s upstream): ${checked.filter((c) => c.status === 200).length}/${SLOW_CHECKS} answered 200 healthy ${checksDoneMs} ms after the signal; ` +
        `reads alongside: ${readsBefore.length} before the signal all 200, ${readsAfter.length} racing it: ${after((o) => 'status' in o && o.status === 200)} x 200, ${after((o) => 'status' in o && o.status === 503)} x 503, ${after((o) => 'error' in o)} turned away at the socket; ` +
        `listener closed ${listenerClosedMs} ms after the signal; ${late.length} new connections after that: ${refused} refused, ${late.length - refused} answered 503`,
    );

    exitWait = Promise.race([service!.exited, sleep(EXIT_BUDGET_MS).then(() => 'still running' as const)]).then((exit) => ({ exit, ms: Date.now() - signalledAt }));
  }, 120_000);

  // KNOWN BUG (see docs/reliability.md): the process lingers until Fastify's 72 s keep-alive timeout
  // lets go of connections that were busy at close time, then dies by the re-raised signal (status 143)
  // instead of exiting 0. Written as `failing` so the suite stays green; make it `it` once fixed.
  it(`exits with code 0 within ${EXIT_BUDGET_MS / 1000} s of SIGTERM, even with keep-alive clients connected`, async () => {
    expect(exitWait).toBeDefined();
    const { exit, ms } = await exitWait!;
    console.log(
      `graceful shutdown exit: ${exit === 'still running' ? `still running ${ms} ms after SIGTERM` : `exited ${ms} ms after SIGTERM with ${exit.code === null ? `signal ${exit.signal}` : `code ${exit.code}`}`}`,
    );
    expect(exit).toEqual({ code: 0, signal: null });
  }, 30_000);
});
