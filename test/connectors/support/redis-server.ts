import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { closedPort } from './sockets';

const run = promisify(execFile);

/** A private redis-server on 127.0.0.1 with `requirepass`, no persistence; stop() kills it. */
export interface PasswordRedis {
  port: number;
  stop(): Promise<void>;
}

/** With `tls`, it speaks only TLS, under a self-signed certificate for "localhost". */
export async function startPasswordRedis(password: string, options: { tls?: boolean } = {}): Promise<PasswordRedis> {
  const port = await closedPort();
  const dir = mkdtempSync(join(tmpdir(), 'sb-redis-'));
  const args = ['--bind', '127.0.0.1', '--requirepass', password, '--save', '', '--appendonly', 'no', '--dir', dir];
  if (options.tls) {
    const cert = join(dir, 'server.crt');
    const key = join(dir, 'server.key');
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-keyout', key, '-out', cert]);
    args.push('--port', '0', '--tls-port', String(port), '--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no');
  } else {
    args.push('--port', String(port));
  }
  const child: ChildProcess = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        rmSync(dir, { recursive: true, force: true });
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', done);
      child.kill('SIGKILL');
    });
  try {
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => settle(new Error('redis-server did not start within 10 s')), 10_000);
      const onExit = (code: number | null) => settle(new Error(`redis-server exited with ${code}`));
      const onOutput = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) settle();
      };
      function settle(failure?: Error) {
        clearTimeout(timer);
        child.off('error', settle);
        child.off('exit', onExit);
        child.stdout?.off('data', onOutput);
        if (failure) reject(failure);
        else resolve();
      }
      child.once('error', settle);
      child.once('exit', onExit);
      child.stdout?.on('data', onOutput);
    });
  } catch (err) {
    await stop();
    throw err;
  }
  child.stdout?.resume();
  child.stderr?.resume();
  return { port, stop };
}
