import { Agent, request } from 'node:http';
import autocannon, { type Request, type Result } from 'autocannon';
import { cpuMs } from './processes';

export interface LoadStats {
  /** Successful (2xx) requests per second over the measured time. */
  rps: number;
  /** Latency of 2xx responses, ms, from every response's own hrtime (not autocannon's whole-ms histogram). */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  seconds: number;
  /** How many alternating rounds were merged. */
  rounds: number;
  /** CPU time the target process spent per answered request, ms (user + system, from /proc): robust to background load, unlike req/s. */
  cpuMsPerRequest: number | null;
  /** The service's RSS right after its last slice (service runs only). */
  serviceRssMb?: number;
}

/** One autocannon run, raw: counts plus every 2xx latency. */
export interface LoadRun {
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  seconds: number;
  latencies: number[];
  /** CPU ms the target process used during the run, when known. */
  cpuMs: number | null;
}

export interface LoadOptions {
  port: number;
  /** The target's pid, to account its CPU time. */
  pid?: number;
  connections: number;
  seconds: number;
  requests: Request[];
}

export async function runLoad(options: LoadOptions): Promise<LoadRun> {
  const latencies: number[] = [];
  const cpuBefore = options.pid ? cpuMs(options.pid) : null;
  const instance = autocannon({
    url: `http://127.0.0.1:${options.port}`,
    connections: options.connections,
    duration: options.seconds,
    timeout: 10,
    requests: options.requests,
  });
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const result: Result = await instance;
  const cpuAfter = options.pid ? cpuMs(options.pid) : null;
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = count;
  return { ok: result['2xx'], non2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts, statusCodes, seconds: result.duration, latencies, cpuMs: cpuBefore !== null && cpuAfter !== null ? cpuAfter - cpuBefore : null };
}

/** Adds up the rounds of one target's measurement. */
export function mergeRuns(runs: LoadRun[]): LoadStats {
  const latencies = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const statusCodes: Record<string, number> = {};
  for (const r of runs) for (const [code, n] of Object.entries(r.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + n;
  const sum = (f: (r: LoadRun) => number) => runs.reduce((a, r) => a + f(r), 0);
  const seconds = sum((r) => r.seconds);
  const ok = sum((r) => r.ok);
  const answered = ok + sum((r) => r.non2xx);
  const cpu = runs.every((r) => r.cpuMs !== null) ? sum((r) => r.cpuMs ?? 0) : null;
  return {
    rps: seconds > 0 ? ok / seconds : 0,
    p50: round(quantile(latencies, 0.5)),
    p90: round(quantile(latencies, 0.9)),
    p99: round(quantile(latencies, 0.99)),
    max: round(latencies[latencies.length - 1] ?? 0),
    ok,
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    statusCodes,
    seconds: Math.round(seconds * 100) / 100,
    rounds: runs.length,
    cpuMsPerRequest: cpu !== null && answered > 0 ? Math.round((cpu / answered) * 1000) / 1000 : null,
  };
}

function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0;
}

export interface Call {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP call over `agent` (a keep-alive agent makes later calls reuse the connection). */
export function call(port: number, c: Call, agent?: Agent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(c.headers ?? {}) };
    if (c.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(c.body));
    }
    const req = request({ host: '127.0.0.1', port, method: c.method, path: c.path, headers, agent: agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`${c.method} ${c.path}: no answer within 15 s`)));
    req.on('error', reject);
    req.end(c.body);
  });
}

export interface SerialStats {
  count: number;
  non2xx: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
}

/**
 * Unloaded latency: one keep-alive connection, one request at a time, for
 * `seconds`, timed with hrtime. This is what "overhead" means for a single
 * call. Returns every latency, so alternating rounds can be merged.
 */
export async function serialTimes(port: number, seconds: number, next: () => Call): Promise<{ times: number[]; non2xx: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  let non2xx = 0;
  const until = performance.now() + seconds * 1000;
  try {
    // A few untimed calls open the connection and warm the path.
    for (let i = 0; i < 3; i += 1) await call(port, next(), agent);
    while (performance.now() < until) {
      const started = process.hrtime.bigint();
      const reply = await call(port, next(), agent);
      times.push(Number(process.hrtime.bigint() - started) / 1e6);
      if (reply.status < 200 || reply.status >= 300) non2xx += 1;
    }
  } finally {
    agent.destroy();
  }
  return { times, non2xx };
}

export function serialStats(parts: { times: number[]; non2xx: number }[]): SerialStats {
  const times = parts.flatMap((p) => p.times).sort((a, b) => a - b);
  return {
    count: times.length,
    non2xx: parts.reduce((a, p) => a + p.non2xx, 0),
    p50: round(quantile(times, 0.5)),
    p90: round(quantile(times, 0.9)),
    p99: round(quantile(times, 0.99)),
    mean: round(times.reduce((a, b) => a + b, 0) / Math.max(1, times.length)),
  };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
