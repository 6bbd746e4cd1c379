/**
 * A target's processes (Linux /proc): the process the bench spawned and its descendants (cluster
 * workers), their CPU time and their resident memory. Outside Linux: the one pid, NaN figures.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { processCpuUs } from './machine.js';

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return NaN;
  }
}

/** `pid` and every live descendant of it. */
export function processTree(pid: number): number[] {
  let all: number[];
  try {
    all = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  } catch {
    return [pid];
  }
  const children = new Map<number, number[]>();
  for (const p of all) {
    const parent = parentOf(p);
    if (!Number.isFinite(parent)) continue;
    children.set(parent, [...(children.get(parent) ?? []), p]);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift()!;
    out.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return out;
}

/** User + system CPU time of all the processes, µs. */
export function treeCpuUs(pids: readonly number[], ticksPerSecond: number): number {
  return pids.reduce((sum, p) => sum + processCpuUs(p, ticksPerSecond), 0);
}

/** Resident set size of one process, bytes (VmRSS), NaN when unknown. */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Sum of the processes' RSS (pages shared between them are counted once per process). */
export function treeRssBytes(pids: readonly number[]): number {
  return pids.reduce((sum, p) => sum + rssBytes(p), 0);
}
