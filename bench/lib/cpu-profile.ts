import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  ms: number;
  /** Share of the busy (non-idle) time, percent. */
  pct: number;
}

export interface ProfileSummary {
  file: string;
  /** Samples in the first `skippedMs` of the profile (start-up) were left out. */
  skippedMs: number;
  totalMs: number;
  busyMs: number;
  topFunctions: ProfileEntry[];
  byArea: ProfileEntry[];
  /** Inclusive (self + callees) time of the functions on the most stacks: where the time goes, top-down. */
  inclusive: ProfileEntry[];
}

/** Where a frame's code lives: an npm package, the app's own module folder, node's internals, or a V8 pseudo-frame. */
function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const parts = url.slice(modules + 'node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  if (url.startsWith('node:')) return 'node (core)';
  const dist = url.indexOf('/dist/');
  if (dist >= 0) {
    const rest = url.slice(dist + '/dist/'.length).split('/');
    return `app: ${rest.length > 1 ? rest.slice(0, -1).join('/') : rest[0]}`;
  }
  return url.replace(/^file:\/\//, '');
}

function shortUrl(url: string): string {
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) return url.slice(modules + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
}

/** Self time per function and per area, and inclusive time per function, from a V8 .cpuprofile (what `node --cpu-prof` writes). */
export function summarizeProfile(file: string, top = 25, skipMs = 0): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const nameOf = (node: ProfileNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    return url ? `${functionName || '(anonymous)'} ${shortUrl(url)}:${lineNumber + 1}` : functionName || '(anonymous)';
  };
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  let at = profile.startTime;
  // timeDeltas[i] is the time between sample i-1 and sample i; it is spent in the frame sampled at i.
  for (let i = 0; i < profile.samples.length; i += 1) {
    const us = Math.max(0, profile.timeDeltas[i] ?? 0);
    at += us;
    if (at - profile.startTime < skipMs * 1000) continue;
    const node = byId.get(profile.samples[i]);
    if (!node) continue;
    totalUs += us;
    if (node.callFrame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const name = nameOf(node);
    functions.set(name, (functions.get(name) ?? 0) + us);
    const area = areaOf(node.callFrame.url, node.callFrame.functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id);
      if (!frame) break;
      const frameName = nameOf(frame);
      if (frameName === '(root)' || seen.has(frameName)) continue;
      seen.add(frameName);
      inclusive.set(frameName, (inclusive.get(frameName) ?? 0) + us);
    }
  }
  const busyUs = totalUs - idleUs;
  const rank = (m: Map<string, number>, n: number): ProfileEntry[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: Math.round(us / 100) / 10, pct: Math.round((1000 * us) / Math.max(1, busyUs)) / 10 }));
  return {
    file,
    skippedMs: skipMs,
    totalMs: Math.round(totalUs / 1000),
    busyMs: Math.round(busyUs / 1000),
    topFunctions: rank(functions, top),
    byArea: rank(areas, 20),
    inclusive: rank(inclusive, top * 2),
  };
}

export function formatProfile(summary: ProfileSummary): string {
  const lines = [
    `CPU profile ${summary.file}: ${summary.busyMs} ms busy of ${summary.totalMs} ms sampled${summary.skippedMs ? ` (first ${summary.skippedMs} ms, start-up, left out)` : ''}`,
    '',
    'self time by area:',
  ];
  for (const e of summary.byArea) lines.push(`  ${e.pct.toFixed(1).padStart(5)}%  ${String(e.ms).padStart(8)} ms  ${e.name}`);
  lines.push('', 'top functions by self time:');
  for (const e of summary.topFunctions) lines.push(`  ${e.pct.toFixed(1).padStart(5)}%  ${String(e.ms).padStart(8)} ms  ${e.name}`);
  lines.push('', 'inclusive time (self + callees):');
  for (const e of summary.inclusive) lines.push(`  ${e.pct.toFixed(1).padStart(5)}%  ${String(e.ms).padStart(8)} ms  ${e.name}`);
  return lines.join('\n');
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: ts-node --transpile-only bench/lib/cpu-profile.ts <file.cpuprofile> [top] [skip-ms]\n');
    process.exit(2);
  }
  process.stdout.write(`${formatProfile(summarizeProfile(file, Number(process.argv[3] ?? 25), Number(process.argv[4] ?? 0)))}\n`);
}
