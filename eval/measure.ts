/**
 * From one replay's records to the evaluation's figures: per caller (identity), whether it was flagged
 * (any non-allow decision: tag included) or acted on (throttle, challenge or block), after how many of
 * its own requests and how long after its first request. Decisions are enforced or shadowed alike
 * (src/replay/record.ts `decided`), so a shadow detector's catches count.
 */
import type { ReplayRecord } from '../src/replay/record.js';
import { byCaller, decided, decidingDetectors } from '../src/replay/record.js';
import type { ReplaySummary } from '../src/replay/summary.js';

const ACTED = new Set(['throttle', 'challenge', 'block']);

export interface CallerOutcome {
  requests: number;
  /** 1-based request number of the first flag / action; null when never. */
  flaggedAt: number | null;
  actedAt: number | null;
  /** Seconds from the caller's first request to its first flag / action. */
  flaggedAfterS: number | null;
  actedAfterS: number | null;
  detectors: string[];
}

export interface Figures {
  requests: number;
  responses: number;
  exchanges: number;
  problems: number;
  callers: number;
  flagged: number;
  acted: number;
  /** Callers flagged by each detector. */
  byDetector: Record<string, number>;
  /** Median over flagged callers (null when none). */
  medianRequestsToFlag: number | null;
  medianSecondsToFlag: number | null;
  medianRequestsToAct: number | null;
  medianSecondsToAct: number | null;
  /** Callers that were never flagged, by their request count (the misses' sizes). */
  missedRequests: number[];
  exchangesPerSecond: number;
  elapsedMs: number;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function callerOutcomes(records: readonly ReplayRecord[]): Map<string, CallerOutcome> {
  const out = new Map<string, CallerOutcome>();
  for (const [k, rs] of byCaller(records)) {
    const first = rs[0]!.tsUs;
    const f = rs.findIndex((r) => decided(r) !== 'allow' && decided(r) !== 'error');
    const a = rs.findIndex((r) => ACTED.has(decided(r)));
    out.set(k, {
      requests: rs.length,
      flaggedAt: f === -1 ? null : f + 1,
      actedAt: a === -1 ? null : a + 1,
      flaggedAfterS: f === -1 ? null : (rs[f]!.tsUs - first) / 1e6,
      actedAfterS: a === -1 ? null : (rs[a]!.tsUs - first) / 1e6,
      detectors: [...new Set(rs.flatMap(decidingDetectors))].sort(),
    });
  }
  return out;
}

export function figures(records: readonly ReplayRecord[], summary: ReplaySummary): Figures {
  const callers = [...callerOutcomes(records).values()];
  const flagged = callers.filter((c) => c.flaggedAt !== null);
  const acted = callers.filter((c) => c.actedAt !== null);
  const byDetector: Record<string, number> = {};
  for (const c of flagged) for (const d of c.detectors) byDetector[d] = (byDetector[d] ?? 0) + 1;
  return {
    requests: summary.requests,
    responses: summary.responses,
    exchanges: summary.exchanges,
    problems: summary.problems.total,
    callers: callers.length,
    flagged: flagged.length,
    acted: acted.length,
    byDetector,
    medianRequestsToFlag: median(flagged.map((c) => c.flaggedAt!)),
    medianSecondsToFlag: median(flagged.map((c) => c.flaggedAfterS!)),
    medianRequestsToAct: median(acted.map((c) => c.actedAt!)),
    medianSecondsToAct: median(acted.map((c) => c.actedAfterS!)),
    missedRequests: callers.filter((c) => c.flaggedAt === null).map((c) => c.requests).sort((a, b) => b - a),
    exchangesPerSecond: summary.timing.exchangesPerSecond,
    elapsedMs: summary.timing.elapsedMs,
  };
}
