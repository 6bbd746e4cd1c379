/**
 * Figures from the paced generator's per-request records (bench/paced.ts): steady-state rates, latency
 * percentiles, and how late the generator started requests against its schedule. Pure: arrays in,
 * numbers out. Times are ms from the generator's t0.
 */
import type { LoadResult } from './h2load.js';
import { percentile } from './stats.js';

export interface PacedRecords {
  /** Requests started (the arrays' first `sent` entries are filled). */
  sent: number;
  /** Actual start, ms after t0. */
  start: Float64Array;
  /** Scheduled start, ms after t0 (paced mode; equal to start in a closed loop). */
  due: Float64Array;
  /** Start to the end of the response (the gRPC trailers), ms; NaN when never answered. */
  latency: Float64Array;
  /** 2 = HTTP 200 and grpc-status 0; 1 = answered otherwise; 0 = never answered. */
  outcome: Uint8Array;
  /** HTTP 2xx answers (the h2load-comparable count). */
  status2xx: number;
}

export interface PacedStats {
  /** Target start rate (paced mode), null in a closed loop. */
  offeredRps: number | null;
  /** Starts per second in the steady-state window. */
  startedRps: number;
  /** How late starts were against the schedule (ms; 0 in a closed loop). */
  lateP50: number;
  lateP99: number;
  lateMax: number;
  /** The generator's own CPU time over its wall time (1 = one full core). */
  generatorCpu: number;
  /** Distinct payloads (API keys) the run cycled through. */
  distinctPayloads: number;
}

export type PacedResult = LoadResult & PacedStats;

const sortedOf = (values: number[]): Float64Array => Float64Array.from(values).sort();

export function summarise(
  rec: PacedRecords,
  opts: { dropMs: number; offeredRps: number | null; generatorCpu: number; payloads: number },
): PacedResult {
  const lat: number[] = [];
  const late: number[] = [];
  const slots = new Map<number, number>();
  let done = 0;
  let succeeded = 0;
  let lastEnd = -Infinity;
  let lastStart = -Infinity;
  let startedInWindow = 0;
  let completedInWindow = 0;
  for (let i = 0; i < rec.sent; i++) {
    const s = rec.start[i]!;
    const o = rec.outcome[i]!;
    if (o > 0) done++;
    if (o === 2) succeeded++;
    const end = s + rec.latency[i]!;
    if (o > 0) lastEnd = Math.max(lastEnd, end);
    lastStart = Math.max(lastStart, s);
    if (o > 0 && end >= opts.dropMs) completedInWindow++;
    if (s < opts.dropMs) continue;
    startedInWindow++;
    late.push(s - rec.due[i]!);
    const slot = Math.floor(s);
    slots.set(slot, (slots.get(slot) ?? 0) + 1);
    if (o === 2) lat.push(rec.latency[i]!);
  }
  const sorted = sortedOf(lat);
  const lateSorted = sortedOf(late);
  const windowS = (lastEnd - opts.dropMs) / 1000;
  const startWindowS = (lastStart - opts.dropMs) / 1000;
  return {
    done,
    succeeded,
    failed: rec.sent - succeeded,
    status2xx: rec.status2xx,
    reqPerSec: windowS > 0 ? completedInWindow / windowS : 0,
    samples: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: percentile(sorted, 100),
    burst: slots.size ? startedInWindow / slots.size : NaN,
    offeredRps: opts.offeredRps,
    startedRps: startWindowS > 0 ? startedInWindow / startWindowS : 0,
    lateP50: percentile(lateSorted, 50),
    lateP99: percentile(lateSorted, 99),
    lateMax: percentile(lateSorted, 100),
    generatorCpu: opts.generatorCpu,
    distinctPayloads: Math.min(rec.sent, opts.payloads),
  };
}
