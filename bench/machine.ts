/** What the bench ran on: CPU, memory, kernel and the versions of everything in the path. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { projectRoot } from '../src/paths.js';
import type { MachineInfo } from './types.js';

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.error || r.status !== 0 ? '' : r.stdout.trim();
}

function packageVersion(name: string): string {
  try {
    const require = createRequire(join(projectRoot, 'package.json'));
    const pkgPath = require.resolve(`${name}/package.json`);
    return (JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string }).version;
  } catch {
    try {
      const pkg = JSON.parse(readFileSync(join(projectRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
      return pkg.version;
    } catch {
      return 'unknown';
    }
  }
}

export function machineInfo(pinned: boolean, h2load: string): MachineInfo {
  let cpuModel = 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1]!.trim();
  } catch {
    /* not Linux */
  }
  const mem = /^Mem:\s+(\d+)/m.exec(sh('free', ['-g']));
  const redis = /v=(\S+)/.exec(sh('redis-server', ['--version']));
  return {
    cpus: Number(sh('nproc', [])) || 0,
    cpuModel,
    memory: mem ? `${mem[1]} GiB (free -g)` : 'unknown',
    kernel: sh('uname', ['-r']) || 'unknown',
    node: process.version,
    grpcJs: packageVersion('@grpc/grpc-js'),
    protoLoader: packageVersion('@grpc/proto-loader'),
    ioredis: packageVersion('ioredis'),
    redis: redis ? redis[1]! : 'unknown',
    h2load,
    pinned,
  };
}

/** Linux: user + system CPU time of a process in µs, from /proc/<pid>/stat (clock ticks). */
export function processCpuUs(pid: number, ticksPerSecond: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / ticksPerSecond;
  } catch {
    return NaN;
  }
}

export function clockTicks(): number {
  return Number(sh('getconf', ['CLK_TCK'])) || 100;
}

function cpuTimes(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** CPUs' worth of busy time on the whole machine over `ms` (Linux; NaN elsewhere). */
export async function machineBusyCpus(ms: number, cpus: number): Promise<number> {
  try {
    const a = cpuTimes();
    await new Promise((r) => setTimeout(r, ms));
    const b = cpuTimes();
    return ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * cpus;
  } catch {
    return NaN;
  }
}

/** Busy time (µs, all but idle and iowait) of one CPU since boot, from /proc/stat; NaN when unknown. */
export function cpuBusyUs(cpu: number, ticksPerSecond: number): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `));
    if (!line) return NaN;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = v.reduce((a, b) => a + b, 0) - (v[3] ?? 0) - (v[4] ?? 0);
    return (busy * 1e6) / ticksPerSecond;
  } catch {
    return NaN;
  }
}
