import { spawn, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { TEST_ENCRYPTION_KEYS } from '../support/test-app';
import { TEST_JWT_SECRET } from '../support/tokens';

export const ROOT = resolve(__dirname, '..', '..');

/** A TCP port nobody listens on right now (closed again before it is returned). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createNetServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ServiceProcess {
  child: ChildProcess;
  port: number;
  url: string;
  /** Everything the service wrote to stderr (logs are silent; startup messages only). */
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * The service as production runs it, in its own process: `node -r ts-node/register/transpile-only src/main.ts`
 * on this run's database. Resolves once /healthz answers.
 */
export async function spawnService(env: Record<string, string> = {}, port?: number): Promise<ServiceProcess> {
  const databaseUrl = process.env.TEST_DATABASE_URL;
  if (!databaseUrl) throw new Error('TEST_DATABASE_URL is not set: run through npm test');
  const chosen = port ?? (await freePort());
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      HOST: '127.0.0.1',
      PORT: String(chosen),
      DATABASE_URL: databaseUrl,
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      RATE_LIMIT_PER_MINUTE: '0',
      OUTBOUND_ALLOWED_HOSTS: '127.0.0.1',
      TS_NODE_TRANSPILE_ONLY: 'true',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })));
  const url = `http://127.0.0.1:${chosen}`;
  const deadline = Date.now() + 60_000;
  let exitedEarly = false;
  void exited.then(() => {
    exitedEarly = true;
  });
  for (;;) {
    if (exitedEarly) throw new Error(`service exited during startup: ${stderr.slice(-2000)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`service did not become healthy within 60 s: ${stderr.slice(-2000)}`);
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    await sleep(150);
  }
  return { child, port: chosen, url, stderr: () => stderr, exited };
}

/** Stops a child that a test left running (never a process this file did not start). */
export async function killService(service: ServiceProcess | undefined): Promise<void> {
  if (!service || service.child.exitCode !== null || service.child.signalCode !== null) return;
  service.child.kill('SIGKILL');
  await service.exited;
}

export interface Upstream {
  url: string;
  port: number;
  seen: { url: string; headers: IncomingHttpHeaders; at: number }[];
  /** API keys the upstream answers 200 for; anything else is 401. Empty: every request is 200. */
  acceptedKeys: Set<string>;
  delayMs: number;
  close(): Promise<void>;
}

/** A loopback third-party API: answers after `delayMs`, 200 for an accepted X-API-Key (or any key when the set is empty). */
export async function startUpstream(delayMs = 0): Promise<Upstream> {
  const upstream: Upstream = { url: '', port: 0, seen: [], acceptedKeys: new Set(), delayMs, close: async () => undefined };
  const server: Server = createHttpServer((req, res) => {
    upstream.seen.push({ url: req.url ?? '', headers: req.headers, at: Date.now() });
    const key = String(req.headers['x-api-key'] ?? '');
    const answer = () => {
      res.statusCode = upstream.acceptedKeys.size === 0 || upstream.acceptedKeys.has(key) ? 200 : 401;
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    };
    if (upstream.delayMs > 0) setTimeout(answer, upstream.delayMs);
    else answer();
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  upstream.port = (server.address() as AddressInfo).port;
  upstream.url = `http://127.0.0.1:${upstream.port}`;
  upstream.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return upstream;
}

/** p-th percentile (0..100) of a list of numbers, nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** A real `gc()` inside Jest (which does not pass --expose-gc): flip the flag, then fetch it from a fresh context. */
export function forceGc(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
}

/** Runs `work` for every item with at most `limit` in flight. */
export async function inPool<T>(items: T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index], index);
    }
  });
  await Promise.all(runners);
}

/** Checks the RFC 9457 shape API.md promises for every error. */
export function problemShapeErrors(status: number, contentType: string | undefined, body: string): string[] {
  const errors: string[] = [];
  if (!/^application\/problem\+json/.test(contentType ?? '')) errors.push(`content-type ${String(contentType)}`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return [...errors, 'body is not JSON'];
  }
  for (const field of ['type', 'title', 'status', 'detail', 'instance', 'requestId']) {
    if (!(field in json)) errors.push(`missing ${field}`);
  }
  if (json.status !== status) errors.push(`status field ${String(json.status)} != ${status}`);
  return errors;
}
