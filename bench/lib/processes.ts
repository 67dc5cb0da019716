import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';

export interface Started {
  child: ChildProcess;
  port: number;
  logFile: string;
}

/** A port nobody listens on right now (the kernel picks it), on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Spawns a process whose stdout and stderr go to `logFile`. */
export function spawnLogged(command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string, logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  return spawn(command, args, { cwd, env, stdio: ['ignore', fd, fd] });
}

/** Waits until the log file has a "LISTENING <port>" line (the helper processes print one). */
export async function waitForListening(child: ChildProcess, logFile: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode} before listening; see ${logFile}`);
    const match = /LISTENING (\d+)/.exec(readFileSync(logFile, 'utf8'));
    if (match) return Number(match[1]);
    await sleep(25);
  }
  throw new Error(`no LISTENING line within ${timeoutMs} ms; see ${logFile}`);
}

/** Polls GET /readyz until it answers 200; returns when it did. */
export async function waitForReady(child: ChildProcess, port: number, timeoutMs: number, logFile: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode} during start-up; see ${logFile}`);
    if ((await statusOf(port, '/readyz')) === 200) return;
    await sleep(20);
  }
  throw new Error(`service not ready within ${timeoutMs} ms; see ${logFile}`);
}

function statusOf(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** Stops a child we started: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface MemorySample {
  rssKb: number;
  hwmKb: number;
}

export function readMemory(pid: number): MemorySample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    return rss && hwm ? { rssKb: Number(rss[1]), hwmKb: Number(hwm[1]) } : null;
  } catch {
    return null;
  }
}

/** Samples a process's memory every `everyMs` until stopped; `peakKb` is the highest VmHWM seen (VmHWM is the kernel's own peak RSS). */
export function sampleMemory(pid: number, everyMs = 250) {
  let peakKb = 0;
  let peakRssKb = 0;
  const take = () => {
    const sample = readMemory(pid);
    if (sample) {
      peakKb = Math.max(peakKb, sample.hwmKb);
      peakRssKb = Math.max(peakRssKb, sample.rssKb);
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  timer.unref();
  return {
    stop() {
      take();
      clearInterval(timer);
      return { peakHwmKb: peakKb, peakRssKb };
    },
    get peakKb() {
      return peakKb;
    },
  };
}

let ticksPerSecond = 0;

/** CPU time (user + system, all threads) a process has used so far, in ms; null when it is gone. */
export function cpuMs(pid: number): number | null {
  if (ticksPerSecond === 0) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  try {
    // Fields after the ")" that ends the command name: state is 3rd, utime 14th, stime 15th of the whole line.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
  } catch {
    return null;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
