/**
 * What a replay found and decided, as numbers: the `--json` output and the source of the human report
 * and of `--expect`. Actions are what vigil decided, enforced or shadowed alike (so the same summary
 * answers "what would enforcement do" under --shadow); `enforced`/`shadowed` split them.
 */
import type { Action } from '../decision/types.js';
import { byCaller, force } from './record.js';
import type { ReplayRecord } from './record.js';
import type { Problem, ReplayInput } from './types.js';

export type ActionCounts = Record<Action | 'error', number>;

export interface FlaggedCaller {
  /** The identity pseudonym (`ip:…`, `jwt:…`), or `ip <address>` when the target did not say. */
  identity: string;
  identityKind: string | null;
  /** The client IP of its first flagged request. */
  clientIp: string;
  /** Distinct client IPs it came from. */
  clientIps: number;
  firstFlagged: {
    time: string;
    /** Position in the whole replay, 0-based. */
    index: number;
    /** Which of this caller's own requests it was, 1-based. */
    request: number;
    action: Action;
  };
  /** The strongest action it got. */
  strongest: Action;
  detectors: string[];
  requests: number;
  flaggedRequests: number;
  actions: ActionCounts;
}

export interface InputSummary {
  file: string;
  kind: ReplayInput['kind'];
  requests: number;
  responses: number;
  exchanges: number;
  udpHttpRequests: number;
  problems: number;
}

export interface ReplaySummary {
  inputs: InputSummary[];
  /** HTTP requests found in all inputs. */
  requests: number;
  /** HTTP responses found. */
  responses: number;
  /** Exchanges replayed (each request, with its response when one was found). */
  exchanges: number;
  actions: ActionCounts;
  enforced: ActionCounts;
  shadowed: ActionCounts;
  /** Exchanges each detector was behind, by action. */
  detectors: Record<string, Partial<ActionCounts>>;
  /** Exchanges vigil did not score, by reason (static endpoints, allowlist). */
  unscored: Record<string, number>;
  /** Decisions made without the store (should be 0 in-process). */
  failOpen: number;
  /** Exchanges vigil decided nothing for (action 'error'), by why (src/envoy-sim/failure.ts). */
  errors: Record<string, number>;
  problems: { total: number; byKind: Record<string, number>; first: Problem[] };
  callers: number;
  flagged: FlaggedCaller[];
  policy: { source: string; checksum: string } | null;
  shadow: boolean;
  mode: 'in-process' | 'target';
  timing: { firstRequest: string | null; lastRequest: string | null; captureSeconds: number; elapsedMs: number; exchangesPerSecond: number };
}

export function emptyActions(): ActionCounts {
  return { allow: 0, tag: 0, throttle: 0, challenge: 0, block: 0, error: 0 };
}

export const isoOf = (tsUs: number): string => new Date(Math.floor(tsUs / 1000)).toISOString();

export interface SummaryContext {
  inputs: ReplayInput[];
  records: readonly ReplayRecord[];
  elapsedMs: number;
  policy: { source: string; checksum: string } | null;
  shadow: boolean;
  mode: ReplaySummary['mode'];
}

export function summarize(ctx: SummaryContext): ReplaySummary {
  const { inputs, records } = ctx;
  const actions = emptyActions();
  const enforced = emptyActions();
  const shadowed = emptyActions();
  const detectors: ReplaySummary['detectors'] = {};
  const unscored: Record<string, number> = {};
  let failOpen = 0;
  const errors: Record<string, number> = {};
  for (const r of records) {
    if (r.error !== null) errors[r.error] = (errors[r.error] ?? 0) + 1;
    actions[r.action]++;
    if (r.action !== 'allow' && r.action !== 'error') (r.enforced ? enforced : shadowed)[r.action]++;
    for (const d of r.detectors) {
      const c = (detectors[d] ??= {});
      c[r.action] = (c[r.action] ?? 0) + 1;
    }
    if (r.unscored) unscored[r.unscored] = (unscored[r.unscored] ?? 0) + 1;
    if (r.failOpen) failOpen++;
  }
  const callers = byCaller(records);
  const flagged: FlaggedCaller[] = [];
  for (const [identity, rs] of callers) {
    const firstAt = rs.findIndex((r) => force(r.action) > 0);
    if (firstAt === -1) continue;
    const first = rs[firstAt]!;
    const counts = emptyActions();
    for (const r of rs) counts[r.action]++;
    const strongest = rs.reduce<Action>((s, r) => (force(r.action) > force(s) ? (r.action as Action) : s), 'allow');
    flagged.push({
      identity,
      identityKind: first.identity?.kind ?? null,
      clientIp: first.clientIp,
      clientIps: new Set(rs.map((r) => r.clientIp)).size,
      firstFlagged: { time: isoOf(first.tsUs), index: first.i, request: firstAt + 1, action: first.action as Action },
      strongest,
      detectors: [...new Set(rs.flatMap((r) => r.detectors))].sort(),
      requests: rs.length,
      flaggedRequests: rs.filter((r) => force(r.action) > 0).length,
      actions: counts,
    });
  }
  flagged.sort((a, b) => force(b.strongest) - force(a.strongest) || b.flaggedRequests - a.flaggedRequests || a.firstFlagged.index - b.firstFlagged.index);

  const allProblems = inputs.flatMap((i) => i.problems.map((p) => ({ ...p, detail: `${i.file}: ${p.detail}` })));
  const byKind: Record<string, number> = {};
  for (const p of allProblems) byKind[p.kind] = (byKind[p.kind] ?? 0) + 1;
  const first = records[0];
  const last = records[records.length - 1];
  const captureSeconds = first && last ? (last.tsUs - first.tsUs) / 1e6 : 0;
  return {
    inputs: inputs.map((i) => ({
      file: i.file,
      kind: i.kind,
      requests: i.requests,
      responses: i.responses,
      exchanges: i.exchanges.length,
      udpHttpRequests: i.udpHttpRequests,
      problems: i.problems.length,
    })),
    requests: inputs.reduce((n, i) => n + i.requests, 0),
    responses: inputs.reduce((n, i) => n + i.responses, 0),
    exchanges: records.length,
    actions,
    enforced,
    shadowed,
    detectors,
    unscored,
    failOpen,
    errors,
    problems: { total: allProblems.length, byKind, first: allProblems.slice(0, 20) },
    callers: callers.size,
    flagged,
    policy: ctx.policy,
    shadow: ctx.shadow,
    mode: ctx.mode,
    timing: {
      firstRequest: first ? isoOf(first.tsUs) : null,
      lastRequest: last ? isoOf(last.tsUs) : null,
      captureSeconds: Math.round(captureSeconds * 1000) / 1000,
      elapsedMs: Math.round(ctx.elapsedMs),
      exchangesPerSecond: ctx.elapsedMs > 0 ? Math.round((records.length / ctx.elapsedMs) * 1000) : 0,
    },
  };
}
