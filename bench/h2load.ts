/**
 * Runs h2load (nghttp2's C HTTP/2 load generator, the stand-in for Envoy's C++ gRPC client): one
 * connection (two for the two-process targets), one stream per simulated HTTP request, each carrying
 * the same pre-encoded gRPC message.
 * Latency percentiles and the steady-state rate are computed here from --log-file (start µs, HTTP
 * status, µs to end of response), after dropping the first `dropMs` of the run.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { PROCESS_METHOD } from '../src/extproc/proto.js';
import { runChild } from './child.js';
import { percentile } from './stats.js';

export interface LoadSpec {
  port: number;
  payloadFile: string;
  logFile: string;
  /** HTTP/2 connections (-c). */
  connections: number;
  /** Streams in flight in all, split evenly over the connections (-m is per connection). */
  streams: number;
  /** Run for this long (-D) … */
  durationS: number;
  /** … or send exactly this many requests (-n) instead. */
  requests?: number;
  /** Paced arrivals (--rps) instead of a closed loop. */
  rps?: number;
  /** Prefix, e.g. ['taskset', '-c', '0']. */
  pin: string[];
  /** Requests started in the first dropMs are left out of the figures. */
  dropMs: number;
}

export interface LoadResult {
  /** As h2load counts them over the whole run. */
  done: number;
  succeeded: number;
  failed: number;
  status2xx: number;
  /** Steady state, from the log: completions per second after the dropped head. */
  reqPerSec: number;
  /** Requests in the steady-state window and their latency percentiles, ms. */
  samples: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** Pacing: requests started per 1-ms slot that saw any start (1 = evenly spread arrivals). */
  burst: number;
}

export function h2loadVersion(): string | null {
  const r = spawnSync('h2load', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return r.stdout.trim();
}

export function h2loadArgs(spec: LoadSpec): string[] {
  const args = [
    'h2load', '-c', String(spec.connections), '-t', '1', '-m', String(Math.ceil(spec.streams / spec.connections)),
    ...(spec.requests !== undefined ? ['-n', String(spec.requests)] : ['-D', String(spec.durationS)]),
    '--data', spec.payloadFile,
    '-H', 'content-type: application/grpc', '-H', 'te: trailers',
    '--log-file', spec.logFile,
  ];
  if (spec.rps !== undefined) args.push('--rps', String(Math.round(spec.rps)));
  args.push(`http://127.0.0.1:${spec.port}${PROCESS_METHOD}`);
  return [...spec.pin, ...args];
}


function count(text: string, re: RegExp): number {
  const m = re.exec(text);
  return m ? Number(m[1]) : NaN;
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  rmSync(spec.logFile, { force: true });
  const argv = h2loadArgs(spec);
  const { code, stdout, stderr } = await runChild(argv);
  if (code !== 0) throw new Error(`h2load exited with ${code}: ${argv.join(' ')}\n${stdout}\n${stderr}`);
  const done = count(stdout, /requests: \d+ total, \d+ started, (\d+) done/);
  const succeeded = count(stdout, /(\d+) succeeded/);
  const failed = count(stdout, /(\d+) failed/);
  const status2xx = count(stdout, /status codes: (\d+) 2xx/);
  return { done, succeeded, failed, status2xx, ...analyseLog(readFileSync(spec.logFile, 'utf8'), spec.dropMs) };
}

/** Steady-state rate and latency percentiles (ms) from an h2load --log-file. */
export function analyseLog(text: string, dropMs: number): Pick<LoadResult, 'reqPerSec' | 'samples' | 'p50' | 'p99' | 'p999' | 'max' | 'burst'> {
  const starts: number[] = [];
  const lat: number[] = [];
  for (const line of text.split('\n')) {
    const [s, status, us] = line.split('\t');
    if (s === undefined || us === undefined || !status?.startsWith('2')) continue;
    starts.push(Number(s));
    lat.push(Number(us));
  }
  if (starts.length === 0) return { reqPerSec: 0, samples: 0, p50: NaN, p99: NaN, p999: NaN, max: NaN, burst: NaN };
  let first = Infinity;
  let lastEnd = -Infinity;
  for (let i = 0; i < starts.length; i++) {
    first = Math.min(first, starts[i]!);
    lastEnd = Math.max(lastEnd, starts[i]! + lat[i]!);
  }
  const from = first + dropMs * 1000;
  const kept: number[] = [];
  const slots = new Set<number>();
  let completed = 0;
  for (let i = 0; i < starts.length; i++) {
    if (starts[i]! >= from) {
      kept.push(lat[i]!);
      slots.add(Math.floor(starts[i]! / 1000));
    }
    if (starts[i]! + lat[i]! >= from) completed++;
  }
  const sorted = Float64Array.from(kept).sort();
  const windowS = (lastEnd - from) / 1e6;
  return {
    reqPerSec: windowS > 0 ? completed / windowS : 0,
    samples: sorted.length,
    p50: percentile(sorted, 50) / 1000,
    p99: percentile(sorted, 99) / 1000,
    p999: percentile(sorted, 99.9) / 1000,
    max: percentile(sorted, 100) / 1000,
    burst: slots.size ? kept.length / slots.size : NaN,
  };
}
