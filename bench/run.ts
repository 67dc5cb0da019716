/*
 * `npm run bench [-- options]`: load benchmark of the built service against a
 * raw node:http + pg baseline, on loopback only.
 *
 *   --smoke            tiny data (5 tenants × 10), 2 s runs, no warm-up, 10 connections;
 *                      exits non-zero if any scenario saw an error or a non-2xx (CI runs it)
 *   --scale N          multiplies the tenants (default 1: 1,000 tenants × 100 integrations)
 *   --duration S       seconds per measured run (default 20)
 *   --warmup S         seconds of warm-up before each measured run (default 3)
 *   --connections N    concurrent connections (default 50)
 *   --rounds N         measure each scenario in N rounds, A B, B A, A B …; every goal is judged on
 *                      the median of the N per-round results (default 3; --smoke 1)
 *   --startups N       start the service N times to time start-up; the median is reported (default 3)
 *   --reuse            keep the seeded database if it has the same shape (default: drop and re-seed)
 *   --scenarios a,b    only these: get, list, list-deep, create, patch, verify
 *   --service-only     do not run the baseline
 *   --cpu-prof         run the service under `node --cpu-prof` and summarize its self time
 *   --service-env K=V  set or override one variable of the service's environment (repeatable), for experiments
 *   --node-flags="…"   the service's node flags instead of those of package.json's start:prod, for experiments
 *                      (with "=": the value starts with a dash)
 *   --out FILE         where to write the JSON (default bench/results/<timestamp>.json)
 *
 * DATABASE_URL names the PostgreSQL server (default postgresql://postgres@127.0.0.1:5432/postgres);
 * the benchmark works in its own database there, switchboard_bench (switchboard_bench_smoke for --smoke).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import type { Request } from 'autocannon';
import { sign } from 'jsonwebtoken';
import { Client } from 'pg';
import { formatProfile, summarizeProfile, type ProfileSummary } from './lib/cpu-profile';
import { call, mergeRuns, runLoad, serialStats, serialTimes, type Call, type LoadRun, type LoadStats, type SerialStats } from './lib/load';
import { freePort, readMemory, sampleMemory, sleep, spawnLogged, stopChild, waitForListening, waitForReady } from './lib/processes';
import {
  BENCH_DATABASE,
  BIG_TENANT,
  SMOKE_DATABASE,
  VERIFY_TARGET_ID,
  databaseUrl,
  integrationId,
  readSeedInfo,
  seedDatabase,
  shapeFor,
  tenantId,
  type SeedInfo,
} from './seed';

const ROOT = resolve(__dirname, '..');
const SCENARIO_KEYS = ['get', 'list', 'list-deep', 'create', 'patch', 'verify'] as const;
type ScenarioKey = (typeof SCENARIO_KEYS)[number];
const PAGE_SIZE = 50;

interface Options {
  smoke: boolean;
  scale: number;
  duration: number;
  warmup: number;
  connections: number;
  /** Each scenario is measured in this many rounds, ordered A B, B A, A B …, so background load drifts over both alike; goals use the median round. */
  rounds: number;
  /** How many times the service is started to time its start-up (the last one is benchmarked). */
  startups: number;
  reuse: boolean;
  scenarios: ScenarioKey[];
  serviceOnly: boolean;
  cpuProf: boolean;
  /** Extra or overriding environment of the service, for experiments (LOG_LEVEL=warn …). */
  serviceEnv: Record<string, string>;
  /** node flags the service runs with: by default the ones `npm run start:prod` gives it. */
  nodeFlags: string[];
  out: string | null;
  serverUrl: string;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      smoke: { type: 'boolean', default: false },
      scale: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      rounds: { type: 'string' },
      startups: { type: 'string' },
      reuse: { type: 'boolean', default: false },
      scenarios: { type: 'string' },
      'service-only': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      'service-env': { type: 'string', multiple: true },
      'node-flags': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write('usage: npm run bench -- [--smoke] [--scale N] [--duration S] [--warmup S] [--connections N] [--rounds N] [--startups N] [--reuse] [--scenarios get,list,list-deep,create,patch,verify] [--service-only] [--cpu-prof] [--service-env K=V] [--node-flags="..."] [--out FILE]\n');
    process.exit(0);
  }
  const smoke = values.smoke === true;
  const number = (name: string, raw: string | undefined, fallback: number, min: number): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}`);
    return n;
  };
  const scenarios = (values.scenarios ?? SCENARIO_KEYS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of scenarios) if (!(SCENARIO_KEYS as readonly string[]).includes(s)) throw new Error(`--scenarios: unknown scenario "${s}" (known: ${SCENARIO_KEYS.join(', ')})`);
  return {
    smoke,
    scale: Math.floor(number('scale', values.scale, 1, 1)),
    duration: number('duration', values.duration, smoke ? 2 : 20, 1),
    warmup: number('warmup', values.warmup, smoke ? 0 : 3, 0),
    connections: Math.floor(number('connections', values.connections, smoke ? 10 : 50, 1)),
    rounds: Math.floor(number('rounds', values.rounds, smoke ? 1 : 3, 1)),
    startups: Math.floor(number('startups', values.startups, smoke ? 1 : 3, 1)),
    reuse: values.reuse === true,
    scenarios: scenarios as ScenarioKey[],
    serviceOnly: values['service-only'] === true,
    cpuProf: values['cpu-prof'] === true,
    serviceEnv: Object.fromEntries(
      (values['service-env'] ?? []).map((pair) => {
        const at = pair.indexOf('=');
        if (at < 1) throw new Error(`--service-env takes NAME=value, not "${pair}"`);
        return [pair.slice(0, at), pair.slice(at + 1)];
      }),
    ),
    nodeFlags: values['node-flags'] === undefined ? productionNodeFlags() : values['node-flags'].split(/\s+/).filter(Boolean),
    out: values.out ?? null,
    serverUrl: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
  };
}

/** The node flags of package.json's start:prod (the V8 heap settings production runs with): one place for both. */
function productionNodeFlags(): string[] {
  const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const words = (scripts['start:prod'] ?? '').split(/\s+/);
  return words.slice(words.indexOf('node') + 1).filter((w) => w.startsWith('--'));
}

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

interface Target {
  name: 'service' | 'baseline' | 'fake';
  port: number;
  pid?: number;
}

/** One side of a measurement: where to send what. */
interface Arm {
  target: Target;
  requests: () => Request[];
  prepare?: () => Promise<void>;
}

interface ScenarioResult {
  key: ScenarioKey;
  title: string;
  service: LoadStats | null;
  baseline: LoadStats | null;
  /** :verifyConfig only: the fake upstream called directly, measured alongside. */
  fake?: LoadStats;
  /** The median of the per-round ratios (service req/s ÷ baseline req/s in the same round). */
  ratio: number | null;
  /** Each round's ratio, in the order measured. */
  roundRatios: number[] | null;
  /** Each round's service p99 (ms); the p99 goal uses their median. */
  roundServiceP99: number[] | null;
  /** Baseline CPU per request ÷ service CPU per request: the throughput ratio the two would have on an otherwise idle CPU. */
  cpuRatio: number | null;
  /** The service's own memory gauges after the scenario (from /metrics). */
  serviceMemory?: string;
  note?: string;
}

function randomInt(n: number): number {
  return Math.floor(Math.random() * n);
}

async function main(): Promise<number> {
  const opts = parseOptions();
  const started = performance.now();
  const work = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
  const children: ChildProcess[] = [];
  const onSignal = () => {
    for (const child of children) child.kill('SIGTERM');
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  // 1. The built service.
  if (!existsSync(join(ROOT, 'dist', 'main.js'))) {
    log('dist/main.js is missing: npm run build');
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  }

  // 2. The database.
  const shape = shapeFor(opts.scale, opts.smoke);
  const database = opts.smoke ? SMOKE_DATABASE : BENCH_DATABASE;
  let seed: SeedInfo | null = opts.reuse ? await readSeedInfo(opts.serverUrl, database) : null;
  if (seed && (seed.tenants !== shape.tenants || seed.integrationsPerTenant !== shape.integrationsPerTenant || seed.bigTenantIntegrations !== shape.bigTenantIntegrations)) {
    log(`--reuse: the existing ${database} has another shape; seeding again`);
    seed = null;
  }
  let seededNow = false;
  if (seed) {
    log(`reusing ${database} seeded ${seed.seededAt}`);
  } else {
    log(`seeding ${database}: ${shape.tenants} tenants × ${shape.integrationsPerTenant} integrations + ${shape.bigTenantIntegrations} in ${BIG_TENANT}`);
    seed = await seedDatabase(opts.serverUrl, database, shape, log);
    seededNow = true;
  }
  const benchUrl = databaseUrl(opts.serverUrl, database);
  const db = new Client({ connectionString: benchUrl });
  await db.connect();
  const postgresVersion = (await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]?.v ?? 'unknown';

  const tenants = Array.from({ length: seed.tenants }, (_, i) => tenantId(i));
  const jwtSecret = randomBytes(48).toString('base64url');
  const mint = (tenant: string) => `Bearer ${sign({ tenant_id: tenant, roles: ['editor'] }, jwtSecret, { algorithm: 'HS256', subject: 'bench-user', expiresIn: '3h' })}`;
  const auth = tenants.map(mint);
  const bigAuth = mint(BIG_TENANT);

  let serviceChild: ChildProcess | null = null;
  let memory: ReturnType<typeof sampleMemory> | null = null;
  const results: ScenarioResult[] = [];
  let startupMs = 0;
  const startups: number[] = [];
  let rssAtReadyMb = 0;
  const loadBefore = loadavg().map((l) => Math.round(l * 100) / 100);
  let verify: Record<string, unknown> | null = null;
  const serial: Record<string, SerialStats> = {};
  /** Each round's unloaded p50 (ms) per target. */
  const serialRounds: Record<string, number[]> = {};
  let profile: ProfileSummary | null = null;
  let peakRssMb = 0;
  const serviceLog = join(work, 'service.log');
  const profileDir = join(work, 'cpu-profile');

  try {
    // 3. The fake upstream, and the verify targets pointed at it.
    const upstreamLog = join(work, 'upstream.log');
    const upstream = spawnLogged(process.execPath, ['-r', 'ts-node/register/transpile-only', 'bench/upstream.ts'], { PATH: process.env.PATH, TS_NODE_TRANSPILE_ONLY: 'true' }, ROOT, upstreamLog);
    children.push(upstream);
    const upstreamPort = await waitForListening(upstream, upstreamLog, 30_000);
    await db.query(`UPDATE integrations SET parameters = jsonb_set(parameters, '{baseUrl}', to_jsonb($1::text)) WHERE id = $2 AND tenant_id <> $3`, [
      `http://127.0.0.1:${upstreamPort}`,
      VERIFY_TARGET_ID,
      BIG_TENANT,
    ]);

    // 4. The service, built, as production runs it; start-up is timed from spawn to the first 200 on /readyz.
    const servicePort = await freePort();
    const profileArgs = opts.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '-r', join(ROOT, 'bench/lib/exit-on-sigterm.js')] : [];
    const serviceEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: String(servicePort),
      DATABASE_URL: benchUrl,
      DATA_DIR: join(work, 'data'),
      ENCRYPTION_KEYS: seed.encryptionKeys,
      AUTH_JWT_SECRET: jwtSecret,
      RATE_LIMIT_PER_MINUTE: '0',
      VERIFY_MAX_PER_MINUTE_PER_TENANT: '100000',
      VERIFY_MAX_IN_FLIGHT_PER_TENANT: '1000',
      OUTBOUND_ALLOWED_HOSTS: '127.0.0.1',
      ...opts.serviceEnv,
    };
    for (let attempt = 1; attempt <= opts.startups; attempt += 1) {
      const last = attempt === opts.startups;
      const spawnedAt = performance.now();
      const child = spawnLogged(process.execPath, [...opts.nodeFlags, ...(last ? profileArgs : []), 'dist/main.js'], serviceEnv, ROOT, serviceLog);
      children.push(child);
      await waitForReady(child, servicePort, 60_000, serviceLog);
      startups.push(Math.round(performance.now() - spawnedAt));
      if (last) serviceChild = child;
      else {
        await stopChild(child);
        children.splice(children.indexOf(child), 1);
      }
    }
    if (!serviceChild) throw new Error('the service did not start');
    startupMs = median(startups);
    memory = sampleMemory(serviceChild.pid ?? 0);
    rssAtReadyMb = rssMb(serviceChild);
    log(`service ready on 127.0.0.1:${servicePort} (node ${opts.nodeFlags.join(' ') || 'without flags'}); start-up ${startups.join(', ')} ms (log: ${serviceLog})`);

    // 5. The baseline.
    const service: Target = { name: 'service', port: servicePort, pid: serviceChild.pid };
    let baseline: Target | null = null;
    if (!opts.serviceOnly) {
      const baselineLog = join(work, 'baseline.log');
      const child = spawnLogged(
        process.execPath,
        ['-r', 'ts-node/register/transpile-only', 'bench/baseline/server.ts'],
        { PATH: process.env.PATH, TS_NODE_TRANSPILE_ONLY: 'true', NODE_ENV: 'production', DATABASE_URL: benchUrl, AUTH_JWT_SECRET: jwtSecret, HOST: '127.0.0.1', PORT: '0' },
        ROOT,
        baselineLog,
      );
      children.push(child);
      baseline = { name: 'baseline', port: await waitForListening(child, baselineLog, 60_000), pid: child.pid };
      log(`baseline ready on 127.0.0.1:${baseline.port}`);
    }
    const targets = baseline ? [service, baseline] : [service];
    const fake: Target = { name: 'fake', port: upstreamPort, pid: upstream.pid };

    // 6. Both answer the same thing before anything is measured.
    await sanityCheck(targets, tenants[0], auth[0], opts.scenarios.includes('verify'));

    // 7. The scenarios.
    const runTag = Date.now().toString(36);
    let createCounter = 0;
    const getCall = (): Call => {
      const t = randomInt(tenants.length);
      return { method: 'GET', path: `/v1/tenants/${tenants[t]}/integrations/${integrationId(randomInt(seed.integrationsPerTenant))}`, headers: { authorization: auth[t] } };
    };
    const verifyCall = (): Call => {
      const t = randomInt(tenants.length);
      return { method: 'POST', path: `/v1/tenants/${tenants[t]}/integrations/${VERIFY_TARGET_ID}:verifyConfig`, headers: { authorization: auth[t] } };
    };
    /** autocannon requests drawing a fresh call (random tenant and id) for every request. */
    const drawing = (next: () => Call): Request[] => [
      {
        setupRequest: (req) => {
          const c = next();
          req.method = c.method;
          req.path = c.path;
          req.headers = { ...c.headers };
          return req;
        },
      },
    ];
    const listRequests = (): Request[] =>
      drawing(() => {
        const t = randomInt(tenants.length);
        return { method: 'GET', path: `/v1/tenants/${tenants[t]}/integrations?pageSize=${PAGE_SIZE}`, headers: { authorization: auth[t] } };
      });
    const pages = Math.floor(seed.bigTenantIntegrations / PAGE_SIZE);
    const deepPage = Math.max(2, Math.floor(pages * 0.9));
    const deepPaths = new Map<string, string>();
    const createRequests = (target: Target) => (): Request[] => [
      {
        setupRequest: (req) => {
          const t = randomInt(tenants.length);
          const id = `b${runTag}${target.name[0]}-${(createCounter++).toString(36)}`;
          req.method = 'POST';
          req.path = `/v1/tenants/${tenants[t]}/integrations`;
          req.headers = { authorization: auth[t], 'content-type': 'application/json' };
          req.body = JSON.stringify({
            id,
            displayName: `Bench ${id}`,
            description: 'Created by npm run bench',
            connector: 'http',
            parameters: { baseUrl: 'https://api.example.test', testPath: '/health' },
            authMethod: 'API_KEY',
            credentials: { apiKey: `sk_bench_${id}` },
            headers: { 'X-Extra-Auth': `xa_${id}` },
            tags: ['bench', 'created'],
          });
          return req;
        },
      },
    ];
    // PATCH with If-Match: each request takes an integration no other connection is patching, with its current etag; the reply's ETag replaces it.
    let patchPool: { tenant: number; id: string; etag: string }[] = [];
    const patchInFlight = new Set<number>();
    let patchCounter = 0;
    const tenantIndex = new Map(tenants.map((t, i) => [t, i]));
    const loadPatchPool = async () => {
      await sleep(300); // requests cut off at the end of the previous run may still be committing
      const size = Math.min(5000, tenants.length * Math.max(1, seed.integrationsPerTenant - 1));
      const { rows } = await db.query<{ tenant_id: string; id: string; etag: string }>(
        `SELECT tenant_id, id, etag FROM integrations WHERE tenant_id <> $1 AND id LIKE 'int-%' AND id <> $2 ORDER BY random() LIMIT $3`,
        [BIG_TENANT, VERIFY_TARGET_ID, size],
      );
      patchPool = rows.map((r) => ({ tenant: tenantIndex.get(r.tenant_id) ?? 0, id: r.id, etag: r.etag }));
      patchInFlight.clear();
    };
    const patchRequests = (): Request[] => [
      {
        setupRequest: (req, context) => {
          let k = randomInt(patchPool.length);
          for (let tries = 0; tries < 100 && patchInFlight.has(k); tries += 1) k = randomInt(patchPool.length);
          patchInFlight.add(k);
          context.k = k;
          const entry = patchPool[k];
          req.method = 'PATCH';
          req.path = `/v1/tenants/${tenants[entry.tenant]}/integrations/${entry.id}`;
          req.headers = { authorization: auth[entry.tenant], 'content-type': 'application/json', 'if-match': `"${entry.etag}"` };
          req.body = JSON.stringify({ description: `Patched by npm run bench (${patchCounter++})`, tags: ['bench', 'patched'] });
          return req;
        },
        onResponse: (_status, _body, context, headers) => {
          const k = context.k as number;
          patchInFlight.delete(k);
          const etag = headerValue(headers, 'etag');
          if (etag && patchPool[k]) patchPool[k].etag = etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
        },
      },
    ];
    const deepArm = (target: Target): Arm => ({
      target,
      prepare: async () => {
        if (!deepPaths.has(target.name)) deepPaths.set(target.name, await followToPage(target, bigAuth, deepPage));
      },
      requests: () => [{ method: 'GET', path: deepPaths.get(target.name) ?? '/', headers: { authorization: bigAuth } }],
    });

    const scenarios: { key: ScenarioKey; title: string; arms: Arm[] }[] = [
      { key: 'get', title: 'GET integration (random tenant/id)', arms: targets.map((target) => ({ target, requests: () => drawing(getCall) })) },
      { key: 'list', title: `GET list page 1 (pageSize ${PAGE_SIZE})`, arms: targets.map((target) => ({ target, requests: listRequests })) },
      { key: 'list-deep', title: `GET list page ${deepPage} of ${BIG_TENANT} (${seed.bigTenantIntegrations} rows)`, arms: targets.map(deepArm) },
      { key: 'create', title: 'POST create (unique ids)', arms: targets.map((target) => ({ target, requests: createRequests(target) })) },
      { key: 'patch', title: 'PATCH with If-Match (fresh etag)', arms: targets.map((target) => ({ target, prepare: loadPatchPool, requests: patchRequests })) },
      {
        key: 'verify',
        title: ':verifyConfig against the fake upstream (service only)',
        arms: [
          { target: service, requests: () => drawing(verifyCall) },
          { target: fake, requests: () => [{ method: 'GET', path: '/health', headers: { 'x-api-key': 'k' } }] },
        ],
      },
    ];

    for (const scenario of scenarios) {
      if (!opts.scenarios.includes(scenario.key)) continue;
      await outboxDrained(db);
      const { merged: stats, rounds } = await measure(scenario.arms, opts);
      const heap = await serviceHeap(servicePort);
      for (const [name, s] of Object.entries(stats)) {
        if (name === 'service') s.serviceRssMb = rssMb(serviceChild);
        log(`${scenario.key} ${name}: ${s.rps.toFixed(0)} req/s, p50 ${s.p50} ms, p99 ${s.p99} ms, non-2xx ${s.non2xx}, errors ${s.errors + s.timeouts}, CPU ${s.cpuMsPerRequest} ms/req${s.serviceRssMb ? `, RSS ${s.serviceRssMb} MB (${heap})` : ''}`);
      }
      const s = stats.service ?? null;
      const b = stats.baseline ?? null;
      const roundRatios = rounds.service && rounds.baseline ? rounds.service.map((r, i) => round3(r.rps / (rounds.baseline?.[i]?.rps || Number.NaN))) : null;
      const result: ScenarioResult = {
        key: scenario.key,
        title: scenario.title,
        service: s,
        baseline: b,
        ratio: roundRatios && roundRatios.every(Number.isFinite) ? median(roundRatios) : null,
        roundRatios,
        roundServiceP99: rounds.service?.map((r) => r.p99) ?? null,
        cpuRatio: s?.cpuMsPerRequest && b?.cpuMsPerRequest ? b.cpuMsPerRequest / s.cpuMsPerRequest : null,
        serviceMemory: heap,
      };
      if (stats.fake) {
        result.fake = stats.fake;
        result.note = `the fake upstream called directly at the same concurrency: ${stats.fake.rps.toFixed(0)} req/s, p50 ${stats.fake.p50} ms, p99 ${stats.fake.p99} ms`;
      }
      results.push(result);
    }

    // Unloaded latency (1 connection, alternating rounds): GET on both targets; :verifyConfig and the fake it calls.
    const serialSeconds = opts.smoke ? 0.5 : 6;
    const serialPairs: [string, Target, () => Call][][] = [];
    if (opts.scenarios.includes('get')) serialPairs.push(targets.map((t) => [`get-${t.name}`, t, getCall]));
    if (opts.scenarios.includes('verify')) {
      serialPairs.push([
        ['verify-service', service, verifyCall],
        ['fake-upstream', fake, () => ({ method: 'GET', path: '/health', headers: { 'x-api-key': 'k' } })],
      ]);
    }
    if (serialPairs.length > 0) await quiesce(db);
    for (const pair of serialPairs) {
      // A discarded second per arm: the first requests after the loaded runs met a heap and
      // connection pools shaped by 50 connections (the first measured round was 0.4-0.6 ms slower).
      if (!opts.smoke) for (const [, target, next] of pair) await serialTimes(target.port, 1, next);
      const parts = new Map<string, { times: number[]; non2xx: number }[]>(pair.map(([name]) => [name, []]));
      for (let round = 0; round < opts.rounds; round += 1) {
        const order = round % 2 === 0 ? pair : [...pair].reverse();
        for (const [name, target, next] of order) parts.get(name)?.push(await serialTimes(target.port, serialSeconds / opts.rounds, next));
      }
      for (const [name, p] of parts) {
        serial[name] = serialStats(p);
        serialRounds[name] = p.map((one) => serialStats([one]).p50);
      }
    }
    const verifyResult = results.find((r) => r.key === 'verify');
    if (verifyResult?.service && verifyResult.fake && serial['verify-service'] && serial['fake-upstream']) {
      // The same round's difference, so drift between rounds cancels; the goal uses the median round.
      const fakeRounds = serialRounds['fake-upstream'] ?? [];
      const overheadRoundsMs = (serialRounds['verify-service'] ?? []).map((p50, i) => round3(p50 - (fakeRounds[i] ?? Number.NaN)));
      verify = {
        overheadSerialP50Ms: median(overheadRoundsMs),
        overheadRoundsMs,
        overheadPooledP50Ms: round3(serial['verify-service'].p50 - serial['fake-upstream'].p50),
        overheadLoadedP50Ms: round3(verifyResult.service.p50 - verifyResult.fake.p50),
        serialService: serial['verify-service'],
        serialFake: serial['fake-upstream'],
      };
    }
  } finally {
    if (memory) peakRssMb = Math.round(memory.stop().peakHwmKb / 102.4) / 10;
    for (const child of children.reverse()) await stopChild(child, opts.cpuProf ? 15_000 : 5000);
    await db.end();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }

  if (opts.cpuProf) {
    const files = existsSync(profileDir) ? readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')) : [];
    if (files.length === 0) log(`no CPU profile was written to ${profileDir}`);
    else {
      // Start-up (module loading, Swagger) is left out: the profile is about the requests.
      profile = summarizeProfile(join(profileDir, files[0]), 25, startups[startups.length - 1] ?? 0);
      process.stdout.write(`\n${formatProfile(profile)}\n`);
    }
  }

  // 9. Report.
  const totalSeconds = Math.round((performance.now() - started) / 100) / 10;
  const machine = {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    postgres: postgresVersion,
    loadAverageBefore: loadBefore,
    loadAverageAfter: loadavg().map((l) => Math.round(l * 100) / 100),
  };
  const goals = evaluateGoals(results, verify, peakRssMb, startupMs);
  const report = {
    startedAt: new Date(Date.now() - totalSeconds * 1000).toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine,
    options: { ...opts, serverUrl: undefined },
    serviceEnvironment: Object.fromEntries(Object.entries(opts.serviceEnv)),
    seed: { ...seed, encryptionKeys: undefined, seededNow },
    startupMs,
    startupsMs: startups,
    rssAtReadyMb,
    peakRssMb,
    scenarios: results,
    serialLatencyMs: serial,
    verify,
    goals,
    profile,
    totalSeconds,
    logs: { service: serviceLog },
  };
  const out = opts.out ?? join(ROOT, 'bench', 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}${opts.smoke ? '-smoke.json.tmp' : '.json'}`);
  mkdirSync(resolve(out, '..'), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);

  process.stdout.write(`\n${formatTable(results, opts)}\n`);
  process.stdout.write(`\nservice start-up to ready: ${startupMs} ms (median of ${startups.join(', ')}); RSS when ready ${rssAtReadyMb} MB; peak RSS (VmHWM): ${peakRssMb} MB${opts.cpuProf ? ' (under --cpu-prof: not representative)' : ''}\n`);
  if (Object.keys(serial).length) {
    process.stdout.write('unloaded latency, 1 connection (ms): ');
    process.stdout.write(`${Object.entries(serial).map(([k, s]) => `${k} p50 ${s.p50} p99 ${s.p99} (n=${s.count})`).join('; ')}\n`);
  }
  if (verify) process.stdout.write(`verify overhead p50: ${String(verify.overheadSerialP50Ms)} ms unloaded, ${String(verify.overheadLoadedP50Ms)} ms at ${opts.connections} connections\n`);
  process.stdout.write(`\ngoals${opts.smoke ? ' (smoke: tiny data, 2 s runs, no warm-up; this proves the harness, it measures nothing)' : ''}:\n${goals.map((g) => `  ${g.met === null ? 'n/a    ' : g.met ? 'met    ' : 'NOT MET'}  ${g.goal}: ${g.measured}`).join('\n')}\n`);
  process.stdout.write(`\nresults: ${relative(process.cwd(), out)}; ${totalSeconds} s in all; load average ${loadBefore.join(' ')} before, ${machine.loadAverageAfter.join(' ')} after (${machine.nproc} CPUs)\n`);

  if (opts.smoke) {
    const broken = results.filter((r) => [r.service, r.baseline, r.fake ?? null].some((s) => s !== null && (s.ok === 0 || s.non2xx > 0 || s.errors > 0)));
    if (broken.length > 0) {
      log(`smoke FAILED: ${broken.map((r) => r.key).join(', ')} saw errors or non-2xx replies (status codes in ${out})`);
      return 1;
    }
    log('smoke passed');
    rmSync(work, { recursive: true, force: true });
  }
  return 0;
}

type ByTarget<T> = Partial<Record<Target['name'], T>>;

/** Runs every arm for warm-up, then `rounds` times ordered A B, B A, A B …; returns each arm's rounds and their merge. */
async function measure(arms: Arm[], opts: Options): Promise<{ merged: ByTarget<LoadStats>; rounds: ByTarget<LoadStats[]> }> {
  const runs = new Map<Arm, LoadRun[]>(arms.map((arm) => [arm, []]));
  for (const arm of arms) {
    await arm.prepare?.();
    if (opts.warmup > 0) await runLoad({ port: arm.target.port, connections: opts.connections, seconds: opts.warmup, requests: arm.requests() });
  }
  for (let round = 0; round < opts.rounds; round += 1) {
    for (const arm of round % 2 === 0 ? arms : [...arms].reverse()) {
      await arm.prepare?.();
      const run = await runLoad({ port: arm.target.port, pid: arm.target.pid, connections: opts.connections, seconds: opts.duration, requests: arm.requests() });
      runs.get(arm)?.push(run);
      if (opts.rounds > 1) {
        const memory = arm.target.name === 'service' ? `, RSS ${rssOf(arm.target.pid)} MB, ${await serviceHeap(arm.target.port)}` : '';
        log(`  round ${round + 1}/${opts.rounds} ${arm.target.name}: ${(run.ok / run.seconds).toFixed(0)} req/s${memory}`);
      }
      if (!opts.smoke) await sleep(250);
    }
  }
  const merged: ByTarget<LoadStats> = {};
  const rounds: ByTarget<LoadStats[]> = {};
  for (const [arm, r] of runs) {
    merged[arm.target.name] = mergeRuns(r);
    rounds[arm.target.name] = r.map((one) => mergeRuns([one]));
  }
  return { merged, rounds };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : 0;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** Heap and external memory as the service reports them on /metrics (prom-client's default gauges). */
async function serviceHeap(port: number): Promise<string> {
  try {
    const reply = await call(port, { method: 'GET', path: '/metrics' });
    const gauge = (name: string) => {
      const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(reply.body);
      return match ? `${Math.round(Number(match[1]) / 1048576)} MB` : '?';
    };
    return `heap used ${gauge('nodejs_heap_size_used_bytes')} of ${gauge('nodejs_heap_size_total_bytes')}, external ${gauge('nodejs_external_memory_bytes')}`;
  } catch {
    return 'heap unknown';
  }
}

function rssMb(child: ChildProcess | null): number {
  return rssOf(child?.pid);
}

function rssOf(pid: number | undefined): number {
  return Math.round((readMemory(pid ?? 0)?.rssKb ?? 0) / 102.4) / 10;
}

function headerValue(headers: Record<string, string | string[]>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

/** Follows nextPageToken from page 1 to `page`; returns the path of that page. */
async function followToPage(target: Target, authorization: string, page: number): Promise<string> {
  let path = `/v1/tenants/${BIG_TENANT}/integrations?pageSize=${PAGE_SIZE}`;
  for (let p = 1; p < page; p += 1) {
    const reply = await call(target.port, { method: 'GET', path, headers: { authorization } });
    if (reply.status !== 200) throw new Error(`${target.name}: page ${p} of ${BIG_TENANT} answered ${reply.status}`);
    const token = (JSON.parse(reply.body) as { nextPageToken: string | null }).nextPageToken;
    if (!token) throw new Error(`${target.name}: ${BIG_TENANT} has no page ${p + 1}`);
    path = `/v1/tenants/${BIG_TENANT}/integrations?pageSize=${PAGE_SIZE}&pageToken=${encodeURIComponent(token)}`;
  }
  return path;
}

/** Refuses to measure targets that do not answer alike: same fields, secrets redacted, full pages, a healthy verify. */
async function sanityCheck(targets: Target[], tenant: string, authorization: string, withVerify: boolean): Promise<void> {
  const shapes: string[] = [];
  for (const target of targets) {
    const one = await call(target.port, { method: 'GET', path: `/v1/tenants/${tenant}/integrations/${integrationId(1)}`, headers: { authorization } });
    if (one.status !== 200) throw new Error(`${target.name}: GET integration answered ${one.status}: ${one.body.slice(0, 300)}`);
    const body = JSON.parse(one.body) as Record<string, unknown> & { credentials: Record<string, string> };
    if (body.credentials.apiKey !== '***REDACTED***') throw new Error(`${target.name}: credentials are not redacted`);
    shapes.push(`${Object.keys(body).sort().join(',')} (${one.body.length} bytes)`);
    const page = await call(target.port, { method: 'GET', path: `/v1/tenants/${tenant}/integrations?pageSize=${PAGE_SIZE}`, headers: { authorization } });
    if (page.status !== 200) throw new Error(`${target.name}: list answered ${page.status}: ${page.body.slice(0, 300)}`);
  }
  log(`reply shapes: ${targets.map((t, i) => `${t.name}: ${shapes[i]}`).join(' | ')}`);
  if (new Set(shapes.map((s) => s.replace(/ \(.*/, ''))).size > 1) throw new Error('service and baseline answer GET integration with different fields');
  if (withVerify) {
    const reply = await call(targets[0].port, { method: 'POST', path: `/v1/tenants/${tenant}/integrations/${VERIFY_TARGET_ID}:verifyConfig`, headers: { authorization } });
    const body = reply.status === 200 ? (JSON.parse(reply.body) as { status: string; error: unknown }) : null;
    if (!body || body.status !== 'healthy') throw new Error(`service: :verifyConfig against the fake upstream is not healthy (${reply.status}): ${reply.body.slice(0, 300)}`);
  }
}

interface Goal {
  goal: string;
  measured: string;
  met: boolean | null;
}

function evaluateGoals(results: ScenarioResult[], verify: Record<string, unknown> | null, peakRssMb: number, startupMs: number): Goal[] {
  const by = (key: ScenarioKey) => results.find((r) => r.key === key);
  const pct = (r: number | null | undefined) => (r === null || r === undefined ? 'n/a' : `${(r * 100).toFixed(0)}%`);
  const ratioGoal = (key: ScenarioKey, label: string, min: number): Goal => {
    const r = by(key);
    return { goal: `${label} ≥ ${min * 100}% of baseline (median round)`, measured: `${pct(r?.ratio)}${r?.roundRatios && r.roundRatios.length > 1 ? ` (rounds ${r.roundRatios.map(pct).join(', ')})` : ''}`, met: r?.ratio === null || r?.ratio === undefined ? null : r.ratio >= min };
  };
  const get = by('get');
  const getP99 = get?.roundServiceP99?.length ? median(get.roundServiceP99) : null;
  const goals: Goal[] = [
    ratioGoal('get', 'GET integration', 0.7),
    { goal: 'GET integration p99 ≤ 25 ms (median round)', measured: getP99 === null ? 'n/a' : `${getP99} ms`, met: getP99 === null ? null : getP99 <= 25 },
    ratioGoal('list', 'list page 1', 0.6),
    ratioGoal('list-deep', 'list deep page', 0.6),
    ratioGoal('create', 'create', 0.5),
    ratioGoal('patch', 'PATCH', 0.5),
  ];
  const overhead = verify ? (verify.overheadSerialP50Ms as number) : null;
  const overheadRounds = verify ? (verify.overheadRoundsMs as number[]) : [];
  goals.push({ goal: 'verify overhead ≤ 2 ms p50 (1 connection, median round)', measured: overhead === null ? 'n/a' : `${overhead} ms${overheadRounds.length > 1 ? ` (rounds ${overheadRounds.join(', ')})` : ''}`, met: overhead === null ? null : overhead <= 2 });
  goals.push({ goal: 'peak RSS ≤ 250 MB', measured: `${peakRssMb} MB`, met: peakRssMb > 0 ? peakRssMb <= 250 : null });
  goals.push({ goal: 'start-up ≤ 3 s', measured: `${(startupMs / 1000).toFixed(2)} s`, met: startupMs > 0 ? startupMs <= 3000 : null });
  return goals;
}

function ms(n: number): string {
  return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

function formatTable(results: ScenarioResult[], opts: Options): string {
  const head = ['scenario', 'service req/s', 'p50 ms', 'p99 ms', 'errors/non-2xx', 'baseline req/s', 'b. p50', 'b. p99', 'service/baseline (median round)', 'rounds', 'CPU ms/req s. / b.', 'CPU ratio'];
  const rows = results.map((r) => [
    r.title,
    r.service ? r.service.rps.toFixed(0) : '—',
    r.service ? ms(r.service.p50) : '—',
    r.service ? ms(r.service.p99) : '—',
    r.service ? `${r.service.errors + r.service.timeouts}/${r.service.non2xx}` : '—',
    r.baseline ? r.baseline.rps.toFixed(0) : '—',
    r.baseline ? ms(r.baseline.p50) : '—',
    r.baseline ? ms(r.baseline.p99) : '—',
    r.ratio === null ? '—' : `${(r.ratio * 100).toFixed(0)}%`,
    r.roundRatios ? r.roundRatios.map((x) => `${(x * 100).toFixed(0)}%`).join(' ') : '—',
    `${r.service?.cpuMsPerRequest ?? '—'} / ${r.baseline?.cpuMsPerRequest ?? '—'}`,
    r.cpuRatio === null ? '—' : `${(r.cpuRatio * 100).toFixed(0)}%`,
  ]);
  const lines = [
    `${opts.connections} connections, ${opts.rounds} round${opts.rounds > 1 ? 's' : ''} of ${opts.duration} s per target${opts.warmup > 0 ? ` after ${opts.warmup} s warm-up` : ', no warm-up'}; req/s and latency over all rounds, ratios the median round`,
    '',
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
  for (const r of results) if (r.note) lines.push(`\n${r.key}: ${r.note}`);
  return lines.join('\n');
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);

/**
 * Unloaded means unloaded: before the 1-connection measurements, the outbox is fanned out and a
 * CHECKPOINT writes out what the loaded runs dirtied, so that neither the dispatcher nor a spread
 * checkpoint runs beside them.
 */
async function quiesce(db: Client): Promise<void> {
  await outboxDrained(db);
  const started = performance.now();
  try {
    await db.query('CHECKPOINT');
    log(`quiesce: CHECKPOINT took ${Math.round(performance.now() - started)} ms`);
  } catch (error) {
    log(`quiesce: CHECKPOINT refused (${error instanceof Error ? error.message : String(error)}); measuring anyway`);
  }
}

/**
 * Every create, PATCH and health change leaves an event that the service's outbox dispatcher fans
 * out in the background, up to 1,000 per second. A scenario that starts while a write scenario's
 * events are still being fanned out would measure that work too: each scenario starts once the
 * outbox is empty (after `create` at scale 1 that took 3.6 s for 3,108 events).
 */
async function outboxDrained(db: Client, limitMs = 300_000): Promise<void> {
  const started = performance.now();
  let pending = Number.POSITIVE_INFINITY;
  let first = -1;
  while (performance.now() - started < limitMs) {
    pending = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM events WHERE NOT fanned_out`)).rows[0].n);
    if (first < 0) first = pending;
    if (pending === 0) break;
    await sleep(500);
  }
  if (first > 0) log(`outbox: waited ${Math.round(performance.now() - started)} ms for ${first} pending event${first === 1 ? '' : 's'} to be fanned out${pending > 0 ? ` (${pending} still pending; measuring anyway)` : ''}`);
}
