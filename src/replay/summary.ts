/**
 * What a replay found and decided, as numbers: the `--json` output and the source of the human report.
 * `actions` counts each exchange once under what vigil decided, enforced or shadowed alike (record.ts
 * `decided`: so the same summary answers "what would enforcement do" under --shadow); `enforced`
 * counts what was enforced and `shadowed` what was shadowed, so an exchange throttled by a penalty
 * while a stronger shadow detector would have blocked it is in both.
 */
import type { Action } from '../decision/types.js';
import { byCaller, decided, force } from './record.js';
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
  /** The strongest action decided for it, enforced or shadowed. */
  strongest: Action;
  /** The strongest action enforced on it ('allow' when only shadowed). */
  strongestEnforced: Action;
  /** Detectors behind its decisions, enforced or shadowed. */
  detectors: string[];
  requests: number;
  /** Its requests with a non-allow decision, enforced or shadowed. */
  flaggedRequests: number;
  /** Its requests by decided action (as the summary's `actions`). */
  actions: ActionCounts;
  /** Its requests by enforced action, and by shadowed action (as the summary's). */
  enforced: ActionCounts;
  shadowed: ActionCounts;
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
  /** Each exchange once, by what vigil decided (enforced or shadowed: the stronger). */
  actions: ActionCounts;
  /** Exchanges by the action enforced on them (non-allow only). */
  enforced: ActionCounts;
  /** Exchanges by the stronger action that was shadowed on them. */
  shadowed: ActionCounts;
  /** Exchanges each detector was behind, by the action it gave (enforced or shadowed). */
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
  const behind = (names: readonly string[], action: Action | 'error') => {
    for (const d of names) {
      const c = (detectors[d] ??= {});
      c[action] = (c[action] ?? 0) + 1;
    }
  };
  for (const r of records) {
    if (r.error !== null) errors[r.error] = (errors[r.error] ?? 0) + 1;
    actions[decided(r)]++;
    if (r.enforced) enforced[r.action]++;
    if (r.shadowAction) shadowed[r.shadowAction]++;
    behind(r.detectors, r.action);
    if (r.shadowAction) behind(r.shadowDetectors.filter((d) => !r.detectors.includes(d)), r.shadowAction);
    if (r.unscored) unscored[r.unscored] = (unscored[r.unscored] ?? 0) + 1;
    if (r.failOpen) failOpen++;
  }
  const callers = byCaller(records);
  const flagged: FlaggedCaller[] = [];
  for (const [identity, rs] of callers) {
    const firstAt = rs.findIndex((r) => force(decided(r)) > 0);
    if (firstAt === -1) continue;
    const first = rs[firstAt]!;
    const counts = emptyActions();
    const enforcedOn = emptyActions();
    const shadowedOn = emptyActions();
    for (const r of rs) {
      counts[decided(r)]++;
      if (r.enforced) enforcedOn[r.action]++;
      if (r.shadowAction) shadowedOn[r.shadowAction]++;
    }
    const strongestOf = (of: (r: ReplayRecord) => Action | 'error') => rs.reduce<Action>((s, r) => (force(of(r)) > force(s) ? (of(r) as Action) : s), 'allow');
    flagged.push({
      identity,
      identityKind: first.identity?.kind ?? null,
      clientIp: first.clientIp,
      clientIps: new Set(rs.map((r) => r.clientIp)).size,
      firstFlagged: { time: isoOf(first.tsUs), index: first.i, request: firstAt + 1, action: decided(first) as Action },
      strongest: strongestOf(decided),
      strongestEnforced: strongestOf((r) => r.action),
      detectors: [...new Set(rs.flatMap((r) => [...r.detectors, ...r.shadowDetectors]))].sort(),
      requests: rs.length,
      flaggedRequests: rs.filter((r) => force(decided(r)) > 0).length,
      actions: counts,
      enforced: enforcedOn,
      shadowed: shadowedOn,
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
